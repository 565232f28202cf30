package io.ferrydb.redis;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.redis.Keyspace.Delete;
import io.ferrydb.redis.Keyspace.Put;
import io.ferrydb.redis.Keyspace.Step;
import io.ferrydb.redis.RedisValues.RedisError;
import io.ferrydb.redis.RedisValues.View;
import io.ferrydb.server.service.RequestHandler;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

import static io.ferrydb.redis.Keyspace.EXPIRY_KEEP;
import static io.ferrydb.redis.Keyspace.EXPIRY_NEVER;
import static io.ferrydb.redis.RedisValues.NOT_FLOAT;
import static io.ferrydb.redis.RedisValues.NOT_INTEGER;
import static io.ferrydb.redis.RedisValues.SYNTAX;
import static io.ferrydb.redis.RedisValues.parseLong;

/** Strings, keys, expiry and hashes: each command reads or writes through the {@link Keyspace}. */
final class DataCommands {
    private final Keyspace ks;
    private final LongSupplier clockMs;

    DataCommands(Keyspace ks, LongSupplier clockMs) {
        this.ks = ks;
        this.clockMs = clockMs;
    }

    void register(Commands t) {
        t.add("get", 2, false, this::get);
        t.add("set", -3, true, this::set);
        t.add("setnx", 3, true, (c, a) -> setIf(c, a[1], a[2], RecordExistsAction.CREATE_ONLY, EXPIRY_NEVER, Reply.ONE, Reply.ZERO));
        t.add("setex", 4, true, (c, a) -> setex(c, a, 1000));
        t.add("psetex", 4, true, (c, a) -> setex(c, a, 1));
        t.add("getset", 3, true, (c, a) -> swap(c, a[1], a[2]));
        t.add("getdel", 2, true, this::getdel);
        t.add("mget", -2, false, this::mget);
        t.add("mset", -3, true, this::mset);
        t.add("msetnx", -3, true, this::msetnx);
        t.add("del", -2, true, this::del);
        t.add("unlink", -2, true, this::del);
        t.add("exists", -2, false, this::exists);
        t.add("type", 2, false, (c, a) -> read(c, a[1], v -> new Reply.Simple(v == null ? "none" : v.type())));
        t.add("strlen", 2, false, (c, a) -> read(c, a[1], v -> Reply.integer(v == null ? 0 : v.string().length)));
        t.add("append", 3, true, this::append);
        t.add("incr", 2, true, (c, a) -> incrBy(c, a[1], 1));
        t.add("decr", 2, true, (c, a) -> incrBy(c, a[1], -1));
        t.add("incrby", 3, true, (c, a) -> incrBy(c, a[1], parseLong(a[2])));
        t.add("decrby", 3, true, (c, a) -> {
            long by = parseLong(a[2]);
            if (by == Long.MIN_VALUE) {
                throw new RedisError("ERR decrement would overflow");
            }
            return incrBy(c, a[1], -by);
        });
        t.add("incrbyfloat", 3, true, this::incrByFloat);
        t.add("expire", -3, true, (c, a) -> expire(c, a, 1000, false));
        t.add("pexpire", -3, true, (c, a) -> expire(c, a, 1, false));
        t.add("expireat", -3, true, (c, a) -> expire(c, a, 1000, true));
        t.add("pexpireat", -3, true, (c, a) -> expire(c, a, 1, true));
        t.add("ttl", 2, false, (c, a) -> ttl(c, a[1], 1000));
        t.add("pttl", 2, false, (c, a) -> ttl(c, a[1], 1));
        t.add("persist", 2, true, this::persist);
        t.add("hset", -4, true, (c, a) -> hset(c, a, "hset", false));
        t.add("hmset", -4, true, (c, a) -> hset(c, a, "hmset", true));
        t.add("hsetnx", 4, true, this::hsetnx);
        t.add("hget", 3, false, (c, a) -> read(c, a[1], v -> new Reply.Bulk(hashValue(v, a[2]))));
        t.add("hmget", -3, false, this::hmget);
        t.add("hgetall", 2, false, (c, a) -> read(c, a[1], v -> hgetall(v)));
        t.add("hdel", -3, true, this::hdel);
        t.add("hlen", 2, false, (c, a) -> read(c, a[1], v -> Reply.integer(v == null ? 0 : v.hash().size())));
        t.add("hexists", 3, false, (c, a) -> read(c, a[1], v -> Reply.integer(hashValue(v, a[2]) == null ? 0 : 1)));
        t.add("hkeys", 2, false, (c, a) -> read(c, a[1], v -> hashPart(v, true)));
        t.add("hvals", 2, false, (c, a) -> read(c, a[1], v -> hashPart(v, false)));
        t.add("hincrby", 4, true, this::hincrby);
        t.add("hincrbyfloat", 4, true, this::hincrbyfloat);
    }

    private Key key(RedisConnection c, byte[] raw) {
        return Commands.key(c, ks.namespace(), raw);
    }

    interface ViewReply {
        Reply apply(View v);
    }

    private Object read(RedisConnection c, byte[] rawKey, ViewReply f) {
        return ks.read(c, key(c, rawKey)).thenApply(f::apply);
    }

    // ---- strings ----

    private Object get(RedisConnection c, byte[][] a) {
        return read(c, a[1], v -> new Reply.Bulk(v == null ? null : v.string()));
    }

    private Object set(RedisConnection c, byte[][] a) {
        boolean nx = false;
        boolean xx = false;
        boolean get = false;
        long expiry = EXPIRY_NEVER;
        boolean expirySet = false;
        for (int i = 3; i < a.length; i++) {
            String opt = Commands.lower(a[i]);
            boolean hasNext = i + 1 < a.length;
            switch (opt) {
                case "nx" -> {
                    if (xx) {
                        throw new RedisError(SYNTAX);
                    }
                    nx = true;
                }
                case "xx" -> {
                    if (nx) {
                        throw new RedisError(SYNTAX);
                    }
                    xx = true;
                }
                case "get" -> get = true;
                case "keepttl" -> {
                    if (expirySet) {
                        throw new RedisError(SYNTAX);
                    }
                    expirySet = true;
                    expiry = EXPIRY_KEEP;
                }
                case "ex", "px", "exat", "pxat" -> {
                    if (expirySet || !hasNext) {
                        throw new RedisError(SYNTAX);
                    }
                    expirySet = true;
                    expiry = expiryAt(parseLong(a[++i]), opt.startsWith("p") ? 1 : 1000, opt.endsWith("at"), "set");
                }
                default -> throw new RedisError(SYNTAX);
            }
        }
        byte[] value = a[2];
        if (get) {
            boolean onlyNew = nx;
            boolean onlyOld = xx;
            long exp = expiry;
            return ks.mutate(c, key(c, a[1]), cur -> {
                byte[] old = cur == null ? null : cur.string();
                boolean write = !(onlyNew && cur != null) && !(onlyOld && cur == null);
                return new Step(new Reply.Bulk(old), write ? new Put(RedisValues.stringBins(value), exp) : null);
            });
        }
        RecordExistsAction exists = nx ? RecordExistsAction.CREATE_ONLY : xx ? RecordExistsAction.REPLACE_ONLY : RecordExistsAction.REPLACE;
        return setIf(c, a[1], value, exists, expiry, Reply.OK, Reply.NULL);
    }

    /** A blind string write; {@code refused} answers a create-only or replace-only write whose condition failed. */
    private Object setIf(RedisConnection c, byte[] rawKey, byte[] value, RecordExistsAction exists, long expiry, Reply ok, Reply refused) {
        CompletableFuture<Void> w = ks.put(c, key(c, rawKey), RedisValues.stringBins(value), exists, 0, expiry);
        return w.handle((v, e) -> {
            if (e == null) {
                return ok;
            }
            FerryException fe = RequestHandler.failure(e);
            if (fe.code() == ErrorCode.ALREADY_EXISTS || fe.code() == ErrorCode.NOT_FOUND) {
                return refused;
            }
            return RedisConnection.errorReply(fe);
        });
    }

    private Object setex(RedisConnection c, byte[][] a, long unitMs) {
        String name = unitMs == 1 ? "psetex" : "setex";
        long expiry = expiryAt(parseLong(a[2]), unitMs, false, name);
        return setIf(c, a[1], a[3], RecordExistsAction.REPLACE, expiry, Reply.OK, Reply.NULL);
    }

    /**
     * An absolute expiry in epoch ms from a relative or absolute time in the given unit;
     * Redis's refusal for non-positive or overflowing times.
     */
    long expiryAt(long amount, long unitMs, boolean absolute, String command) {
        String invalid = "ERR invalid expire time in '" + command + "' command";
        if (amount <= 0 && !absolute) {
            throw new RedisError(invalid);
        }
        if (amount > Long.MAX_VALUE / unitMs) {
            throw new RedisError(invalid);
        }
        long ms = amount * unitMs;
        if (absolute) {
            if (ms <= 0) {
                throw new RedisError(invalid);
            }
            return ms;
        }
        long now = clockMs.getAsLong();
        if (ms > Long.MAX_VALUE - now) {
            throw new RedisError(invalid);
        }
        return now + ms;
    }

    private Object swap(RedisConnection c, byte[] rawKey, byte[] value) {
        return ks.mutate(c, key(c, rawKey), cur -> new Step(new Reply.Bulk(cur == null ? null : cur.string()),
                new Put(RedisValues.stringBins(value), EXPIRY_NEVER)));
    }

    private Object getdel(RedisConnection c, byte[][] a) {
        return ks.mutate(c, key(c, a[1]), cur -> new Step(new Reply.Bulk(cur == null ? null : cur.string()),
                cur == null ? null : new Delete()));
    }

    private Object mget(RedisConnection c, byte[][] a) {
        List<CompletableFuture<View>> reads = new ArrayList<>();
        for (int i = 1; i < a.length; i++) {
            reads.add(ks.read(c, key(c, a[i])));
        }
        return all(reads).thenApply(views -> {
            List<Reply> out = new ArrayList<>(views.size());
            for (View v : views) {
                // MGET answers nil for a key of another type, as Redis does.
                out.add(new Reply.Bulk(v == null || !v.isString() ? null : v.string()));
            }
            return (Reply) new Reply.Arr(out);
        });
    }

    private Object mset(RedisConnection c, byte[][] a) {
        if (a.length % 2 == 0) {
            return Reply.error(Commands.wrongArity(Commands.lower(a[0])));
        }
        List<Key> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        for (int i = 1; i < a.length; i += 2) {
            keys.add(key(c, a[i]));
            values.add(a[i + 1]);
        }
        return ks.putStrings(c, keys, values).thenApply(v -> Reply.OK);
    }

    /**
     * Sets every key only if none exists. The check and the writes are not one atomic
     * step across partitions: each write is create-only, so a concurrent writer can make
     * a later key fail after earlier ones were set (answered 0 then).
     */
    private Object msetnx(RedisConnection c, byte[][] a) {
        if (a.length % 2 == 0) {
            return Reply.error(Commands.wrongArity("msetnx"));
        }
        List<CompletableFuture<View>> reads = new ArrayList<>();
        for (int i = 1; i < a.length; i += 2) {
            reads.add(ks.read(c, key(c, a[i])));
        }
        return all(reads).thenCompose(views -> {
            for (View v : views) {
                if (v != null) {
                    return CompletableFuture.completedFuture(Reply.ZERO);
                }
            }
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 1; i < a.length; i += 2) {
                writes.add(ks.put(c, key(c, a[i]), RedisValues.stringBins(a[i + 1]), RecordExistsAction.CREATE_ONLY, 0, EXPIRY_NEVER));
            }
            return CompletableFuture.allOf(writes.toArray(new CompletableFuture[0])).handle((v, e) -> e == null ? Reply.ONE : Reply.ZERO);
        });
    }

    private Object del(RedisConnection c, byte[][] a) {
        List<CompletableFuture<Boolean>> deletes = new ArrayList<>();
        for (int i = 1; i < a.length; i++) {
            deletes.add(ks.delete(c, key(c, a[i]), 0));
        }
        return all(deletes).thenApply(r -> Reply.integer(r.stream().filter(b -> b).count()));
    }

    private Object exists(RedisConnection c, byte[][] a) {
        List<CompletableFuture<View>> reads = new ArrayList<>();
        for (int i = 1; i < a.length; i++) {
            reads.add(ks.read(c, key(c, a[i])));
        }
        return all(reads).thenApply(r -> Reply.integer(r.stream().filter(v -> v != null).count()));
    }

    private Object append(RedisConnection c, byte[][] a) {
        return ks.mutate(c, key(c, a[1]), cur -> {
            byte[] old = cur == null ? new byte[0] : cur.string();
            byte[] joined = new byte[old.length + a[2].length];
            System.arraycopy(old, 0, joined, 0, old.length);
            System.arraycopy(a[2], 0, joined, old.length, a[2].length);
            return new Step(Reply.integer(joined.length), new Put(RedisValues.stringBins(joined), EXPIRY_KEEP));
        });
    }

    private Object incrBy(RedisConnection c, byte[] rawKey, long by) {
        return ks.mutate(c, key(c, rawKey), cur -> {
            long old = cur == null ? 0 : parseLong(cur.string());
            long now;
            try {
                now = Math.addExact(old, by);
            } catch (ArithmeticException e) {
                throw new RedisError("ERR increment or decrement would overflow");
            }
            return new Step(Reply.integer(now), new Put(RedisValues.stringBins(Commands.ascii(Long.toString(now))), EXPIRY_KEEP));
        });
    }

    private Object incrByFloat(RedisConnection c, byte[][] a) {
        BigDecimal by = RedisValues.parseDecimal(a[2], NOT_FLOAT);
        return ks.mutate(c, key(c, a[1]), cur -> {
            BigDecimal old = cur == null ? BigDecimal.ZERO : RedisValues.parseDecimal(cur.string(), NOT_FLOAT);
            String now = RedisValues.formatDouble(old.add(by));
            return new Step(Reply.bulk(now), new Put(RedisValues.stringBins(Commands.ascii(now)), EXPIRY_KEEP));
        });
    }

    // ---- expiry ----

    private Object expire(RedisConnection c, byte[][] a, long unitMs, boolean absolute) {
        String name = Commands.lower(a[0]);
        long amount = parseLong(a[2]);
        boolean nx = false;
        boolean xx = false;
        boolean gt = false;
        boolean lt = false;
        for (int i = 3; i < a.length; i++) {
            switch (Commands.lower(a[i])) {
                case "nx" -> nx = true;
                case "xx" -> xx = true;
                case "gt" -> gt = true;
                case "lt" -> lt = true;
                default -> throw new RedisError("ERR Unsupported option " + RedisValues.text(a[i]));
            }
        }
        if (nx && (xx || gt || lt)) {
            throw new RedisError("ERR NX and XX, GT or LT options at the same time are not compatible");
        }
        if (gt && lt) {
            throw new RedisError("ERR GT and LT options at the same time are not compatible");
        }
        if (amount > Long.MAX_VALUE / unitMs || amount < Long.MIN_VALUE / unitMs) {
            throw new RedisError("ERR invalid expire time in '" + name + "' command");
        }
        long now = clockMs.getAsLong();
        long at = absolute ? amount * unitMs : amount * unitMs + now;
        if (!absolute && amount > 0 && at < now) {
            throw new RedisError("ERR invalid expire time in '" + name + "' command");
        }
        boolean onlyNx = nx;
        boolean onlyXx = xx;
        boolean onlyGt = gt;
        boolean onlyLt = lt;
        return ks.mutate(c, key(c, a[1]), cur -> {
            if (cur == null) {
                return new Step(Reply.ZERO, null);
            }
            long current = cur.expiresAtMs();
            boolean has = current != 0;
            if ((onlyNx && has) || (onlyXx && !has) || (onlyGt && (!has || at <= current)) || (onlyLt && has && at >= current)) {
                return new Step(Reply.ZERO, null);
            }
            // A time in the past deletes the key, as in Redis.
            if (at <= now) {
                return new Step(Reply.ONE, new Delete());
            }
            return new Step(Reply.ONE, new Put(rawBins(cur), at));
        });
    }

    private Object ttl(RedisConnection c, byte[] rawKey, long unitMs) {
        return read(c, rawKey, v -> {
            if (v == null) {
                return Reply.integer(-2);
            }
            if (v.expiresAtMs() == 0) {
                return Reply.integer(-1);
            }
            long left = Math.max(0, v.expiresAtMs() - clockMs.getAsLong());
            return Reply.integer(unitMs == 1 ? left : (left + 500) / 1000);
        });
    }

    private Object persist(RedisConnection c, byte[][] a) {
        return ks.mutate(c, key(c, a[1]), cur -> cur == null || cur.expiresAtMs() == 0
                ? new Step(Reply.ZERO, null)
                : new Step(Reply.ONE, new Put(rawBins(cur), EXPIRY_NEVER)));
    }

    private static List<BinValidator.NamedValue> rawBins(View v) {
        List<BinValidator.NamedValue> out = new ArrayList<>(v.bins().size());
        for (Map.Entry<String, Value> e : v.bins().entrySet()) {
            out.add(new BinValidator.NamedValue(e.getKey(), e.getValue()));
        }
        return out;
    }

    // ---- hashes ----

    private Object hset(RedisConnection c, byte[][] a, String name, boolean answerOk) {
        if (a.length % 2 != 0) {
            return Reply.error(Commands.wrongArity(name));
        }
        Map<String, Value> given = new LinkedHashMap<>();
        for (int i = 2; i < a.length; i += 2) {
            given.put(RedisValues.field(a[i]), new Value.BytesValue(a[i + 1]));
        }
        return ks.mutate(c, key(c, a[1]), cur -> {
            Map<String, Value> fields = cur == null ? new LinkedHashMap<>() : new LinkedHashMap<>(cur.hash());
            int added = 0;
            for (Map.Entry<String, Value> e : given.entrySet()) {
                if (fields.put(e.getKey(), e.getValue()) == null) {
                    added++;
                }
            }
            return new Step(answerOk ? Reply.OK : Reply.integer(added), new Put(RedisValues.hashBins(fields), EXPIRY_KEEP));
        });
    }

    private Object hsetnx(RedisConnection c, byte[][] a) {
        String field = RedisValues.field(a[2]);
        return ks.mutate(c, key(c, a[1]), cur -> {
            Map<String, Value> fields = cur == null ? new LinkedHashMap<>() : new LinkedHashMap<>(cur.hash());
            if (fields.containsKey(field)) {
                return new Step(Reply.ZERO, null);
            }
            fields.put(field, new Value.BytesValue(a[3]));
            return new Step(Reply.ONE, new Put(RedisValues.hashBins(fields), EXPIRY_KEEP));
        });
    }

    /** A field's bytes, null when the key or field is absent; WRONGTYPE for a string. */
    private static byte[] hashValue(View v, byte[] field) {
        if (v == null) {
            return null;
        }
        Value value = v.hash().get(RedisValues.text(field));
        return value == null ? null : RedisValues.bytes(value);
    }

    private Object hmget(RedisConnection c, byte[][] a) {
        return read(c, a[1], v -> {
            List<Reply> out = new ArrayList<>();
            for (int i = 2; i < a.length; i++) {
                out.add(new Reply.Bulk(hashValue(v, a[i])));
            }
            return new Reply.Arr(out);
        });
    }

    private static Reply hgetall(View v) {
        List<Reply> kv = new ArrayList<>();
        if (v != null) {
            for (Map.Entry<String, Value> e : v.hash().entrySet()) {
                kv.add(Reply.bulk(e.getKey()));
                kv.add(new Reply.Bulk(RedisValues.bytes(e.getValue())));
            }
        }
        return new Reply.MapReply(kv);
    }

    private static Reply hashPart(View v, boolean keys) {
        List<Reply> out = new ArrayList<>();
        if (v != null) {
            for (Map.Entry<String, Value> e : v.hash().entrySet()) {
                out.add(keys ? Reply.bulk(e.getKey()) : new Reply.Bulk(RedisValues.bytes(e.getValue())));
            }
        }
        return new Reply.Arr(out);
    }

    private Object hdel(RedisConnection c, byte[][] a) {
        return ks.mutate(c, key(c, a[1]), cur -> {
            if (cur == null) {
                return new Step(Reply.ZERO, null);
            }
            Map<String, Value> fields = new LinkedHashMap<>(cur.hash());
            int removed = 0;
            for (int i = 2; i < a.length; i++) {
                if (fields.remove(RedisValues.text(a[i])) != null) {
                    removed++;
                }
            }
            if (removed == 0) {
                return new Step(Reply.ZERO, null);
            }
            // A hash without fields does not exist in Redis: the record goes.
            return new Step(Reply.integer(removed), fields.isEmpty() ? new Delete() : new Put(RedisValues.hashBins(fields), EXPIRY_KEEP));
        });
    }

    private Object hincrby(RedisConnection c, byte[][] a) {
        long by = parseLong(a[3]);
        String field = RedisValues.field(a[2]);
        return ks.mutate(c, key(c, a[1]), cur -> {
            Map<String, Value> fields = cur == null ? new LinkedHashMap<>() : new LinkedHashMap<>(cur.hash());
            Value old = fields.get(field);
            long was = old == null ? 0 : parseLong(RedisValues.bytes(old), "ERR hash value is not an integer");
            long now;
            try {
                now = Math.addExact(was, by);
            } catch (ArithmeticException e) {
                throw new RedisError("ERR increment or decrement would overflow");
            }
            fields.put(field, new Value.BytesValue(Commands.ascii(Long.toString(now))));
            return new Step(Reply.integer(now), new Put(RedisValues.hashBins(fields), EXPIRY_KEEP));
        });
    }

    private Object hincrbyfloat(RedisConnection c, byte[][] a) {
        BigDecimal by = RedisValues.parseDecimal(a[3], NOT_FLOAT);
        String field = RedisValues.field(a[2]);
        return ks.mutate(c, key(c, a[1]), cur -> {
            Map<String, Value> fields = cur == null ? new LinkedHashMap<>() : new LinkedHashMap<>(cur.hash());
            Value old = fields.get(field);
            BigDecimal was = old == null ? BigDecimal.ZERO : RedisValues.parseDecimal(RedisValues.bytes(old), "ERR hash value is not a float");
            String now = RedisValues.formatDouble(was.add(by));
            fields.put(field, new Value.BytesValue(Commands.ascii(now)));
            return new Step(Reply.bulk(now), new Put(RedisValues.hashBins(fields), EXPIRY_KEEP));
        });
    }

    static <T> CompletableFuture<List<T>> all(List<CompletableFuture<T>> futures) {
        return CompletableFuture.allOf(futures.toArray(new CompletableFuture[0])).thenApply(v -> {
            List<T> out = new ArrayList<>(futures.size());
            for (CompletableFuture<T> f : futures) {
                out.add(f.join());
            }
            return out;
        });
    }
}
