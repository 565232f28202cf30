package io.ferrydb.redis;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Limits;
import io.ferrydb.redis.RedisValues.RedisError;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.ferrydb.redis.RedisValues.SYNTAX;
import static io.ferrydb.redis.RedisValues.parseLong;

/** Connection, server and keyspace-wide commands. */
final class ServerCommands {
    /** The Redis version FerryDB answers to clients that check features by version. */
    static final String REDIS_VERSION = "7.0.0";

    private final RedisEndpoint endpoint;
    private final Keyspace ks;

    ServerCommands(RedisEndpoint endpoint, Keyspace ks) {
        this.endpoint = endpoint;
        this.ks = ks;
    }

    void register(Commands t) {
        t.add("ping", -1, false, (c, a) -> {
            if (a.length > 2) {
                return Reply.error(Commands.wrongArity("ping"));
            }
            return a.length == 2 ? new Reply.Bulk(a[1]) : new Reply.Simple("PONG");
        });
        t.add("echo", 2, false, (c, a) -> new Reply.Bulk(a[1]));
        t.add("quit", -1, false, (c, a) -> Commands.QUIT_REPLY);
        t.add("select", 2, false, this::select);
        t.add("auth", -2, false, this::auth);
        t.add("hello", -1, false, this::hello);
        t.add("client", -2, false, this::client);
        t.add("config", -2, false, this::config);
        t.add("command", -1, false, this::command);
        t.add("info", -1, false, (c, a) -> endpoint.info().report(c, a));
        t.add("dbsize", 1, false, (c, a) -> {
            c.unfinished = true;
            return ks.scan(c.set, 0, Limits.PARTITION_COUNT).thenApply(e -> Reply.integer(e.size()));
        });
        t.add("scan", -2, false, this::scan);
        t.add("keys", 2, false, this::keys);
        t.add("flushdb", -1, true, this::flushdb);
        t.add("wait", 3, false, this::await);
        t.add("ferry", -2, false, this::ferry);
    }

    private Reply select(RedisConnection c, byte[][] a) {
        long db = parseLong(a[1]);
        if (db < 0 || db >= endpoint.settings().databases) {
            throw new RedisError("ERR DB index is out of range");
        }
        c.select((int) db);
        return Reply.OK;
    }

    private Reply auth(RedisConnection c, byte[][] a) {
        if (a.length > 3) {
            throw new RedisError(SYNTAX);
        }
        return authenticate(c, a.length == 3 ? a[1] : null, a[a.length - 1]);
    }

    private Reply authenticate(RedisConnection c, byte[] user, byte[] password) {
        String configured = endpoint.settings().password;
        if (configured.isEmpty()) {
            if (user == null) {
                throw new RedisError("ERR AUTH <password> called without any password configured for the default user. "
                        + "Are you sure your configuration is correct?");
            }
        }
        boolean userOk = user == null || RedisValues.text(user).equals("default");
        boolean ok = userOk && (configured.isEmpty() || java.security.MessageDigest.isEqual(
                RedisValues.utf8(configured), password));
        if (!ok) {
            throw new RedisError("WRONGPASS invalid username-password pair or user is disabled.");
        }
        c.authenticated = true;
        return Reply.OK;
    }

    private Reply hello(RedisConnection c, byte[][] a) {
        int protocol = c.protocol;
        int i = 1;
        if (a.length > 1) {
            long v;
            try {
                v = parseLong(a[1]);
            } catch (RedisError e) {
                throw new RedisError("ERR Protocol version is not an integer or out of range");
            }
            if (v < 2 || v > 3) {
                throw new RedisError("NOPROTO unsupported protocol version");
            }
            protocol = (int) v;
            i = 2;
        }
        String name = null;
        for (; i < a.length; i++) {
            boolean more = i + 1 < a.length;
            if (Commands.is(a[i], "auth") && i + 2 < a.length) {
                authenticate(c, a[i + 1], a[i + 2]);
                i += 2;
            } else if (Commands.is(a[i], "setname") && more) {
                name = RedisValues.text(a[++i]);
            } else {
                throw new RedisError("ERR Syntax error in HELLO option '" + RedisValues.text(a[i]) + "'");
            }
        }
        if (!c.authenticated) {
            throw new RedisError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> "
                    + "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if (name != null) {
            c.name = checkName(name);
        }
        c.protocol = protocol;
        List<Reply> m = new ArrayList<>();
        m.add(Reply.bulk("server"));
        m.add(Reply.bulk("redis"));
        m.add(Reply.bulk("version"));
        m.add(Reply.bulk(REDIS_VERSION));
        m.add(Reply.bulk("proto"));
        m.add(Reply.integer(protocol));
        m.add(Reply.bulk("id"));
        m.add(Reply.integer(c.id));
        m.add(Reply.bulk("mode"));
        m.add(Reply.bulk("standalone"));
        m.add(Reply.bulk("role"));
        m.add(Reply.bulk("master"));
        m.add(Reply.bulk("modules"));
        m.add(Reply.EMPTY_ARRAY);
        return new Reply.MapReply(m);
    }

    private static String checkName(String name) {
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            if (ch < '!' || ch > '~') {
                throw new RedisError("ERR Client names cannot contain spaces, newlines or special characters.");
            }
        }
        return name;
    }

    private Reply client(RedisConnection c, byte[][] a) {
        String sub = Commands.lower(a[1]);
        switch (sub) {
            case "setname" -> {
                if (a.length != 3) {
                    throw new RedisError(Commands.wrongArity("client|setname"));
                }
                c.name = checkName(RedisValues.text(a[2]));
                return Reply.OK;
            }
            case "getname" -> {
                if (a.length != 2) {
                    throw new RedisError(Commands.wrongArity("client|getname"));
                }
                return c.name.isEmpty() ? Reply.NULL : Reply.bulk(c.name);
            }
            case "id" -> {
                if (a.length != 2) {
                    throw new RedisError(Commands.wrongArity("client|id"));
                }
                return Reply.integer(c.id);
            }
            case "setinfo" -> {
                // Client libraries announce their name and version; accepted and not kept.
                if (a.length != 4) {
                    throw new RedisError(Commands.wrongArity("client|setinfo"));
                }
                return Reply.OK;
            }
            case "info" -> {
                return new Reply.Verbatim(clientLine(c) + "\n");
            }
            case "list" -> {
                StringBuilder sb = new StringBuilder();
                for (RedisConnection other : endpoint.connections()) {
                    sb.append(clientLine(other)).append('\n');
                }
                return new Reply.Verbatim(sb.toString());
            }
            default -> throw new RedisError(Commands.unknownSubcommand(a));
        }
    }

    private static String clientLine(RedisConnection c) {
        return "id=" + c.id + " addr=" + c.remoteAddress() + " name=" + c.name + " age="
                + (System.currentTimeMillis() - c.createdAtMs) / 1000 + " db=" + c.db + " resp=" + c.protocol;
    }

    /** What CONFIG GET answers: what redis-benchmark and redis-cli ask at start, with FerryDB's truth where there is one. */
    private Map<String, String> configValues() {
        Map<String, String> m = new TreeMap<>();
        m.put("save", "");
        m.put("appendonly", "no");
        m.put("appendfsync", "everysec");
        m.put("databases", Integer.toString(endpoint.settings().databases));
        m.put("maxmemory", "0");
        m.put("maxmemory-policy", "noeviction");
        m.put("port", Integer.toString(endpoint.port()));
        m.put("bind", endpoint.host());
        m.put("timeout", "0");
        m.put("requirepass", endpoint.settings().password.isEmpty() ? "" : "********");
        m.put("cluster-enabled", "no");
        m.put("proto-max-bulk-len", Integer.toString(RespDecoder.MAX_BULK_BYTES));
        return m;
    }

    /** Parameters Redis itself refuses to change at run time ("can't set immutable config"). */
    private static final java.util.Set<String> IMMUTABLE_CONFIG = java.util.Set.of("databases", "cluster-enabled");

    private Reply config(RedisConnection c, byte[][] a) {
        String sub = Commands.lower(a[1]);
        if (sub.equals("set")) {
            return configSet(a);
        }
        if (!sub.equals("get")) {
            throw new RedisError(Commands.unknownSubcommand(a));
        }
        if (a.length < 3) {
            throw new RedisError(Commands.wrongArity("config|get"));
        }
        Map<String, String> values = configValues();
        List<Reply> kv = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 2; i < a.length; i++) {
            String pattern = Commands.lower(a[i]);
            for (Map.Entry<String, String> e : values.entrySet()) {
                if (Glob.matches(pattern, e.getKey()) && seen.add(e.getKey())) {
                    kv.add(Reply.bulk(e.getKey()));
                    kv.add(Reply.bulk(e.getValue()));
                }
            }
        }
        return new Reply.MapReply(kv);
    }

    /**
     * CONFIG SET name value [name value ...]: the parameters CONFIG GET answers, each only
     * with the value it already has (test tools send {@code save ""} or
     * {@code appendonly no}); FerryDB changes none of them through Redis. Refusals in
     * Redis's order and words: the first unknown or repeated name (immutable ones as
     * Redis's), then the values; nothing is set unless every pair is accepted.
     */
    private Reply configSet(byte[][] a) {
        if (a.length < 4) {
            throw new RedisError(Commands.wrongArity("config|set"));
        }
        if (a.length % 2 != 0) {
            throw new RedisError(SYNTAX);
        }
        Map<String, String> values = configValues();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 2; i < a.length; i += 2) {
            String name = Commands.lower(a[i]);
            String given = RedisValues.text(a[i]);
            if (!values.containsKey(name)) {
                throw new RedisError("ERR Unknown option or number of arguments for CONFIG SET - '" + given + "'");
            }
            if (IMMUTABLE_CONFIG.contains(name)) {
                throw configSetFailed(given, "can't set immutable config");
            }
            if (!seen.add(name)) {
                throw configSetFailed(given, "duplicate parameter");
            }
        }
        for (int i = 2; i < a.length; i += 2) {
            if (!values.get(Commands.lower(a[i])).equalsIgnoreCase(RedisValues.text(a[i + 1]))) {
                throw configSetFailed(RedisValues.text(a[i]), "FerryDB does not change this through CONFIG SET");
            }
        }
        return Reply.OK;
    }

    private static RedisError configSetFailed(String name, String why) {
        return new RedisError("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + why);
    }

    private Reply command(RedisConnection c, byte[][] a) {
        Map<String, Commands.Spec> table = endpoint.commands().table();
        if (a.length == 1) {
            List<Reply> all = new ArrayList<>();
            for (Commands.Spec s : new TreeMap<>(table).values()) {
                all.add(commandInfo(s));
            }
            return new Reply.Arr(all);
        }
        switch (Commands.lower(a[1])) {
            case "count" -> {
                return Reply.integer(table.size());
            }
            case "info" -> {
                List<Reply> out = new ArrayList<>();
                for (int i = 2; i < a.length; i++) {
                    Commands.Spec s = table.get(Commands.lower(a[i]));
                    out.add(s == null ? Reply.NULL_ARRAY : commandInfo(s));
                }
                return new Reply.Arr(out);
            }
            case "docs" -> {
                // redis-cli asks for docs to show hints; no docs is a valid answer.
                return new Reply.MapReply(List.of());
            }
            case "list" -> {
                List<Reply> names = new ArrayList<>();
                for (String n : new TreeMap<>(table).keySet()) {
                    names.add(Reply.bulk(n));
                }
                return new Reply.Arr(names);
            }
            default -> throw new RedisError(Commands.unknownSubcommand(a));
        }
    }

    private static Reply commandInfo(Commands.Spec s) {
        boolean keyed = s.name().startsWith("h") || List.of("get", "set", "setnx", "setex", "psetex", "getset", "getdel", "type",
                "strlen", "append", "incr", "decr", "incrby", "decrby", "incrbyfloat", "expire", "pexpire", "expireat", "pexpireat",
                "ttl", "pttl", "persist", "mget", "mset", "msetnx", "del", "unlink", "exists").contains(s.name())
                || List.of("lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "lrange", "llen", "lindex",
                "sadd", "srem", "smembers", "sismember", "smismember", "scard").contains(s.name());
        boolean multi = List.of("mget", "del", "unlink", "exists").contains(s.name());
        boolean pairs = List.of("mset", "msetnx").contains(s.name());
        List<Reply> flags = new ArrayList<>();
        flags.add(new Reply.Simple(s.write() ? "write" : "readonly"));
        return new Reply.Arr(List.of(Reply.bulk(s.name()), Reply.integer(s.arity()), new Reply.SetReply(flags),
                Reply.integer(keyed && !s.name().equals("hello") ? 1 : 0), Reply.integer(keyed ? (multi || pairs ? -1 : 1) : 0),
                Reply.integer(keyed ? (pairs ? 2 : 1) : 0)));
    }

    /**
     * SCAN over partitions: the cursor is the next partition to visit (0: start, and 0
     * again when done). A call returns whole partitions, visiting more of them while it
     * has fewer than COUNT keys, so every key present for the whole iteration is
     * returned exactly once, whatever is written meanwhile.
     */
    private Object scan(RedisConnection c, byte[][] a) {
        long cursor;
        try {
            cursor = parseLong(a[1]);
        } catch (RedisError e) {
            throw new RedisError("ERR invalid cursor");
        }
        if (cursor < 0 || cursor >= Limits.PARTITION_COUNT) {
            // Not a cursor FerryDB issued: like Redis with an unknown cursor, the scan is over.
            return scanReply(0, List.of());
        }
        byte[] match = null;
        long count = 10;
        String type = null;
        for (int i = 2; i < a.length; i++) {
            if (i + 1 >= a.length) {
                throw new RedisError(SYNTAX);
            }
            switch (Commands.lower(a[i])) {
                case "match" -> match = a[++i];
                case "count" -> {
                    count = parseLong(a[++i]);
                    if (count < 1) {
                        throw new RedisError(SYNTAX);
                    }
                }
                case "type" -> type = Commands.lower(a[++i]);
                default -> throw new RedisError(SYNTAX);
            }
        }
        c.unfinished = true;
        byte[] pattern = match;
        String wantType = type;
        long wanted = count;
        int from = (int) cursor;
        return CompletableFuture.supplyAsync(() -> {
            List<byte[]> keys = new ArrayList<>();
            int p = from;
            int step = 1;
            int found = 0;
            while (p < Limits.PARTITION_COUNT && found < wanted) {
                int to = Math.min(Limits.PARTITION_COUNT, p + step);
                List<Keyspace.Entry> page = ks.scanNow(c.set, p, to);
                found += page.size();
                matching(page, pattern, wantType, keys);
                // Empty partitions are cheap locally but a round trip when forwarded: widen the step while nothing is found.
                step = page.isEmpty() ? Math.min(64, step * 2) : 1;
                p = to;
            }
            return scanReply(p >= Limits.PARTITION_COUNT ? 0 : p, keys);
        }, endpoint.scanExecutor());
    }

    /** Adds the keys of {@code entries} that match the pattern and type (null: any). */
    private static void matching(List<Keyspace.Entry> entries, byte[] pattern, String type, List<byte[]> out) {
        for (Keyspace.Entry e : entries) {
            if ((pattern == null || Glob.matches(pattern, e.key())) && (type == null || type.equals(e.view().type()))) {
                out.add(e.key());
            }
        }
    }

    /**
     * KEYS pattern: every key of the SELECTed db matching the glob, byte for byte as
     * Redis matches. Walks the whole set with the scan machinery (partitions mastered
     * here from the store, the others from their masters) on the scan pool, never on an
     * event loop; like Redis's KEYS it is meant for debugging, SCAN for production.
     */
    private Object keys(RedisConnection c, byte[][] a) {
        byte[] pattern = a[1];
        c.unfinished = true;
        return ks.scan(c.set, 0, Limits.PARTITION_COUNT).thenApply(entries -> {
            List<byte[]> keys = new ArrayList<>();
            matching(entries, pattern, null, keys);
            return Commands.bulks(keys);
        });
    }

    private static Reply scanReply(long next, List<byte[]> keys) {
        return new Reply.Arr(List.of(Reply.bulk(Long.toString(next)), Commands.bulks(keys)));
    }

    private Object flushdb(RedisConnection c, byte[][] a) {
        if (a.length > 2 || (a.length == 2 && !Commands.is(a[1], "async") && !Commands.is(a[1], "sync"))) {
            throw new RedisError(SYNTAX);
        }
        if (!endpoint.settings().flushdbEnabled) {
            throw new RedisError("ERR FLUSHDB is disabled on this node (set redis.flushdb-enabled: true to allow it)");
        }
        c.unfinished = true;
        return ks.scan(c.set, 0, Limits.PARTITION_COUNT).thenCompose(entries -> {
            List<CompletableFuture<Boolean>> deletes = new ArrayList<>();
            for (Keyspace.Entry e : entries) {
                deletes.add(ks.delete(c, Commands.key(c, ks.namespace(), e.key()), 0));
            }
            return DataCommands.all(deletes).thenApply(r -> Reply.OK);
        });
    }

    /**
     * WAIT numreplicas timeout: how many mirrors hold every write this connection made,
     * from the acknowledgements they sent (their received LSN per partition). Polled
     * every millisecond until enough or the timeout (0: no timeout).
     */
    private Object await(RedisConnection c, byte[][] a) {
        long wanted = parseLong(a[1]);
        long timeoutMs = parseLong(a[2]);
        if (timeoutMs < 0) {
            throw new RedisError("ERR timeout is negative");
        }
        int now = endpoint.replicasHolding(c);
        if (now >= wanted) {
            return Reply.integer(now);
        }
        c.unfinished = true;
        CompletableFuture<Reply> done = new CompletableFuture<>();
        long deadlineNs = timeoutMs == 0 ? Long.MAX_VALUE : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        endpoint.poll(() -> {
            int n = endpoint.replicasHolding(c);
            if (n >= wanted || System.nanoTime() >= deadlineNs || c.closed) {
                done.complete(Reply.integer(n));
                return true;
            }
            return false;
        });
        return done;
    }

    /** FERRY DURABILITY|COMMIT-LEVEL [value|DEFAULT]: this connection's write policy. */
    private Reply ferry(RedisConnection c, byte[][] a) {
        if (a.length > 3) {
            throw new RedisError(Commands.wrongArity("ferry"));
        }
        return switch (Commands.lower(a[1])) {
            case "durability" -> policy(a, Durability.class, "SYNC, ASYNC", endpoint.namespaceConfig().defaultDurability(),
                    c.durability, v -> c.durability = v);
            case "commit-level" -> policy(a, CommitLevel.class, "MASTER, ALL", endpoint.namespaceConfig().defaultCommitLevel(),
                    c.commitLevel, v -> c.commitLevel = v);
            default -> throw new RedisError(Commands.unknownSubcommand(a));
        };
    }

    /** Shows a connection's setting (its own or the namespace default) or sets it; DEFAULT goes back to the namespace's. */
    private static <E extends Enum<E>> Reply policy(byte[][] a, Class<E> type, String allowed, E namespaceDefault, E current,
                                                    java.util.function.Consumer<E> set) {
        if (a.length == 2) {
            return Reply.bulk((current == null ? namespaceDefault : current).name());
        }
        String v = RedisValues.text(a[2]).toUpperCase(Locale.ROOT);
        try {
            set.accept(v.equals("DEFAULT") ? null : Enum.valueOf(type, v));
        } catch (IllegalArgumentException e) {
            throw new RedisError("ERR " + Commands.lower(a[1]) + " must be " + allowed + " or DEFAULT, got '" + RedisValues.text(a[2]) + "'");
        }
        return Reply.OK;
    }

}
