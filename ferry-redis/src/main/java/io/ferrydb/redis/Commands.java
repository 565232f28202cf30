package io.ferrydb.redis;

import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The command table: name → arity and implementation. Arity follows Redis's
 * convention (n: exactly n words including the name; -n: at least n), and every
 * refusal uses Redis's own wording, so clients react to FerryDB as they do to Redis.
 */
final class Commands {
    /** Answered OK, then the connection closes. */
    static final Reply QUIT_REPLY = new Reply.Simple("OK");

    interface Impl {
        /** A {@link Reply} or a {@code CompletableFuture<Reply>}. */
        Object run(RedisConnection c, byte[][] args);
    }

    record Spec(String name, int arity, boolean write, Impl impl) {
        boolean arityOk(int n) {
            return arity >= 0 ? n == arity : n >= -arity;
        }
    }

    private final Map<String, Spec> table = new HashMap<>();
    private final RedisMetrics metrics;
    private final String password;

    Commands(RedisMetrics metrics, String password) {
        this.metrics = metrics;
        this.password = password;
    }

    void add(String name, int arity, boolean write, Impl impl) {
        table.put(name, new Spec(name, arity, write, impl));
    }

    Map<String, Spec> table() {
        return table;
    }

    Object run(RedisConnection c, byte[][] args) {
        String name = lower(args[0]);
        Spec spec = table.get(name);
        metrics.command(spec == null ? "unknown" : name);
        if (spec == null) {
            return refuse(c, unknownCommand(args));
        }
        if (!c.authenticated && !name.equals("auth") && !name.equals("hello") && !name.equals("quit")) {
            return refuse(c, "NOAUTH Authentication required.");
        }
        if (!spec.arityOk(args.length)) {
            return refuse(c, wrongArity(name));
        }
        if (c.queued != null && !Transactions.IMMEDIATE.contains(name)) {
            c.queued.add(args);
            return Transactions.QUEUED;
        }
        return spec.impl().run(c, args);
    }

    /** Runs a command checked when it was queued (EXEC). */
    Object invoke(RedisConnection c, byte[][] args) {
        return table.get(lower(args[0])).impl().run(c, args);
    }

    /** A refusal before the command runs; inside MULTI it also dooms the transaction (EXECABORT), as in Redis. */
    private static Reply refuse(RedisConnection c, String message) {
        if (c.queued != null) {
            c.queueFailed = true;
        }
        return Reply.error(message);
    }

    static String wrongArity(String fullName) {
        return "ERR wrong number of arguments for '" + fullName + "' command";
    }

    /** Redis 7's text: the name and the first arguments, each quoted and followed by a space, within 128 bytes. */
    static String unknownCommand(byte[][] args) {
        StringBuilder shown = new StringBuilder();
        for (int i = 1; i < args.length && shown.length() < 128; i++) {
            String a = RedisValues.text(args[i]);
            int room = 128 - shown.length();
            shown.append('\'').append(a, 0, Math.min(a.length(), room)).append("' ");
        }
        String cmd = RedisValues.text(args[0]);
        return "ERR unknown command '" + (cmd.length() > 128 ? cmd.substring(0, 128) : cmd) + "', with args beginning with: " + shown;
    }

    static String unknownSubcommand(byte[][] args) {
        String sub = RedisValues.text(args[1]);
        return "ERR unknown subcommand '" + (sub.length() > 128 ? sub.substring(0, 128) : sub) + "'. Try "
                + RedisValues.text(args[0]).toUpperCase(Locale.ROOT) + " HELP.";
    }

    static String lower(byte[] b) {
        char[] out = new char[b.length];
        for (int i = 0; i < b.length; i++) {
            int ch = b[i] & 0xFF;
            out[i] = (char) (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        return new String(out);
    }

    static boolean is(byte[] arg, String lowerWord) {
        if (arg.length != lowerWord.length()) {
            return false;
        }
        for (int i = 0; i < arg.length; i++) {
            int ch = arg[i] & 0xFF;
            if ((ch >= 'A' && ch <= 'Z' ? ch + 32 : ch) != lowerWord.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** The record key of a Redis key in the connection's db, checked against FerryDB's key limits. */
    static Key key(RedisConnection c, String namespace, byte[] raw) {
        if (raw.length == 0) {
            throw new RedisValues.RedisError("ERR empty keys are not supported by FerryDB");
        }
        if (raw.length > Limits.KEY_BYTES_MAX) {
            throw new RedisValues.RedisError("ERR key is " + raw.length + " bytes; FerryDB's limit is " + Limits.KEY_BYTES_MAX);
        }
        return Key.of(namespace, c.set, raw);
    }

    static Reply bulks(List<byte[]> items) {
        List<Reply> out = new ArrayList<>(items.size());
        for (byte[] b : items) {
            out.add(new Reply.Bulk(b));
        }
        return new Reply.Arr(out);
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    static FerryException unsupported(String what) {
        return FerryException.invalid("%s", what);
    }
}
