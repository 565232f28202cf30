package io.ferrydb.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;

import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses {@code bin=value} arguments. A value is read as JSON when it is valid JSON
 * (42, 4.5, true, "text", [1,2], {"a":1}), else as a plain string. Prefixes force a
 * type: {@code str:}, {@code int:}, {@code float:}, {@code bool:}, {@code base64:}.
 */
final class ValueParser {
    private ValueParser() {}

    static Map<String, Value> bins(List<String> args) {
        Map<String, Value> out = new LinkedHashMap<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            int eq = a.indexOf('=');
            if (eq <= 0) {
                throw FerryException.invalid("bins[%d] '%s' must be NAME=VALUE", i, a);
            }
            String name = a.substring(0, eq);
            if (out.containsKey(name)) {
                throw FerryException.invalid("bins[%d] name '%s' appears twice", i, name);
            }
            out.put(name, value("bins[" + i + "] (" + name + ")", a.substring(eq + 1)));
        }
        return out;
    }

    static Value value(String field, String s) {
        try {
            if (s.startsWith("str:")) {
                return Value.of(s.substring(4));
            } else if (s.startsWith("int:")) {
                return Value.of(Long.parseLong(s.substring(4)));
            } else if (s.startsWith("float:")) {
                return Value.of(Double.parseDouble(s.substring(6)));
            } else if (s.startsWith("bool:")) {
                String b = s.substring(5);
                if (!b.equals("true") && !b.equals("false")) {
                    throw FerryException.invalid("%s: bool must be true or false, got '%s'", field, b);
                }
                return Value.of(Boolean.parseBoolean(b));
            } else if (s.startsWith("base64:")) {
                return Value.of(Base64.getDecoder().decode(s.substring(7)));
            }
        } catch (FerryException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw FerryException.invalid("%s: cannot parse '%s': %s", field, s, e.getMessage());
        }
        try {
            return fromJson(field, Output.JSON.readTree(s));
        } catch (JsonProcessingException e) {
            // Not JSON: a plain string. JSON that is not a FerryDB value (null, int64 overflow) is refused.
            return Value.of(s);
        }
    }

    static Value fromJson(String field, JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            throw FerryException.invalid("%s: null is not a value", field);
        } else if (n.isIntegralNumber()) {
            if (!n.canConvertToLong()) {
                throw FerryException.invalid("%s: integer out of int64 range", field);
            }
            return Value.of(n.longValue());
        } else if (n.isNumber()) {
            return Value.of(n.doubleValue());
        } else if (n.isBoolean()) {
            return Value.of(n.booleanValue());
        } else if (n.isTextual()) {
            return Value.of(n.textValue());
        } else if (n.isArray()) {
            List<Value> items = new ArrayList<>();
            for (JsonNode item : n) {
                items.add(fromJson(field, item));
            }
            return Value.of(items);
        } else if (n.isObject()) {
            Map<Value, Value> m = new LinkedHashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = n.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(Value.of(e.getKey()), fromJson(field, e.getValue()));
            }
            return Value.of(m);
        }
        throw FerryException.invalid("%s: unsupported JSON value", field);
    }

    static Key key(String ns, String set, String key, String keyType) {
        return switch (keyType) {
            case "string" -> Key.of(ns, set, key);
            case "long" -> {
                try {
                    yield Key.of(ns, set, Long.parseLong(key));
                } catch (NumberFormatException e) {
                    throw FerryException.invalid("KEY '%s' is not a long (--key-type long)", key);
                }
            }
            case "bytes" -> {
                try {
                    yield Key.of(ns, set, Base64.getDecoder().decode(key));
                } catch (IllegalArgumentException e) {
                    throw FerryException.invalid("KEY '%s' is not base64 (--key-type bytes)", key);
                }
            }
            default -> throw FerryException.invalid("--key-type must be string, long or bytes, got '%s'", keyType);
        };
    }
}
