package io.ferrydb.redis;

/** Redis's glob-style patterns (KEYS, SCAN MATCH, CONFIG GET): {@code * ? [abc] [^a] [a-z]} and {@code \} escapes. */
final class Glob {
    private Glob() {}

    static boolean matches(String pattern, String s) {
        return match(pattern, 0, s, 0);
    }

    /** Byte for byte, as Redis matches keys: {@code ?} is one byte, not one UTF-8 character. */
    static boolean matches(byte[] pattern, byte[] key) {
        return match(latin1(pattern), 0, latin1(key), 0);
    }

    private static String latin1(byte[] b) {
        return new String(b, java.nio.charset.StandardCharsets.ISO_8859_1);
    }

    private static boolean match(String p, int pi, String s, int si) {
        while (pi < p.length()) {
            char pc = p.charAt(pi);
            switch (pc) {
                case '*' -> {
                    while (pi + 1 < p.length() && p.charAt(pi + 1) == '*') {
                        pi++;
                    }
                    if (pi + 1 == p.length()) {
                        return true;
                    }
                    for (int k = si; k <= s.length(); k++) {
                        if (match(p, pi + 1, s, k)) {
                            return true;
                        }
                    }
                    return false;
                }
                case '?' -> {
                    if (si >= s.length()) {
                        return false;
                    }
                    si++;
                }
                case '[' -> {
                    if (si >= s.length()) {
                        return false;
                    }
                    int end = pi + 1;
                    boolean not = end < p.length() && p.charAt(end) == '^';
                    if (not) {
                        end++;
                    }
                    boolean hit = false;
                    char c = s.charAt(si);
                    while (end < p.length() && p.charAt(end) != ']') {
                        if (p.charAt(end) == '\\' && end + 1 < p.length()) {
                            end++;
                            hit |= p.charAt(end) == c;
                        } else if (end + 2 < p.length() && p.charAt(end + 1) == '-') {
                            // As Redis: "[a-]" is the range a..']' (the class is then unterminated).
                            char lo = (char) Math.min(p.charAt(end), p.charAt(end + 2));
                            char hi = (char) Math.max(p.charAt(end), p.charAt(end + 2));
                            hit |= c >= lo && c <= hi;
                            end += 2;
                        } else {
                            hit |= p.charAt(end) == c;
                        }
                        end++;
                    }
                    if (hit == not) {
                        return false;
                    }
                    pi = end;
                    si++;
                }
                case '\\' -> {
                    if (pi + 1 < p.length()) {
                        pi++;
                    }
                    if (si >= s.length() || p.charAt(pi) != s.charAt(si)) {
                        return false;
                    }
                    si++;
                }
                default -> {
                    if (si >= s.length() || pc != s.charAt(si)) {
                        return false;
                    }
                    si++;
                }
            }
            pi++;
        }
        return si == s.length();
    }
}
