package io.ferrydb.api;

import java.nio.charset.StandardCharsets;

/**
 * Validation of namespace, set and bin names. Names are UTF-8, non-empty, bounded,
 * and free of control characters; that last rule keeps the digest input unambiguous
 * (the key-type byte that follows the set name is a control character).
 */
public final class Names {
    private Names() {}

    public static void checkNamespace(String field, String name) {
        check(field, name, Limits.NAMESPACE_NAME_MAX_BYTES);
    }

    public static void checkSet(String field, String name) {
        check(field, name, Limits.SET_NAME_MAX_BYTES);
    }

    public static void checkBin(String field, String name) {
        check(field, name, Limits.BIN_NAME_MAX_BYTES);
    }

    private static void check(String field, String name, int maxBytes) {
        if (name == null || name.isEmpty()) {
            throw FerryException.invalid("%s must not be empty", field);
        }
        int bytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > maxBytes) {
            throw FerryException.invalid("%s '%s' is %d bytes; the limit is %d", field, abbreviate(name), bytes, maxBytes);
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isISOControl(c)) {
                throw FerryException.invalid("%s contains control character 0x%02x at index %d", field, (int) c, i);
            }
            // A lone surrogate would be stored as '?', letting two names share a digest.
            if (Character.isHighSurrogate(c) && i + 1 < name.length() && Character.isLowSurrogate(name.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw FerryException.invalid("%s contains an unpaired UTF-16 surrogate at index %d", field, i);
            }
        }
    }

    static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
