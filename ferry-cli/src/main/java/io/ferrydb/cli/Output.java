package io.ferrydb.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.ferrydb.api.Hlc;
import io.ferrydb.api.Record;
import io.ferrydb.api.Value;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Text and JSON rendering shared by the commands. */
final class Output {
    private Output() {}

    static final ObjectMapper JSON = new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static void error(PrintWriter out, PrintWriter err, boolean json, String code, String message) {
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("error", Map.of("code", code, "message", message));
            out.println(json(m));
        } else {
            err.println("error: " + code + ": " + message);
        }
    }

    /** A record as plain JSON-able data; bytes become "base64:..." strings. */
    static Map<String, Object> record(Record r) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (r.key() != null) {
            m.put("namespace", r.key().namespace());
            m.put("set", r.key().set());
            Object k = r.key().userKey();
            m.put("key", k instanceof byte[] b ? "base64:" + Base64.getEncoder().encodeToString(b) : k);
            m.put("digest", r.key().digest().toHex());
        }
        m.put("generation", r.generation());
        m.put("last_update", Hlc.format(r.lastUpdateHlc()));
        m.put("expires_at_ms", r.expiresAtMs());
        Map<String, Object> bins = new LinkedHashMap<>();
        for (Map.Entry<String, Value> e : r.bins().entrySet()) {
            bins.put(e.getKey(), plain(e.getValue()));
        }
        m.put("bins", bins);
        return m;
    }

    static Object plain(Value v) {
        if (v instanceof Value.BytesValue b) {
            return "base64:" + Base64.getEncoder().encodeToString(b.unsafeBytes());
        } else if (v instanceof Value.ListValue l) {
            List<Object> out = new ArrayList<>();
            for (Value item : l.items()) {
                out.add(plain(item));
            }
            return out;
        } else if (v instanceof Value.MapValue mv) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<Value, Value> e : mv.entries().entrySet()) {
                Object k = plain(e.getKey());
                out.put(String.valueOf(k), plain(e.getValue()));
            }
            return out;
        }
        return v.toJava();
    }

    /** One line of text: {@code key gen=N bins: a=1 b="x"}. */
    static String text(Record r) {
        StringBuilder sb = new StringBuilder();
        if (r.key() != null) {
            sb.append(r.key()).append(' ');
        }
        sb.append("gen=").append(r.generation());
        if (r.expiresAtMs() != 0) {
            sb.append(" expires=").append(java.time.Instant.ofEpochMilli(r.expiresAtMs()));
        }
        for (Map.Entry<String, Value> e : r.bins().entrySet()) {
            Object p = plain(e.getValue());
            sb.append(' ').append(e.getKey()).append('=').append(p instanceof String ? json(p) : json(p));
        }
        return sb.toString();
    }
}
