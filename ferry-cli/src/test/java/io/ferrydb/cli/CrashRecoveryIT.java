package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.BatchResult;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.NodeInfo;
import io.ferrydb.client.ScanListener;
import io.ferrydb.client.ScanOptions;
import io.ferrydb.client.WriteOperation;
import io.ferrydb.client.WriteResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Crash recovery of a real node process: SYNC writes acknowledged before a SIGKILL
 * must all be readable after restart, the partition logs must come back gapless
 * (the node verifies contiguity on every start and refuses to start on a gap), and a
 * SIGTERM must stop the node gracefully with every acknowledged ASYNC write kept.
 *
 * <p>Every write in the crash test is a put of a new key, so in every partition the
 * number of live records equals the last committed LSN; the test checks that equality
 * after each restart, per sampled partition and summed over the namespace.
 */
class CrashRecoveryIT {
    private static final String NS = "test";
    private static final int WRITER_THREADS = 4;
    private static final int WINDOW_PER_THREAD = 16;
    private static final WritePolicy SYNC = WritePolicy.DEFAULT.withDurability(Durability.SYNC);
    private static final WritePolicy ASYNC = WritePolicy.DEFAULT.withDurability(Durability.ASYNC);

    @TempDir
    Path tmp;
    private ServerProcess server;

    @AfterEach
    void killServer() {
        if (server != null) {
            server.close();
        }
    }

    /** What a writer attempted and what the server acknowledged. */
    private record Attempt(Key key, String value) {}

    private record Ack(Key key, String value, WriteResult result) {}

    @Test
    void everyAcknowledgedSyncWriteSurvivesKill9AndLogsStayGapless() throws Exception {
        server = ServerProcess.start("crash-1", tmp.resolve("data"));
        Map<Key, Attempt> attempted = new ConcurrentHashMap<>();
        Map<Key, Ack> acked = new ConcurrentHashMap<>();
        long[] writeMs = {3000, 1500, 1500};
        for (int cycle = 0; cycle < writeMs.length; cycle++) {
            int acksBefore = acked.size();
            try (FerryClient c = connect()) {
                writeUntilKilled(c, cycle, writeMs[cycle], attempted, acked);
            }
            assertTrue(acked.size() - acksBefore > 100,
                    "cycle " + cycle + ": too few SYNC writes acknowledged before the kill (" + (acked.size() - acksBefore) + ")");
            // The node verifies log contiguity on start (RecordStore.recover); a gap fails this restart.
            long t0 = System.nanoTime();
            server.restart();
            long t1 = System.nanoTime();
            try (FerryClient c = connect()) {
                verifyAfterCrash(c, cycle, attempted, acked);
            }
            System.out.printf("cycle %d: %d attempted, %d acknowledged in total; restart %d ms, verify %d ms%n", cycle,
                    attempted.size(), acked.size(), (t1 - t0) / 1_000_000, (System.nanoTime() - t1) / 1_000_000);
        }
    }

    /**
     * Writes from {@link #WRITER_THREADS} threads until {@code ms} have passed, then
     * SIGKILLs the server while writes are in flight and waits for the writers to see
     * the failure.
     */
    private void writeUntilKilled(FerryClient c, int cycle, long ms, Map<Key, Attempt> attempted, Map<Key, Ack> acked)
            throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> unexpected = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        Map<Integer, Semaphore> windows = new HashMap<>();
        for (int t = 0; t < WRITER_THREADS; t++) {
            int thread = t;
            Semaphore window = new Semaphore(WINDOW_PER_THREAD);
            windows.put(t, window);
            Thread w = new Thread(() -> {
                for (int i = 0; !stop.get(); i++) {
                    try {
                        if (!window.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                            continue;
                        }
                    } catch (InterruptedException e) {
                        return;
                    }
                    Key key = Key.of(NS, "crash", "c" + cycle + "-t" + thread + "-" + i);
                    String value = "v-" + cycle + "-" + thread + "-" + i + "-" + "x".repeat(i % 50);
                    attempted.put(key, new Attempt(key, value));
                    try {
                        c.async().put(SYNC, key, Map.of("v", value, "i", i)).whenComplete((r, err) -> {
                            window.release();
                            if (err == null) {
                                acked.put(key, new Ack(key, value, r));
                            } else if (!stop.get() && !isExpectedWriteFailure(unwrap(err))) {
                                unexpected.compareAndSet(null, err);
                            }
                        });
                    } catch (RuntimeException e) {
                        // The async API must answer with a failed future, never throw.
                        window.release();
                        unexpected.compareAndSet(null, e);
                    }
                }
            }, "crash-writer-" + t);
            writers.add(w);
            w.start();
        }
        Thread.sleep(ms);
        int exit = server.kill9();
        assertEquals(137, exit, "SIGKILL exit code");
        stop.set(true);
        for (Thread w : writers) {
            w.join(10_000);
            assertTrue(!w.isAlive(), "writer " + w.getName() + " did not stop");
        }
        // Every outstanding future must fail (session broken) or time out; wait for the windows to refill.
        for (Map.Entry<Integer, Semaphore> e : windows.entrySet()) {
            assertTrue(e.getValue().tryAcquire(WINDOW_PER_THREAD, 15, TimeUnit.SECONDS),
                    "writer " + e.getKey() + " still has writes outstanding 15 s after the kill");
        }
        if (unexpected.get() != null) {
            throw new AssertionError("a write failed with a non-FerryException", unexpected.get());
        }
    }

    private void verifyAfterCrash(FerryClient c, int cycle, Map<Key, Attempt> attempted, Map<Key, Ack> acked) {
        // 1. Every acknowledged SYNC write is there with its value and generation.
        List<Key> ackedKeys = new ArrayList<>(acked.keySet());
        Map<Key, Record> found = batchGet(c, ackedKeys);
        List<String> lost = new ArrayList<>();
        for (Ack a : acked.values()) {
            Record r = found.get(a.key());
            if (r == null) {
                lost.add(a.key() + "@lsn" + a.result().lsn());
                continue;
            }
            assertEquals(a.value(), r.binJava("v"), "value of acknowledged " + a.key());
            assertEquals(a.result().generation(), r.generation(), "generation of acknowledged " + a.key());
            assertEquals(1, r.generation(), "every key is written once");
        }
        assertTrue(lost.isEmpty(), "cycle " + cycle + ": " + lost.size() + " of " + acked.size()
                + " acknowledged SYNC writes lost after kill -9, e.g. " + lost.subList(0, Math.min(10, lost.size())));

        // 2. An attempted but unacknowledged write is either absent or intact (never torn).
        List<Key> unacked = new ArrayList<>();
        for (Key k : attempted.keySet()) {
            if (!acked.containsKey(k)) {
                unacked.add(k);
            }
        }
        Map<Key, Record> unackedFound = batchGet(c, unacked);
        for (Map.Entry<Key, Record> e : unackedFound.entrySet()) {
            assertEquals(attempted.get(e.getKey()).value(), e.getValue().binJava("v"), "unacknowledged write " + e.getKey() + " came back torn");
        }

        // 3. Gapless logs, summed over the namespace: only new-key puts were ever written,
        //    so sum(last lsn) == live records, and the live records are exactly the attempted keys found.
        Map<Integer, Long> recordsPerPartition = new TreeMap<>();
        long[] records = {0};
        c.scan(ScanOptions.of(NS, null), new ScanListener() {
            @Override
            public boolean onRecord(Record r) {
                records[0]++;
                recordsPerPartition.merge(r.key().partition(), 1L, Long::sum);
                return true;
            }
        });
        NodeInfo info = c.info();
        NodeInfo.Namespace ns = info.namespaces().stream().filter(n -> n.name().equals(NS)).findFirst().orElseThrow();
        assertEquals(records[0], ns.lastLsnSum(), "cycle " + cycle + ": sum of partition last LSNs vs live records");
        long crashRecords = acked.size() + unackedFound.size();
        assertEquals(crashRecords + (long) cycle * PROBES_PER_CYCLE, records[0],
                "live records = crash writes found (" + crashRecords + ") + probes of earlier cycles");

        // 4. Per sampled partition: the next write continues the log at exactly last + 1,
        //    beyond every acknowledged LSN of that partition.
        Map<Integer, Long> maxAckedLsn = new HashMap<>();
        long maxAckedHlc = 0;
        for (Ack a : acked.values()) {
            maxAckedLsn.merge(a.key().partition(), a.result().lsn(), Math::max);
            maxAckedHlc = Math.max(maxAckedHlc, a.result().hlc());
        }
        List<Integer> partitions = new ArrayList<>(maxAckedLsn.keySet());
        partitions.sort(null);
        int step = Math.max(1, partitions.size() / PROBES_PER_CYCLE);
        int probes = 0;
        for (int i = 0; i < partitions.size() && probes < PROBES_PER_CYCLE; i += step, probes++) {
            int p = partitions.get(i);
            Key probe = keyInPartition("probe", "cycle" + cycle + "-p" + p + "-", p);
            WriteResult w = c.put(SYNC, probe, Map.of("v", "probe"));
            long recordsInPartition = recordsPerPartition.getOrDefault(p, 0L);
            assertEquals(recordsInPartition + 1, w.lsn(), "partition " + p + ": next lsn after recovery (records before = "
                    + recordsInPartition + ")");
            assertTrue(w.lsn() > maxAckedLsn.get(p), "partition " + p + ": next lsn " + w.lsn() + " must exceed the highest acknowledged "
                    + maxAckedLsn.get(p));
            assertEquals(1, w.generation());
            assertTrue(w.hlc() > maxAckedHlc, "the HLC must not go back across a crash: " + w.hlc() + " <= " + maxAckedHlc);
        }
        assertEquals(PROBES_PER_CYCLE, probes, "probe count; partitions touched: " + partitions.size());
    }

    private static final int PROBES_PER_CYCLE = 32;

    /** A key of the given set whose digest falls in partition {@code p}. */
    static Key keyInPartition(String set, String prefix, int p) {
        for (int i = 0; ; i++) {
            Key k = Key.of(NS, set, prefix + i);
            if (k.partition() == p) {
                return k;
            }
        }
    }

    /** Found records by key (missing keys absent from the map); batches of 2000. */
    static Map<Key, Record> batchGet(FerryClient c, List<Key> keys) {
        Map<Key, Record> out = new HashMap<>();
        for (int from = 0; from < keys.size(); from += 2000) {
            List<Key> chunk = keys.subList(from, Math.min(keys.size(), from + 2000));
            List<BatchResult> results = c.batchGet(chunk);
            assertEquals(chunk.size(), results.size(), "one batch result per key");
            for (int i = 0; i < chunk.size(); i++) {
                BatchResult r = results.get(i);
                if (r.ok()) {
                    assertNotNull(r.record());
                    assertEquals(chunk.get(i), r.record().key(), "batch results are in request order");
                    out.put(chunk.get(i), r.record());
                } else {
                    assertEquals(ErrorCode.NOT_FOUND, r.error(), "batch get of " + chunk.get(i) + ": " + r.message());
                }
            }
        }
        return out;
    }

    @Test
    void sigtermStopsGracefullyAndKeepsAcknowledgedAsyncWrites() throws Exception {
        server = ServerProcess.start("sigterm-1", tmp.resolve("data"));
        List<Key> keys = new ArrayList<>();
        try (FerryClient c = connect()) {
            // One ASYNC batch write ...
            List<WriteOperation> ops = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                Key k = Key.of(NS, "async", "batch-" + i);
                keys.add(k);
                ops.add(WriteOperation.put(ASYNC, k, Map.of("i", i, "s", "async-" + i)));
            }
            List<BatchResult> results = c.batchWrite(ops);
            for (int i = 0; i < results.size(); i++) {
                assertTrue(results.get(i).ok(), "ops[" + i + "]: " + results.get(i).error() + " " + results.get(i).message());
                assertEquals(1, results.get(i).write().generation());
            }
            // ... and pipelined ASYNC puts, all acknowledged before the SIGTERM.
            List<CompletableFuture<WriteResult>> fs = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                Key k = Key.of(NS, "async", "put-" + i);
                keys.add(k);
                fs.add(c.async().put(ASYNC, k, Map.of("i", i, "s", "async-" + i)));
            }
            for (var f : fs) {
                assertEquals(1, f.get(10, TimeUnit.SECONDS).generation());
            }
            // SIGTERM while the client still holds an open session.
            long t0 = System.nanoTime();
            int exit = server.terminate(10_000);
            long stopMs = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("SIGTERM with an open client session: exit %d after %d ms%n", exit, stopMs);
            assertTrue(exit == 0 || exit == 143, "exit code after SIGTERM: " + exit + "; log:\n" + server.logOfCurrentRun());
            assertTrue(stopMs < 10_000, "SIGTERM took " + stopMs + " ms");
            String log = server.logOfCurrentRun();
            assertTrue(log.contains("node sigterm-1 stopping"), "log shows stopping:\n" + log);
            assertTrue(log.contains("node sigterm-1 stopped"), "log shows stopped:\n" + log);
            assertTrue(!log.contains("ERROR") && !log.contains("Exception"), "graceful stop logged an error:\n" + log);
        }
        server.restart();
        try (FerryClient c = connect()) {
            Map<Key, Record> found = batchGet(c, keys);
            assertEquals(keys.size(), found.size(), "ASYNC writes acknowledged before SIGTERM present after restart");
            for (Key k : keys) {
                String[] parts = ((String) k.userKey()).split("-");
                assertEquals(Long.parseLong(parts[1]), found.get(k).binJava("i"));
                assertEquals("async-" + parts[1], found.get(k).binJava("s"));
            }
            NodeInfo.Namespace ns = c.info().namespaces().get(0);
            assertEquals(keys.size(), ns.lastLsnSum(), "log positions after a graceful restart");
        }
        // A second SIGTERM with no client connected stops quickly and cleanly too.
        long t0 = System.nanoTime();
        int exit = server.terminate(10_000);
        System.out.printf("SIGTERM with no client: exit %d after %d ms%n", exit, (System.nanoTime() - t0) / 1_000_000);
        assertTrue(exit == 0 || exit == 143, "exit code " + exit);
        assertTrue(server.logOfCurrentRun().contains("stopped"), server.logOfCurrentRun());
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 10_000);
    }

    @Test
    void sigtermDuringSyncWritesKeepsEveryAcknowledgedWrite() throws Exception {
        server = ServerProcess.start("sigterm-2", tmp.resolve("data"));
        Map<Key, String> acked = new ConcurrentHashMap<>();
        AtomicBoolean stop = new AtomicBoolean();
        try (FerryClient c = connect()) {
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int thread = t;
                Thread w = new Thread(() -> {
                    for (int i = 0; !stop.get(); i++) {
                        Key k = Key.of(NS, "term", "t" + thread + "-" + i);
                        try {
                            c.put(SYNC, k, Map.of("v", "value-" + i));
                            acked.put(k, "value-" + i);
                        } catch (FerryException e) {
                            // the node is going away
                            if (stop.get()) {
                                return;
                            }
                        }
                    }
                }, "term-writer-" + t);
                writers.add(w);
                w.start();
            }
            // Wait for real load (not a fixed time: a loaded CI machine may be slow to start).
            long deadline = System.currentTimeMillis() + 30_000;
            while (acked.size() < 200 && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            int exit = server.terminate(10_000);
            stop.set(true);
            for (Thread w : writers) {
                w.join(15_000);
            }
            assertTrue(exit == 0 || exit == 143, "exit code after SIGTERM under load: " + exit + "\n" + server.logOfCurrentRun());
            assertTrue(server.logOfCurrentRun().contains("node sigterm-2 stopped"), server.logOfCurrentRun());
        }
        assertTrue(acked.size() > 50, "too few writes acknowledged: " + acked.size());
        server.restart();
        try (FerryClient c = connect()) {
            Map<Key, Record> found = batchGet(c, new ArrayList<>(acked.keySet()));
            for (Map.Entry<Key, String> e : acked.entrySet()) {
                Record r = found.get(e.getKey());
                if (r == null) {
                    fail("acknowledged SYNC write " + e.getKey() + " lost across SIGTERM");
                }
                assertEquals(e.getValue(), r.binJava("v"));
            }
        }
    }

    private FerryClient connect() {
        return FerryClient.connect(new ClientConfig("127.0.0.1", server.grpcPort(), 5_000, 512));
    }

    /**
     * An unacknowledged write: any FerryException, or the raw TimeoutException the
     * async client currently leaks on its request timeout (see ClientIT's silent-server test).
     */
    private static boolean isExpectedWriteFailure(Throwable t) {
        return t instanceof FerryException || t instanceof TimeoutException;
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
