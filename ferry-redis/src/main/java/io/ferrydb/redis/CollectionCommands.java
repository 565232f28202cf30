package io.ferrydb.redis;

import io.ferrydb.api.Value;
import io.ferrydb.redis.Keyspace.Delete;
import io.ferrydb.redis.Keyspace.Put;
import io.ferrydb.redis.Keyspace.Step;
import io.ferrydb.redis.RedisValues.RedisError;
import io.ferrydb.redis.RedisValues.View;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

import static io.ferrydb.redis.Keyspace.EXPIRY_KEEP;
import static io.ferrydb.redis.RedisValues.parseLong;

/**
 * Lists and sets. A list is one list bin ({@link RedisValues#LIST_BIN}), a set one map
 * bin ({@link RedisValues#SET_BIN}); every change is a read-modify-write of the whole
 * record through {@link Keyspace#mutate} (optimistic, generation-checked, forwarded to
 * the partition's master like every other command), and a list or set left empty is
 * deleted, as Redis deletes empty collections. Changes keep the key's expiry.
 */
final class CollectionCommands {
    static final String NOT_POSITIVE = "ERR value is out of range, must be positive";

    private final Keyspace ks;

    CollectionCommands(Keyspace ks) {
        this.ks = ks;
    }

    void register(Commands t) {
        t.add("lpush", -3, true, (c, a) -> push(c, a, true, false));
        t.add("rpush", -3, true, (c, a) -> push(c, a, false, false));
        t.add("lpushx", -3, true, (c, a) -> push(c, a, true, true));
        t.add("rpushx", -3, true, (c, a) -> push(c, a, false, true));
        t.add("lpop", -2, true, (c, a) -> pop(c, a, true));
        t.add("rpop", -2, true, (c, a) -> pop(c, a, false));
        t.add("lrange", 4, false, this::lrange);
        t.add("llen", 2, false, (c, a) -> read(c, a[1], v -> Reply.integer(v == null ? 0 : v.list().size())));
        t.add("lindex", 3, false, this::lindex);
        t.add("sadd", -3, true, this::sadd);
        t.add("srem", -3, true, this::srem);
        t.add("smembers", 2, false, (c, a) -> read(c, a[1], v -> members(v)));
        t.add("sismember", 3, false, (c, a) -> read(c, a[1], v -> Reply.integer(isMember(v, a[2]) ? 1 : 0)));
        t.add("smismember", -3, false, this::smismember);
        t.add("scard", 2, false, (c, a) -> read(c, a[1], v -> Reply.integer(v == null ? 0 : v.set().size())));
    }

    private Object read(RedisConnection c, byte[] rawKey, DataCommands.ViewReply f) {
        return ks.read(c, Commands.key(c, ks.namespace(), rawKey)).thenApply(f::apply);
    }

    private Object mutate(RedisConnection c, byte[] rawKey, Keyspace.Mutation m) {
        return ks.mutate(c, Commands.key(c, ks.namespace(), rawKey), m);
    }

    // ---- lists ----

    /** LPUSH/RPUSH (and the X forms, only onto an existing list): the new length. */
    private Object push(RedisConnection c, byte[][] a, boolean head, boolean onlyExisting) {
        return mutate(c, a[1], cur -> {
            if (cur == null && onlyExisting) {
                return new Step(Reply.ZERO, null);
            }
            List<byte[]> old = cur == null ? List.of() : cur.list();
            List<byte[]> now = new ArrayList<>(old.size() + a.length - 2);
            if (head) {
                // Each element goes to the head in turn, so the last given ends up first.
                for (int i = a.length - 1; i >= 2; i--) {
                    now.add(a[i]);
                }
                now.addAll(old);
            } else {
                now.addAll(old);
                for (int i = 2; i < a.length; i++) {
                    now.add(a[i]);
                }
            }
            return new Step(Reply.integer(now.size()), new Put(RedisValues.listBins(now), EXPIRY_KEEP));
        });
    }

    /**
     * LPOP/RPOP key [count]: without a count an element or nil; with one an array of up
     * to count elements in pop order, the null array for a missing key (as Redis 7).
     */
    private Object pop(RedisConnection c, byte[][] a, boolean head) {
        if (a.length > 3) {
            throw new RedisError(Commands.wrongArity(Commands.lower(a[0])));
        }
        boolean counted = a.length == 3;
        long count = counted ? parseLong(a[2], NOT_POSITIVE) : 1;
        if (count < 0) {
            throw new RedisError(NOT_POSITIVE);
        }
        return mutate(c, a[1], cur -> {
            List<byte[]> list = cur == null ? List.of() : cur.list();
            if (list.isEmpty()) {
                return new Step(counted ? Reply.NULL_ARRAY : Reply.NULL, null);
            }
            int n = (int) Math.min(count, list.size());
            List<byte[]> popped = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                popped.add(head ? list.get(i) : list.get(list.size() - 1 - i));
            }
            Reply reply = counted ? Commands.bulks(popped) : new Reply.Bulk(popped.get(0));
            if (n == 0) {
                return new Step(reply, null);
            }
            List<byte[]> rest = head ? list.subList(n, list.size()) : list.subList(0, list.size() - n);
            return new Step(reply, rest.isEmpty() ? new Delete() : new Put(RedisValues.listBins(rest), EXPIRY_KEEP));
        });
    }

    private Object lrange(RedisConnection c, byte[][] a) {
        long start = parseLong(a[2]);
        long stop = parseLong(a[3]);
        return read(c, a[1], v -> {
            List<byte[]> list = v == null ? List.of() : v.list();
            long n = list.size();
            long from = start < 0 ? Math.max(0, n + start) : start;
            long to = Math.min(n - 1, stop < 0 ? n + stop : stop);
            if (from > to || from >= n) {
                return Reply.EMPTY_ARRAY;
            }
            return Commands.bulks(list.subList((int) from, (int) to + 1));
        });
    }

    private Object lindex(RedisConnection c, byte[][] a) {
        long index = parseLong(a[2]);
        return read(c, a[1], v -> {
            List<byte[]> list = v == null ? List.of() : v.list();
            long i = index < 0 ? list.size() + index : index;
            return i < 0 || i >= list.size() ? Reply.NULL : new Reply.Bulk(list.get((int) i));
        });
    }

    // ---- sets ----

    private Object sadd(RedisConnection c, byte[][] a) {
        return mutate(c, a[1], cur -> {
            LinkedHashSet<Value.BytesValue> members = cur == null ? new LinkedHashSet<>() : cur.set();
            int added = 0;
            for (int i = 2; i < a.length; i++) {
                if (members.add(new Value.BytesValue(a[i]))) {
                    added++;
                }
            }
            return new Step(Reply.integer(added), added == 0 ? null : new Put(RedisValues.setBins(members), EXPIRY_KEEP));
        });
    }

    private Object srem(RedisConnection c, byte[][] a) {
        return mutate(c, a[1], cur -> {
            if (cur == null) {
                return new Step(Reply.ZERO, null);
            }
            LinkedHashSet<Value.BytesValue> members = cur.set();
            int removed = 0;
            for (int i = 2; i < a.length; i++) {
                if (members.remove(new Value.BytesValue(a[i]))) {
                    removed++;
                }
            }
            if (removed == 0) {
                return new Step(Reply.ZERO, null);
            }
            return new Step(Reply.integer(removed), members.isEmpty() ? new Delete() : new Put(RedisValues.setBins(members), EXPIRY_KEEP));
        });
    }

    private static Reply members(View v) {
        List<Reply> out = new ArrayList<>();
        if (v != null) {
            for (Value.BytesValue m : v.set()) {
                out.add(new Reply.Bulk(m.unsafeBytes()));
            }
        }
        return new Reply.SetReply(out);
    }

    /** Whether the set holds the member; false for a missing key, WRONGTYPE for another type. */
    private static boolean isMember(View v, byte[] member) {
        return v != null && v.set().contains(new Value.BytesValue(member));
    }

    private Object smismember(RedisConnection c, byte[][] a) {
        return read(c, a[1], v -> {
            java.util.Set<Value.BytesValue> members = v == null ? java.util.Set.of() : v.set();
            List<Reply> out = new ArrayList<>(a.length - 2);
            for (int i = 2; i < a.length; i++) {
                out.add(Reply.integer(members.contains(new Value.BytesValue(a[i])) ? 1 : 0));
            }
            return new Reply.Arr(out);
        });
    }
}
