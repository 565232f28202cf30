package io.ferrydb.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Redis endpoint in a 2-node cluster (RF 2): keys mastered by the other node are
 * forwarded and read back through either node (strings, hashes, lists, sets, a MULTI
 * transaction), SCAN, KEYS and DBSIZE cover both masters,
 * and WAIT and INFO replication report what the mirror really acknowledged.
 */
class RedisClusterIT {
    @TempDir
    Path tmp;

    @Test
    void forwardingWaitAndReplicationInfo() throws Exception {
        ServerProcess n1 = ServerProcess.prepare("n1", tmp.resolve("n1"));
        ServerProcess n2 = ServerProcess.prepare("n2", tmp.resolve("n2"));
        int p1 = ServerProcess.freePort();
        int p2 = ServerProcess.freePort();
        try (n1; n2) {
            n1.launch(List.of("--control-voters", "n1@" + n1.controlAddress(), "--redis-port", String.valueOf(p1)),
                    LocalCluster.READY_TIMEOUT_MS);
            n2.launch(List.of("--seeds", n1.hostPort(), "--redis-port", String.valueOf(p2)), LocalCluster.READY_TIMEOUT_MS);
            // n2 joined a cluster n1 formed alone: every partition is cloned to it and half are
            // handed over. Writes to a partition still being cloned are not mirrored yet, so
            // WAIT would rightly answer 0: let the whole table settle first.
            LocalCluster.of(n1, n2).await("n2 joined and every namespace settled", 120_000, st -> st.settled(2));
            try (Jedis j1 = new Jedis("127.0.0.1", p1, 20_000); Jedis j2 = new Jedis("127.0.0.1", p2, 20_000)) {
                // Until n2's replicas are in sync its mirror does not acknowledge; give the table time to settle.
                long deadline = System.currentTimeMillis() + 60_000;
                while (true) {
                    try {
                        j1.set("settle", "x");
                    } catch (redis.clients.jedis.exceptions.JedisDataException e) {
                        // The partition may be moving while n2 joins: the write is refused, not lost.
                        assertTrue(e.getMessage().contains("NOT_MASTER"), e.getMessage());
                        Thread.sleep(200);
                        continue;
                    }
                    if (j1.waitReplicas(1, 500) == 1 || System.currentTimeMillis() > deadline) {
                        break;
                    }
                }
                Set<String> keys = new HashSet<>();
                for (int i = 0; i < 200; i++) {
                    assertEquals("OK", j1.set("k" + i, "v" + i));
                    assertEquals(i + 1, j1.incr("n"));
                    j1.hset("h" + (i % 10), "f" + i, "x");
                    keys.add("k" + i);
                }
                for (int i = 0; i < 200; i++) {
                    assertEquals("v" + i, j2.get("k" + i), "written through n1, read through n2");
                }
                assertEquals("200", j2.get("n"));
                assertEquals(20, j2.hlen("h3"));
                long forwarded1 = stat(j1.info("stats"), "ferrydb_forwarded_requests");
                long forwarded2 = stat(j2.info("stats"), "ferrydb_forwarded_requests");
                assertTrue(forwarded1 > 50 && forwarded2 > 50, "both nodes forwarded: " + forwarded1 + "/" + forwarded2);
                // Every write of this connection is held by the one mirror.
                assertEquals(1, j1.waitReplicas(1, 10_000));
                assertEquals(1, j1.waitReplicas(2, 100), "there is only one mirror");
                String repl = j1.info("replication");
                assertTrue(repl.contains("connected_slaves:1"), repl);
                long masterOffset = stat(repl, "master_repl_offset");
                Matcher m = Pattern.compile("slave0:ip=127.0.0.1,port=\\d+,state=online,offset=(\\d+)").matcher(repl);
                assertTrue(m.find(), repl);
                assertTrue(masterOffset > 0 && Long.parseLong(m.group(1)) > 0, repl);
                // SCAN and DBSIZE see the keys of both masters, each once.
                Set<String> seen = new HashSet<>();
                String cursor = "0";
                do {
                    ScanResult<String> r = j2.scan(cursor, new ScanParams().match("k*").count(50));
                    for (String k : r.getResult()) {
                        assertTrue(seen.add(k), "returned twice: " + k);
                    }
                    cursor = r.getCursor();
                } while (!cursor.equals("0"));
                assertEquals(keys, seen);
                assertEquals(212, j1.dbSize());
                assertEquals(212, j2.dbSize());
                // Concurrent INCRs from both nodes on one key lose nothing (optimistic read-modify-write).
                CompletableFuture<?> a = CompletableFuture.runAsync(() -> incr(p1, 300));
                CompletableFuture<?> b = CompletableFuture.runAsync(() -> incr(p2, 300));
                CompletableFuture.allOf(a, b).join();
                assertEquals("600", j1.get("race"));
                // Lists and sets written through one node and read through the other (each way half forwarded),
                // KEYS over both masters, and concurrent pushes from both nodes that lose nothing.
                for (int i = 0; i < 40; i++) {
                    j1.rpush("list:" + i, "a", "b");
                    j2.sadd("set:" + i, "x", "y");
                }
                for (int i = 0; i < 40; i++) {
                    assertEquals(List.of("a", "b"), j2.lrange("list:" + i, 0, -1));
                    assertEquals(Set.of("x", "y"), j1.smembers("set:" + i));
                }
                assertEquals(40, j2.keys("list:*").size());
                assertEquals(40, j1.keys("set:*").size());
                CompletableFuture<?> c = CompletableFuture.runAsync(() -> pushAndAdd(p1, "n1", 150));
                CompletableFuture<?> d = CompletableFuture.runAsync(() -> pushAndAdd(p2, "n2", 150));
                CompletableFuture.allOf(c, d).join();
                assertEquals(300, j1.llen("race:l"));
                assertEquals(300, j2.scard("race:s"));
                // A transaction whose keys live on both masters: run in order, forwarded where needed.
                redis.clients.jedis.Transaction t = j1.multi();
                for (int i = 0; i < 20; i++) {
                    t.rpush("tx:" + i, "a");
                    t.lpush("tx:" + i, "b");
                    t.lrange("tx:" + i, 0, -1);
                }
                List<Object> replies = t.exec();
                for (int i = 0; i < 20; i++) {
                    assertEquals(List.of(1L, 2L, List.of("b", "a")), replies.subList(3 * i, 3 * i + 3));
                    assertEquals(List.of("b", "a"), j2.lrange("tx:" + i, 0, -1));
                }
            }
        }
    }

    private static void incr(int port, int times) {
        try (Jedis j = new Jedis("127.0.0.1", port, 20_000)) {
            for (int i = 0; i < times; i++) {
                j.incr("race");
            }
        }
    }

    private static void pushAndAdd(int port, String who, int times) {
        try (Jedis j = new Jedis("127.0.0.1", port, 20_000)) {
            for (int i = 0; i < times; i++) {
                j.rpush("race:l", who + i);
                j.sadd("race:s", who + i);
            }
        }
    }

    private static long stat(String info, String field) {
        Matcher m = Pattern.compile(field + ":(\\d+)").matcher(info);
        assertTrue(m.find(), field + " in " + info);
        return Long.parseLong(m.group(1));
    }
}
