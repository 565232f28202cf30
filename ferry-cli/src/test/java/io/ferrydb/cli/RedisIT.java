package io.ferrydb.cli;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.Response;
import redis.clients.jedis.args.ExpiryOption;
import redis.clients.jedis.commands.ProtocolCommand;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.params.SetParams;
import redis.clients.jedis.resps.ScanResult;
import redis.clients.jedis.util.SafeEncoder;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis endpoint of a real node process, driven with Jedis (a real Redis client)
 * and a raw socket for exact protocol bytes: every supported command, Redis's error
 * texts, pipelining, RESP3 and expiry. A second node started from a config file covers
 * AUTH, FLUSHDB and per-connection durability.
 */
class RedisIT {
    private static final String WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
    private static final String NOT_INTEGER = "ERR value is not an integer or out of range";

    @TempDir
    static Path tmp;
    static ServerProcess node;
    static int port;

    @BeforeAll
    static void start() {
        port = ServerProcess.freePort();
        node = ServerProcess.start("r1", tmp.resolve("r1"), "--redis-port", String.valueOf(port));
    }

    @AfterAll
    static void stop() {
        if (node != null) {
            node.close();
        }
    }

    static Jedis jedis() {
        return new Jedis("127.0.0.1", port, 10_000);
    }

    /** A node process serving Redis on a free port for one test class: {@code @RegisterExtension static final Node NODE}. */
    static final class Node implements BeforeAllCallback, AfterAllCallback {
        private final String name;
        private Path dir;
        private ServerProcess process;
        private int redisPort;

        Node(String name) {
            this.name = name;
        }

        @Override
        public void beforeAll(ExtensionContext context) throws IOException {
            dir = Files.createTempDirectory("ferry-redis-it-");
            redisPort = ServerProcess.freePort();
            process = ServerProcess.start(name, dir.resolve(name), "--redis-port", String.valueOf(redisPort));
        }

        @Override
        public void afterAll(ExtensionContext context) throws IOException {
            if (process != null) {
                process.close();
            }
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }

        Jedis jedis() {
            return new Jedis("127.0.0.1", redisPort, 10_000);
        }
    }

    static ProtocolCommand cmd(String name) {
        byte[] raw = SafeEncoder.encode(name);
        return () -> raw;
    }

    static String error(Runnable r) {
        return assertThrows(JedisDataException.class, r::run).getMessage();
    }

    @Test
    void connectionCommands() {
        try (Jedis j = jedis()) {
            assertEquals("PONG", j.ping());
            assertEquals("hi", j.ping("hi"));
            assertEquals("echo me", j.echo("echo me"));
            assertTrue(j.clientId() > 0);
            assertNull(j.clientGetname());
            assertEquals("OK", j.clientSetname("itclient"));
            assertEquals("itclient", j.clientGetname());
            assertEquals("ERR Client names cannot contain spaces, newlines or special characters.", error(() -> j.clientSetname("a b")));
            assertEquals("ERR unknown subcommand 'nope'. Try CLIENT HELP.", error(() -> j.sendCommand(cmd("CLIENT"), "nope")));
            assertEquals("OK", j.select(3));
            j.set("in3", "x");
            assertEquals("OK", j.select(0));
            assertNull(j.get("in3"), "SELECT maps to another set");
            assertEquals("ERR DB index is out of range", error(() -> j.select(16)));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("SELECT"), "x")));
            assertEquals("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ", error(() -> j.sendCommand(cmd("FOO"), "a", "b")));
            assertEquals("ERR unknown command 'ZADD', with args beginning with: 'z' '1' 'x' ", error(() -> j.sendCommand(cmd("ZADD"), "z", "1", "x")));
            assertEquals("ERR wrong number of arguments for 'get' command", error(() -> j.sendCommand(cmd("GET"))));
            assertEquals("ERR wrong number of arguments for 'echo' command", error(() -> j.sendCommand(cmd("ECHO"), "a", "b")));
            assertEquals("ERR AUTH <password> called without any password configured for the default user. "
                    + "Are you sure your configuration is correct?", error(() -> j.auth("secret")));
            assertEquals("NOPROTO unsupported protocol version", error(() -> j.sendCommand(cmd("HELLO"), "4")));
        }
    }

    @Test
    void serverCommands() {
        try (Jedis j = jedis()) {
            Map<String, String> cfg = j.configGet("save");
            assertEquals(Map.of("save", ""), cfg);
            assertEquals("no", j.configGet("appendonly").get("appendonly"));
            assertEquals("16", j.configGet("data*").get("databases"));
            assertEquals("ERR unknown subcommand 'RESETSTAT'. Try CONFIG HELP.", error(() -> j.sendCommand(cmd("CONFIG"), "RESETSTAT")));
            long count = (Long) j.sendCommand(cmd("COMMAND"), "COUNT");
            assertTrue(count >= 55, "COMMAND COUNT " + count);
            List<?> info = (List<?>) j.sendCommand(cmd("COMMAND"), "INFO", "get", "nosuch");
            assertEquals("get", SafeEncoder.encode((byte[]) ((List<?>) info.get(0)).get(0)));
            assertEquals(2L, ((List<?>) info.get(0)).get(1));
            assertNull(info.get(1));
            j.select(5);
            j.set("k1", "v");
            j.hset("h1", "f", "v");
            j.set("k2", "v", SetParams.setParams().ex(100));
            String all = j.info();
            for (String section : List.of("# Server", "# Clients", "# Memory", "# Stats", "# Replication", "# Keyspace")) {
                assertTrue(all.contains(section), section + " in " + all);
            }
            assertTrue(all.contains("db5:keys=3,expires=1,avg_ttl="), all);
            assertTrue(all.contains("role:master") && all.contains("connected_slaves:0"), all);
            String replication = j.info("replication");
            assertFalse(replication.contains("# Server"), replication);
            assertTrue(replication.contains("master_repl_offset:"), replication);
            assertEquals(3, j.dbSize());
            assertEquals("ERR FLUSHDB is disabled on this node (set redis.flushdb-enabled: true to allow it)", error(j::flushDB));
            // A single node has no mirrors: WAIT gives up after its timeout with 0.
            long t0 = System.nanoTime();
            assertEquals(0, j.waitReplicas(1, 200));
            assertTrue(System.nanoTime() - t0 >= 150_000_000L, "WAIT returned before its timeout");
            assertEquals(0, j.waitReplicas(0, 0));
            assertEquals("ERR timeout is negative", error(() -> j.sendCommand(cmd("WAIT"), "0", "-1")));
        }
    }

    @Test
    void strings() {
        try (Jedis j = jedis()) {
            j.select(1);
            assertNull(j.get("s:none"));
            assertEquals("OK", j.set("s:a", "hello"));
            assertEquals("hello", j.get("s:a"));
            assertNull(j.set("s:a", "x", SetParams.setParams().nx()));
            assertEquals("OK", j.set("s:b", "1", SetParams.setParams().nx()));
            assertNull(j.set("s:none", "x", SetParams.setParams().xx()));
            assertFalse(j.exists("s:none"));
            assertEquals("OK", j.set("s:a", "world", SetParams.setParams().xx()));
            assertEquals("world", j.setGet("s:a", "again"));
            assertEquals("again", j.get("s:a"));
            assertNull(j.setGet("s:fresh", "v"));
            assertEquals("ERR syntax error", error(() -> j.sendCommand(cmd("SET"), "s:a", "v", "NX", "XX")));
            assertEquals("ERR syntax error", error(() -> j.sendCommand(cmd("SET"), "s:a", "v", "EX", "10", "PX", "10")));
            assertEquals("ERR syntax error", error(() -> j.sendCommand(cmd("SET"), "s:a", "v", "BOGUS")));
            assertEquals("ERR invalid expire time in 'set' command", error(() -> j.sendCommand(cmd("SET"), "s:a", "v", "EX", "0")));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("SET"), "s:a", "v", "EX", "ten")));
            assertEquals(1, j.setnx("s:nx", "1"));
            assertEquals(0, j.setnx("s:nx", "2"));
            assertEquals("1", j.get("s:nx"));
            assertEquals("OK", j.setex("s:ex", 100, "v"));
            assertTrue(j.ttl("s:ex") > 90);
            assertEquals("ERR invalid expire time in 'setex' command", error(() -> j.setex("s:ex", 0, "v")));
            assertEquals("OK", j.psetex("s:pex", 100_000, "v"));
            assertTrue(j.pttl("s:pex") > 90_000);
            assertEquals("1", j.getSet("s:nx", "3"));
            assertEquals("3", j.getDel("s:nx"));
            assertNull(j.getDel("s:nx"));
            assertEquals("OK", j.mset("m1", "a", "m2", "b", "m3", "c"));
            assertEquals(Arrays.asList("a", "b", null, "c"), j.mget("m1", "m2", "nope", "m3"));
            assertEquals("ERR wrong number of arguments for 'mset' command", error(() -> j.sendCommand(cmd("MSET"), "a", "b", "c")));
            assertEquals(0, j.msetnx("m1", "z", "m9", "z"));
            assertNull(j.get("m9"));
            assertEquals(1, j.msetnx("m8", "y", "m9", "z"));
            assertEquals("z", j.get("m9"));
            assertEquals(3, j.exists("m1", "m2", "nope", "m1"));
            assertEquals(2, j.del("m1", "m2", "nope"));
            assertEquals(1, j.unlink("m3", "nope"));
            assertEquals("string", j.type("m8"));
            assertEquals("none", j.type("nope"));
            assertEquals(5, j.strlen("s:fresh") + 4);
            assertEquals(0, j.strlen("nope"));
            assertEquals(7, j.append("s:app", "abcdefg"));
            assertEquals(10, j.append("s:app", "hij"));
            assertEquals("abcdefghij", j.get("s:app"));
            // Binary values survive byte for byte.
            byte[] bin = {0, (byte) 0xff, '\r', '\n', 7};
            j.set("s:bin".getBytes(), bin);
            assertArrayEquals(bin, j.get("s:bin".getBytes()));
        }
    }

    @Test
    void counters() {
        try (Jedis j = jedis()) {
            j.select(2);
            assertEquals(1, j.incr("c"));
            assertEquals(11, j.incrBy("c", 10));
            assertEquals(10, j.decr("c"));
            assertEquals(-5, j.decrBy("c", 15));
            assertEquals("-5", j.get("c"));
            j.set("c:big", Long.toString(Long.MAX_VALUE));
            assertEquals("ERR increment or decrement would overflow", error(() -> j.incr("c:big")));
            j.set("c:text", "abc");
            assertEquals(NOT_INTEGER, error(() -> j.incr("c:text")));
            j.set("c:space", " 1");
            assertEquals(NOT_INTEGER, error(() -> j.incr("c:space")));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("INCRBY"), "c", "1.5")));
            j.set("f", "10.50");
            assertEquals(10.6, j.incrByFloat("f", 0.1), 1e-9);
            assertEquals("10.6", j.get("f"));
            j.set("f2", "5.0e3");
            assertEquals(5200, j.incrByFloat("f2", 200), 1e-9);
            assertEquals("5200", j.get("f2"));
            assertEquals("ERR value is not a valid float", error(() -> j.incrByFloat("c:text", 1)));
            assertEquals("ERR value is not a valid float", error(() -> j.sendCommand(cmd("INCRBYFLOAT"), "f", "x")));
            j.hset("c:hash", "f", "1");
            assertEquals(WRONGTYPE, error(() -> j.incr("c:hash")));
            assertEquals(WRONGTYPE, error(() -> j.get("c:hash")));
            assertEquals(WRONGTYPE, error(() -> j.append("c:hash", "x")));
            assertEquals(WRONGTYPE, error(() -> j.strlen("c:hash")));
            assertEquals(WRONGTYPE, error(() -> j.getSet("c:hash", "x")));
            assertEquals(Arrays.asList("-5", null), j.mget("c", "c:hash"), "MGET answers nil for other types");
            // SET overwrites any type.
            assertEquals("OK", j.set("c:hash", "now a string"));
            assertEquals("string", j.type("c:hash"));
        }
    }

    @Test
    void expiry() throws InterruptedException {
        try (Jedis j = jedis()) {
            j.select(4);
            assertEquals(-2, j.ttl("e:none"));
            j.set("e:a", "v");
            assertEquals(-1, j.ttl("e:a"));
            assertEquals(1, j.expire("e:a", 100));
            assertTrue(j.ttl("e:a") >= 99);
            assertEquals(0, j.expire("e:a", 50, ExpiryOption.NX));
            assertEquals(0, j.expire("e:a", 50, ExpiryOption.GT));
            assertEquals(1, j.expire("e:a", 50, ExpiryOption.LT));
            assertEquals(1, j.expire("e:a", 500, ExpiryOption.XX));
            assertEquals("ERR NX and XX, GT or LT options at the same time are not compatible",
                    error(() -> j.sendCommand(cmd("EXPIRE"), "e:a", "5", "NX", "XX")));
            assertEquals("ERR Unsupported option foo", error(() -> j.sendCommand(cmd("EXPIRE"), "e:a", "5", "foo")));
            assertEquals(0, j.expire("e:none", 10));
            assertEquals(1, j.pexpire("e:a", 200_000));
            assertTrue(j.pttl("e:a") > 190_000);
            assertEquals(1, j.persist("e:a"));
            assertEquals(0, j.persist("e:a"));
            assertEquals(-1, j.ttl("e:a"));
            long at = System.currentTimeMillis() / 1000 + 1000;
            assertEquals(1, j.expireAt("e:a", at));
            assertTrue(j.ttl("e:a") > 990);
            // SET without KEEPTTL clears the expiry, with KEEPTTL keeps it; INCR keeps it.
            j.set("e:a", "w", SetParams.setParams().keepTtl());
            assertTrue(j.ttl("e:a") > 990);
            j.set("e:a", "w");
            assertEquals(-1, j.ttl("e:a"));
            j.set("e:n", "1", SetParams.setParams().ex(100));
            j.incr("e:n");
            assertTrue(j.ttl("e:n") > 90);
            // Millisecond expiry takes effect at once for reads.
            j.set("e:short", "v", SetParams.setParams().px(300));
            j.hset("e:hshort", "f", "v");
            j.pexpire("e:hshort", 300);
            assertEquals("v", j.get("e:short"));
            assertTrue(j.pttl("e:short") > 0 && j.pttl("e:short") <= 300);
            Thread.sleep(450);
            assertNull(j.get("e:short"));
            assertFalse(j.exists("e:hshort"));
            assertEquals(-2, j.pttl("e:short"));
            j.set("e:abs", "v", SetParams.setParams().pxAt(System.currentTimeMillis() + 300));
            j.set("e:abs2", "v", SetParams.setParams().exAt(System.currentTimeMillis() / 1000 + 100));
            assertTrue(j.ttl("e:abs2") > 90);
            Thread.sleep(400);
            assertNull(j.get("e:abs"));
            // An expiry in the past deletes the key.
            j.set("e:past", "v");
            assertEquals(1, j.expire("e:past", -1));
            assertFalse(j.exists("e:past"));
        }
    }

    @Test
    void hashes() {
        try (Jedis j = jedis()) {
            j.select(6);
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("name", "Ada");
            fields.put("born", "1815");
            fields.put("$odd", "dollar");
            assertEquals(3, j.hset("h", fields));
            assertEquals(1, j.hset("h", Map.of("name", "Ada L.", "lang", "en")));
            assertEquals("Ada L.", j.hget("h", "name"));
            assertEquals("dollar", j.hget("h", "$odd"));
            assertNull(j.hget("h", "nope"));
            assertNull(j.hget("nokey", "f"));
            assertEquals(0, j.hsetnx("h", "name", "x"));
            assertEquals(1, j.hsetnx("h", "new", "x"));
            assertEquals(Arrays.asList("Ada L.", null, "1815"), j.hmget("h", "name", "nope", "born"));
            assertEquals(Map.of("name", "Ada L.", "born", "1815", "$odd", "dollar", "lang", "en", "new", "x"), j.hgetAll("h"));
            assertEquals(Map.of(), j.hgetAll("nokey"));
            assertEquals(5, j.hlen("h"));
            assertEquals(0, j.hlen("nokey"));
            assertTrue(j.hexists("h", "lang"));
            assertFalse(j.hexists("h", "nope"));
            assertEquals(Set.of("name", "born", "$odd", "lang", "new"), j.hkeys("h"));
            assertEquals(Set.of("Ada L.", "1815", "dollar", "en", "x"), new HashSet<>(j.hvals("h")));
            assertEquals(1816, j.hincrBy("h", "born", 1));
            assertEquals(5, j.hincrBy("h", "count", 5));
            assertEquals(1.5, j.hincrByFloat("h", "ratio", 1.5), 1e-9);
            assertEquals("ERR hash value is not an integer", error(() -> j.hincrBy("h", "name", 1)));
            assertEquals("ERR hash value is not a float", error(() -> j.hincrByFloat("h", "name", 1)));
            assertEquals(NOT_INTEGER, error(() -> j.sendCommand(cmd("HINCRBY"), "h", "born", "1.5")));
            assertEquals(2, j.hdel("h", "lang", "new", "nope"));
            assertEquals("hash", j.type("h"));
            assertEquals("ERR wrong number of arguments for 'hset' command", error(() -> j.sendCommand(cmd("HSET"), "h", "a", "1", "b")));
            assertEquals("OK", j.hmset("hm", Map.of("a", "1")));
            j.set("str", "v");
            assertEquals(WRONGTYPE, error(() -> j.hget("str", "f")));
            assertEquals(WRONGTYPE, error(() -> j.hset("str", "f", "v")));
            assertEquals(WRONGTYPE, error(() -> j.hgetAll("str")));
            assertTrue(error(() -> j.hset("h", "a-field-longer-than-15", "v")).startsWith("ERR hash field"));
            // Removing the last field removes the key.
            assertEquals(1, j.hdel("hm", "a"));
            assertFalse(j.exists("hm"));
        }
    }

    @Test
    void scanCoversEveryKeyOnce() {
        try (Jedis j = jedis()) {
            j.select(7);
            Set<String> written = new HashSet<>();
            for (int i = 0; i < 300; i++) {
                j.set("scan:" + i, "v");
                written.add("scan:" + i);
            }
            j.hset("scan:h", "f", "v");
            List<String> seen = new ArrayList<>();
            String cursor = "0";
            int pages = 0;
            do {
                ScanResult<String> r = j.scan(cursor, new ScanParams().match("scan:[0-9]*").count(20));
                seen.addAll(r.getResult());
                cursor = r.getCursor();
                pages++;
            } while (!cursor.equals("0"));
            assertEquals(300, seen.size(), "each key exactly once");
            assertEquals(written, new HashSet<>(seen));
            assertTrue(pages > 1, "pages: " + pages);
            List<String> hashes = new ArrayList<>();
            cursor = "0";
            do {
                ScanResult<String> r = j.scan(cursor, new ScanParams().count(1000), "hash");
                hashes.addAll(r.getResult());
                cursor = r.getCursor();
            } while (!cursor.equals("0"));
            assertEquals(List.of("scan:h"), hashes);
            assertEquals(301, j.dbSize());
            assertEquals("ERR invalid cursor", error(() -> j.sendCommand(cmd("SCAN"), "abc")));
            assertEquals("ERR syntax error", error(() -> j.sendCommand(cmd("SCAN"), "0", "COUNT", "0")));
        }
    }

    @Test
    void pipelining() {
        try (Jedis j = jedis()) {
            j.select(8);
            Pipeline p = j.pipelined();
            List<Response<?>> answers = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                answers.add(p.set("p:" + i, "v" + i));
                answers.add(p.incr("p:n"));
                answers.add(p.get("p:" + i));
            }
            answers.add(p.hget("p:1", "f"));
            p.sync();
            for (int i = 0; i < 2000; i++) {
                assertEquals("OK", answers.get(3 * i).get());
                assertEquals((long) i + 1, answers.get(3 * i + 1).get(), "answers come in order, each sees the writes before it");
                assertEquals("v" + i, answers.get(3 * i + 2).get());
            }
            assertThrows(JedisDataException.class, () -> answers.get(6000).get());
        }
    }

    @Test
    void resp3() throws IOException {
        try (Jedis j = new Jedis(new HostAndPort("127.0.0.1", port), DefaultJedisClientConfig.builder().protocol(RedisProtocol.RESP3).build())) {
            j.select(9);
            j.hset("r3", Map.of("a", "1", "b", "2"));
            assertEquals(Map.of("a", "1", "b", "2"), j.hgetAll("r3"));
            assertNull(j.get("r3:none"));
            assertEquals(2.5, j.incrByFloat("r3:f", 2.5), 1e-9);
            assertEquals(Map.of("appendonly", "no"), j.configGet("appendonly"));
        }
        // The exact bytes: HELLO 3 switches to maps (%) and nulls (_).
        try (Raw r = new Raw()) {
            String hello = r.call("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", "modules\r\n*0\r\n");
            assertTrue(hello.startsWith("%7\r\n$6\r\nserver\r\n"), hello);
            assertTrue(hello.contains("$5\r\nproto\r\n:3\r\n"), hello);
            assertEquals("_\r\n", r.call("*2\r\n$3\r\nGET\r\n$7\r\nr3:none\r\n", "\r\n"));
            r.call("*4\r\n$4\r\nHSET\r\n$2\r\nhx\r\n$1\r\na\r\n$1\r\n1\r\n", "\r\n");
            assertEquals("%1\r\n$1\r\na\r\n$1\r\n1\r\n", r.call("*2\r\n$7\r\nHGETALL\r\n$2\r\nhx\r\n", "$1\r\n1\r\n"));
            // Back to RESP2: nulls are $-1 and maps flat arrays.
            r.call("*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n", "modules\r\n*0\r\n");
            assertEquals("$-1\r\n", r.call("*2\r\n$3\r\nGET\r\n$7\r\nr3:none\r\n", "\r\n"));
            assertEquals("*2\r\n$1\r\na\r\n$1\r\n1\r\n", r.call("*2\r\n$7\r\nHGETALL\r\n$2\r\nhx\r\n", "$1\r\n1\r\n"));
        }
    }

    @Test
    void rawProtocol() throws IOException {
        try (Raw r = new Raw()) {
            // Inline commands (telnet), several pipelined in one packet, answered in order.
            assertEquals("+PONG\r\n+OK\r\n$3\r\nbar\r\n", r.call("PING\r\nSET foo bar\r\nGET foo\r\n", "bar\r\n"));
            assertEquals("$5\r\na b c\r\n", r.call("ECHO \"a b c\"\r\n", "c\r\n"));
            assertEquals("+OK\r\n", r.call("QUIT\r\n", "\r\n"));
            assertEquals(-1, r.in.read(), "closed after QUIT");
        }
        try (Raw r = new Raw()) {
            assertEquals("-ERR Protocol error: expected '$', got 'x'\r\n", r.call("*1\r\nx\r\n", "\r\n"));
            assertEquals(-1, r.in.read(), "closed after a protocol error");
        }
    }

    @Test
    void passwordFlushdbAndDurabilityFromConfig() throws IOException {
        Path cfg = tmp.resolve("redis.yaml");
        int p2 = ServerProcess.freePort();
        Files.writeString(cfg, "redis:\n  enabled: true\n  port: " + p2 + "\n  password: s3cret\n  flushdb-enabled: true\n"
                + "  durability: SYNC\n");
        try (ServerProcess n2 = ServerProcess.start("r2", tmp.resolve("r2"), "--config", cfg.toString(),
                "--redis-port", String.valueOf(p2));
             Jedis j = new Jedis("127.0.0.1", p2, 10_000)) {
            assertEquals("NOAUTH Authentication required.", error(() -> j.get("a")));
            assertEquals("WRONGPASS invalid username-password pair or user is disabled.", error(() -> j.auth("wrong")));
            assertEquals("OK", j.auth("s3cret"));
            assertEquals("SYNC", SafeEncoder.encode((byte[]) j.sendCommand(cmd("FERRY"), "DURABILITY")));
            assertEquals("ALL", SafeEncoder.encode((byte[]) j.sendCommand(cmd("FERRY"), "COMMIT-LEVEL")));
            assertEquals("OK", SafeEncoder.encode((byte[]) j.sendCommand(cmd("FERRY"), "DURABILITY", "ASYNC")));
            assertEquals("ASYNC", SafeEncoder.encode((byte[]) j.sendCommand(cmd("FERRY"), "DURABILITY")));
            assertTrue(error(() -> j.sendCommand(cmd("FERRY"), "DURABILITY", "SOMETIMES")).startsWith("ERR durability must be"));
            for (int i = 0; i < 20; i++) {
                j.set("f" + i, "v");
            }
            assertEquals(20, j.dbSize());
            assertEquals("OK", j.flushDB());
            assertEquals(0, j.dbSize());
            assertNull(j.get("f1"));
        }
    }

    /** A raw socket speaking bytes, for exact protocol checks. */
    static final class Raw implements AutoCloseable {
        final Socket s;
        final InputStream in;
        final OutputStream out;

        Raw() throws IOException {
            s = new Socket("127.0.0.1", port);
            s.setSoTimeout(10_000);
            in = s.getInputStream();
            out = s.getOutputStream();
        }

        /** Sends bytes and reads until the answer ends with {@code until}. */
        String call(String request, String until) throws IOException {
            out.write(request.getBytes(StandardCharsets.UTF_8));
            out.flush();
            StringBuilder sb = new StringBuilder();
            while (!sb.toString().endsWith(until)) {
                int b = in.read();
                if (b < 0) {
                    break;
                }
                sb.append((char) b);
            }
            return sb.toString();
        }

        @Override
        public void close() throws IOException {
            s.close();
        }
    }
}
