package io.ferrydb.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import static io.ferrydb.cli.RedisIT.cmd;
import static io.ferrydb.cli.RedisIT.error;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis commands added after issue 5's first delivery, against a real node process
 * driven with Jedis: KEYS, lists, sets (and, in later tests, MULTI/EXEC and CONFIG SET).
 * Every expected reply and error text was checked against redis-server 7.0.
 */
class RedisCommandsIT {
    private static final String WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
    private static final String NOT_INTEGER = "ERR value is not an integer or out of range";

    @RegisterExtension
    static final RedisIT.Node NODE = new RedisIT.Node("c1");

    static Jedis jedis() {
        return NODE.jedis();
    }

    /** Each call is refused with WRONGTYPE. */
    private static void wrongType(Runnable... calls) {
        for (Runnable r : calls) {
            assertEquals(WRONGTYPE, error(r));
        }
    }

    @Test
    void keysMatchesGlobsInTheSelectedDb() {
        try (Jedis j = jedis()) {
            j.select(7);
            for (String k : List.of("user:1", "user:2", "user:10", "hello", "hallo", "hxllo", "a*b", "a[b")) {
                j.set(k, "v");
            }
            j.hset("user:h", "f", "v");
            j.rpush("user:l", "x");
            j.sadd("user:s", "x");
            byte[] binary = {'b', (byte) 0xff, 0, 'z'};
            j.set(binary, "v".getBytes());
            assertEquals(Set.of("user:1", "user:2", "user:10", "user:h", "user:l", "user:s"), j.keys("user:*"));
            assertEquals(Set.of("user:1", "user:2", "user:h", "user:l", "user:s"), j.keys("user:?"));
            assertEquals(Set.of("user:1", "user:2"), j.keys("user:[0-9]"));
            assertEquals(Set.of("user:1", "user:10"), j.keys("user:1*"));
            assertEquals(Set.of("hello", "hallo"), j.keys("h[ae]llo"));
            assertEquals(Set.of("hxllo", "hallo"), j.keys("h[^e]llo"));
            assertEquals(Set.of("hello", "hallo"), j.keys("h[a-e]llo"));
            assertEquals(Set.of("a*b"), j.keys("a\\*b"));
            assertEquals(Set.of("a[b"), j.keys("a\\[b"));
            assertEquals(Set.of(), j.keys("nothing*"));
            // ? is one byte, as in Redis: the binary key has 4.
            Set<byte[]> bin = j.keys("b???".getBytes());
            assertEquals(1, bin.size());
            assertArrayEquals(binary, bin.iterator().next());
            assertEquals(12, j.keys("*").size());
            // Another db is another set.
            j.select(8);
            assertEquals(Set.of(), j.keys("*"));
            j.set("user:other", "v");
            assertEquals(Set.of("user:other"), j.keys("user:*"));
            assertEquals("ERR wrong number of arguments for 'keys' command", error(() -> j.sendCommand(cmd("KEYS"))));
            // SCAN TYPE knows the new types.
            j.select(7);
            ScanResult<String> lists = j.scan("0", new ScanParams().count(10_000), "list");
            assertEquals(List.of("user:l"), lists.getResult());
            assertEquals(List.of("user:s"), j.scan("0", new ScanParams().count(10_000), "set").getResult());
        }
    }

    @Test
    void lists() {
        try (Jedis j = jedis()) {
            j.select(1);
            assertEquals(3, j.rpush("l", "a", "b", "c"));
            assertEquals(5, j.lpush("l", "y", "z"));
            assertEquals(List.of("z", "y", "a", "b", "c"), j.lrange("l", 0, -1));
            assertEquals("list", j.type("l"));
            assertEquals(5, j.llen("l"));
            assertEquals(List.of("y", "a"), j.lrange("l", 1, 2));
            assertEquals(List.of("b", "c"), j.lrange("l", -2, 100));
            assertEquals(List.of("z", "y", "a", "b", "c"), j.lrange("l", -100, 100));
            assertEquals(List.of(), j.lrange("l", 3, 1));
            assertEquals(List.of(), j.lrange("l", 5, 10));
            assertEquals(List.of(), j.lrange("missing", 0, -1));
            assertEquals("z", j.lindex("l", 0));
            assertEquals("c", j.lindex("l", -1));
            assertEquals("z", j.lindex("l", -5));
            assertNull(j.lindex("l", 5));
            assertNull(j.lindex("l", -6));
            assertNull(j.lindex("missing", 0));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("LINDEX"), "l", "x")));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("LRANGE"), "l", "0", "x")));
            assertEquals("z", j.lpop("l"));
            assertEquals("c", j.rpop("l"));
            assertEquals(List.of("y", "a"), j.lpop("l", 2));
            assertEquals(List.of(), j.lpop("l", 0));
            assertEquals(List.of("b"), j.rpop("l", 10));
            assertFalse(j.exists("l"), "an emptied list is deleted");
            assertEquals("none", j.type("l"));
            assertNull(j.lpop("l"));
            assertNull(j.rpop("l", 2), "a missing key with a count is the null array");
            assertEquals(0, j.llen("l"));
            assertEquals("ERR value is out of range, must be positive", error(() -> j.sendCommand(cmd("LPOP"), "l", "-1")));
            assertEquals("ERR value is out of range, must be positive", error(() -> j.sendCommand(cmd("RPOP"), "l", "x")));
            assertEquals("ERR wrong number of arguments for 'lpop' command", error(() -> j.sendCommand(cmd("LPOP"), "l", "1", "2")));
            assertEquals("ERR wrong number of arguments for 'rpush' command", error(() -> j.sendCommand(cmd("RPUSH"), "l")));
            // The X forms push only onto an existing list.
            assertEquals(0, j.lpushx("l", "a"));
            assertFalse(j.exists("l"));
            j.rpush("l", "b");
            assertEquals(2, j.lpushx("l", "a"));
            assertEquals(3, j.rpushx("l", "c"));
            assertEquals(List.of("a", "b", "c"), j.lrange("l", 0, -1));
            // Binary-safe elements, expiry kept by pushes and pops.
            byte[] raw = {0, (byte) 0xff, '\r', '\n'};
            j.rpush("l".getBytes(), raw);
            assertArrayEquals(raw, j.lindex("l".getBytes(), -1));
            j.expire("l", 100);
            j.rpush("l", "d");
            j.lpop("l");
            assertTrue(j.ttl("l") > 90, "TTL kept: " + j.ttl("l"));
            // WRONGTYPE both ways.
            j.set("str", "v");
            wrongType(() -> j.lpush("str", "x"),
                    () -> j.rpop("str"),
                    () -> j.lrange("str", 0, -1),
                    () -> j.llen("str"),
                    () -> j.lindex("str", 0));
            assertEquals("v", j.get("str"), "untouched");
            wrongType(() -> j.get("l"),
                    () -> j.hget("l", "f"),
                    () -> j.hset("l", "f", "v"),
                    () -> j.incr("l"),
                    () -> j.sadd("l", "m"));
            j.hset("h", "f", "v");
            wrongType(() -> j.rpush("h", "x"));
            assertNull(j.mget("l").get(0), "MGET answers nil for a list");
            assertEquals(1, j.del("l"));
            // SET replaces a key of any type, as in Redis.
            j.rpush("l3", "x");
            assertEquals("OK", j.set("l3", "s"));
            assertEquals("string", j.type("l3"));
        }
    }

    @Test
    void sets() {
        try (Jedis j = jedis()) {
            j.select(2);
            assertEquals(2, j.sadd("s", "a", "b", "a"));
            assertEquals(1, j.sadd("s", "b", "c"));
            assertEquals(0, j.sadd("s", "c"));
            assertEquals("set", j.type("s"));
            assertEquals(Set.of("a", "b", "c"), j.smembers("s"));
            assertEquals(3, j.scard("s"));
            assertTrue(j.sismember("s", "a"));
            assertFalse(j.sismember("s", "z"));
            assertFalse(j.sismember("missing", "a"));
            assertEquals(List.of(true, false, true), j.smismember("s", "a", "z", "c"));
            assertEquals(Set.of(), j.smembers("missing"));
            assertEquals(0, j.scard("missing"));
            assertEquals(2, j.srem("s", "a", "b", "zz"));
            assertEquals(0, j.srem("s", "zz"));
            assertEquals(0, j.srem("missing", "a"));
            assertEquals(1, j.srem("s", "c"));
            assertFalse(j.exists("s"), "an emptied set is deleted");
            byte[] raw = {0, (byte) 0xff};
            j.sadd("s".getBytes(), raw, "x".getBytes());
            assertTrue(j.sismember("s".getBytes(), raw));
            assertEquals(2, j.smembers("s".getBytes()).size());
            j.set("str", "v");
            wrongType(() -> j.sadd("str", "x"),
                    () -> j.srem("str", "x"),
                    () -> j.smembers("str"),
                    () -> j.sismember("str", "x"),
                    () -> j.scard("str"),
                    () -> j.get("s"),
                    () -> j.hgetAll("s"),
                    () -> j.llen("s"));
            assertEquals("ERR wrong number of arguments for 'sadd' command", error(() -> j.sendCommand(cmd("SADD"), "s")));
        }
    }

    private static String text(Object reply) {
        return reply instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(reply);
    }

    @Test
    void multiExecDiscard() {
        try (Jedis j = jedis()) {
            j.select(4);
            assertEquals("ERR EXEC without MULTI", error(() -> j.sendCommand(cmd("EXEC"))));
            assertEquals("ERR DISCARD without MULTI", error(() -> j.sendCommand(cmd("DISCARD"))));
            // Queued, then run in order: each sees the ones before; an error at EXEC is one reply, the rest still run.
            assertEquals("OK", text(j.sendCommand(cmd("MULTI"))));
            assertEquals("ERR MULTI calls can not be nested", error(() -> j.sendCommand(cmd("MULTI"))));
            assertEquals("QUEUED", text(j.sendCommand(cmd("SET"), "tx", "1")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("INCR"), "tx")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("LPUSH"), "tx", "x")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("GET"), "tx")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("RPUSH"), "txl", "a", "b")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("LPOP"), "txl")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("SELECT"), "5")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("SET"), "tx", "in5")));
            assertEquals("QUEUED", text(j.sendCommand(cmd("GET"), "tx")), "a read is queued too");
            try (Jedis other = jedis()) {
                other.select(4);
                assertNull(other.get("tx"), "nothing ran yet (queued commands do not run before EXEC)");
            }
            List<?> replies = (List<?>) j.sendCommand(cmd("EXEC"));
            assertEquals(9, replies.size(), String.valueOf(replies));
            assertEquals("OK", text(replies.get(0)));
            assertEquals(2L, replies.get(1));
            assertEquals(WRONGTYPE, ((Exception) replies.get(2)).getMessage());
            assertEquals("2", text(replies.get(3)));
            assertEquals(2L, replies.get(4));
            assertEquals("a", text(replies.get(5)));
            assertEquals("OK", text(replies.get(6)));
            assertEquals("OK", text(replies.get(7)));
            assertEquals("in5", text(replies.get(8)));
            assertEquals("in5", j.get("tx"), "SELECT inside the transaction applies to the commands after it");
            j.select(4);
            assertEquals("2", j.get("tx"));
            assertEquals(List.of("b"), j.lrange("txl", 0, -1));
            assertEquals("ERR EXEC without MULTI", error(() -> j.sendCommand(cmd("EXEC"))), "EXEC ends the transaction");
            // An empty transaction.
            j.sendCommand(cmd("MULTI"));
            assertEquals(List.of(), j.sendCommand(cmd("EXEC")));
            // DISCARD drops the queue.
            j.sendCommand(cmd("MULTI"));
            j.sendCommand(cmd("SET"), "dropped", "x");
            assertEquals("OK", text(j.sendCommand(cmd("DISCARD"))));
            assertNull(j.get("dropped"));
            // A command refused while queueing (unknown, wrong arity) is answered at once and dooms the transaction.
            String execAbort = "EXECABORT Transaction discarded because of previous errors.";
            j.sendCommand(cmd("MULTI"));
            j.sendCommand(cmd("SET"), "doomed", "x");
            assertEquals("ERR unknown command 'NOPE', with args beginning with: 'a' ", error(() -> j.sendCommand(cmd("NOPE"), "a")));
            assertEquals(execAbort, error(() -> j.sendCommand(cmd("EXEC"))));
            j.sendCommand(cmd("MULTI"));
            assertEquals("ERR wrong number of arguments for 'get' command", error(() -> j.sendCommand(cmd("GET"))));
            j.sendCommand(cmd("SET"), "doomed", "x");
            assertEquals(execAbort, error(() -> j.sendCommand(cmd("EXEC"))));
            assertNull(j.get("doomed"));
            assertEquals("ERR EXEC without MULTI", error(() -> j.sendCommand(cmd("EXEC"))));
            // Jedis's own transaction API, pipelined, with a write and a read of a list and a set.
            redis.clients.jedis.Transaction t = j.multi();
            t.rpush("txl2", "1", "2", "3");
            t.sadd("txs", "m");
            t.lrange("txl2", 0, -1);
            t.smembers("txs");
            t.del("txl2");
            List<Object> r = t.exec();
            assertEquals(List.of(3L, 1L, List.of("1", "2", "3"), Set.of("m"), 1L), r);
            assertFalse(j.exists("txl2"));
        }
    }

    /** Pipelined MULTI ... EXEC: the commands behind EXEC see its writes, answers stay in order. */
    @Test
    void pipelinedTransactions() {
        try (Jedis j = jedis()) {
            j.select(6);
            redis.clients.jedis.Pipeline p = j.pipelined();
            List<redis.clients.jedis.Response<?>> execs = new ArrayList<>();
            List<redis.clients.jedis.Response<?>> after = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                p.sendCommand(cmd("MULTI"), new String[0]);
                p.sendCommand(cmd("INCR"), "pc");
                p.sendCommand(cmd("RPUSH"), "pl", Integer.toString(i));
                execs.add(p.sendCommand(cmd("EXEC"), new String[0]));
                after.add(p.get("pc"));
            }
            p.sync();
            for (int i = 0; i < 50; i++) {
                assertEquals(List.of(i + 1L, i + 1L), execs.get(i).get());
                assertEquals(Integer.toString(i + 1), after.get(i).get());
            }
            assertEquals(50, j.llen("pl"));
        }
    }

    @Test
    void configGetAndSet() {
        try (Jedis j = jedis()) {
            // What tools ask at start.
            assertEquals(java.util.Map.of("save", "", "appendonly", "no"), j.configGet("save", "appendonly"));
            assertEquals("16", j.configGet("databases").get("databases"));
            assertEquals(java.util.Map.of("maxmemory", "0", "maxmemory-policy", "noeviction"), j.configGet("maxmemory*"));
            assertEquals(java.util.Map.of(), j.configGet("nosuch"));
            // Setting a parameter to the value it has is accepted (test tools do it) and changes nothing.
            assertEquals("OK", j.configSet("save", ""));
            assertEquals("OK", j.configSet("appendonly", "no", "SAVE", ""));
            assertEquals("ERR CONFIG SET failed (possibly related to argument 'appendonly') - FerryDB does not change this through CONFIG SET",
                    error(() -> j.configSet("appendonly", "yes")));
            assertEquals("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - FerryDB does not change this through CONFIG SET",
                    error(() -> j.configSet("save", "", "maxmemory", "100mb")));
            assertEquals("no", j.configGet("appendonly").get("appendonly"));
            // Redis's own refusals.
            assertEquals("ERR Unknown option or number of arguments for CONFIG SET - 'foo'", error(() -> j.configSet("foo", "bar")));
            assertEquals("ERR Unknown option or number of arguments for CONFIG SET - 'foo'", error(() -> j.configSet("foo", "1", "save", "", "save", "")));
            assertEquals("ERR CONFIG SET failed (possibly related to argument 'save') - duplicate parameter",
                    error(() -> j.configSet("save", "", "save", "", "foo", "1")));
            assertEquals("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
                    error(() -> j.configSet("databases", "16")));
            assertEquals("ERR wrong number of arguments for 'config|set' command", error(() -> j.sendCommand(cmd("CONFIG"), "SET", "save")));
            assertEquals("ERR syntax error", error(() -> j.sendCommand(cmd("CONFIG"), "SET", "save", "", "appendonly")));
            assertEquals("ERR unknown subcommand 'REWRITE'. Try CONFIG HELP.", error(() -> j.sendCommand(cmd("CONFIG"), "REWRITE")));
        }
    }

    /** Concurrent writers of one list and one set lose nothing: every change is generation-checked. */
    @Test
    void concurrentPushesAndAddsLoseNothing() {
        int writers = 4;
        int each = 60;
        List<CompletableFuture<?>> all = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            int id = w;
            all.add(CompletableFuture.runAsync(() -> {
                try (Jedis j = jedis()) {
                    j.select(3);
                    for (int i = 0; i < each; i++) {
                        j.rpush("race:l", id + ":" + i);
                        j.sadd("race:s", id + ":" + i);
                    }
                }
            }));
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).join();
        try (Jedis j = jedis()) {
            j.select(3);
            List<String> list = j.lrange("race:l", 0, -1);
            assertEquals(writers * each, list.size());
            assertEquals(writers * each, new HashSet<>(list).size());
            for (int w = 0; w < writers; w++) {
                // Each writer's own pushes keep their order.
                int last = -1;
                for (String e : list) {
                    if (e.startsWith(w + ":")) {
                        int i = Integer.parseInt(e.substring(e.indexOf(':') + 1));
                        assertEquals(last + 1, i, "writer " + w + " order in " + list);
                        last = i;
                    }
                }
            }
            assertEquals(writers * each, j.scard("race:s"));
        }
    }
}
