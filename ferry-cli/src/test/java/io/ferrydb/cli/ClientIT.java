package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Hlc;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Record;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.BatchResult;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.NodeInfo;
import io.ferrydb.client.ScanListener;
import io.ferrydb.client.ScanOptions;
import io.ferrydb.client.WriteOperation;
import io.ferrydb.client.WriteResult;
import io.ferrydb.server.FerryNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@link FerryClient} call, sync and async, against one real node process:
 * write policies, generations, projections, deletes and tombstones, TTL, batches,
 * scans with progress and ranges, info and every value type.
 */
class ClientIT {
    private static final String NS = "test";

    @TempDir
    static Path tmp;
    private static ServerProcess server;
    private static FerryClient client;

    @BeforeAll
    static void startServer() {
        server = ServerProcess.start("client-it", tmp.resolve("data"));
        client = FerryClient.connect(new ClientConfig("127.0.0.1", server.grpcPort(), 10_000, 512));
    }

    @AfterAll
    static void stopServer() {
        try {
            if (client != null) {
                client.close();
            }
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    private static Key key(String set, String k) {
        return Key.of(NS, set, k);
    }

    private static FerryException assertFails(ErrorCode code, String messagePart, Executable call) {
        FerryException e = assertThrows(FerryException.class, call);
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.reason().contains(messagePart), "message should contain '" + messagePart + "': " + e.reason());
        return e;
    }

    /** Unwraps an async failure: it must be a FerryException, as FerryAsyncClient promises. */
    private static FerryException asyncFailure(CompletableFuture<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(15, TimeUnit.SECONDS));
        return assertInstanceOf(FerryException.class, e.getCause(), "async failures are FerryExceptions");
    }

    // ---- put and write policies ----

    /**
     * Pipelined without waiting: put then get (and put, delete, exists) of the same key
     * travel in the same messages; writes go through the storage threads, reads must
     * still see every write sent before them on the session.
     */
    @Test
    void pipelinedReadsSeeEarlierWritesOfTheSameSession() throws Exception {
        List<CompletableFuture<Record>> gets = new ArrayList<>();
        List<CompletableFuture<Boolean>> existsAfterDelete = new ArrayList<>();
        int n = 2000;
        for (int i = 0; i < n; i++) {
            Key k = Key.of(NS, "order", "k" + i);
            client.async().put(WritePolicy.DEFAULT.withDurability(i % 2 == 0 ? Durability.ASYNC : Durability.SYNC), k, Map.of("v", i));
            gets.add(client.async().get(k));
            if (i % 10 == 0) {
                client.async().delete(WritePolicy.DEFAULT.withDurability(Durability.ASYNC), k);
                existsAfterDelete.add(client.async().exists(k));
            }
        }
        for (int i = 0; i < n; i++) {
            Record r = gets.get(i).get(10, TimeUnit.SECONDS);
            assertNotNull(r, "get right after put of k" + i);
            assertEquals((long) i, r.binJava("v"), "k" + i);
        }
        for (CompletableFuture<Boolean> e : existsAfterDelete) {
            assertFalse(e.get(10, TimeUnit.SECONDS), "exists right after delete");
        }
    }

    @Test
    void upsertCreatesThenMergesBins() {
        Key k = key("policy", "upsert");
        WriteResult w1 = client.put(k, Map.of("a", 1, "b", "x"));
        assertEquals(1, w1.generation());
        assertEquals(1, w1.epoch());
        assertTrue(w1.lsn() >= 1);
        assertTrue(w1.hlc() > 0);
        WriteResult w2 = client.put(k, Map.of("b", "y", "c", true));
        assertEquals(2, w2.generation());
        assertTrue(w2.lsn() > w1.lsn(), "same partition, later write, larger lsn");
        assertTrue(w2.hlc() > w1.hlc(), "hlc increases");
        Record r = client.get(k);
        assertEquals(Map.of("a", Value.of(1), "b", Value.of("y"), "c", Value.of(true)), r.bins());
        assertEquals(2, r.generation());
        assertEquals(w2.hlc(), r.lastUpdateHlc());
        assertEquals(k, r.key());
        assertEquals(0, r.expiresAtMs());
    }

    @Test
    void createOnlyFailsWithAlreadyExistsOnALiveRecord() {
        Key k = key("policy", "create-only");
        WritePolicy createOnly = WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY);
        assertEquals(1, client.put(createOnly, k, Map.of("a", 1)).generation());
        assertFails(ErrorCode.ALREADY_EXISTS, "CREATE_ONLY", () -> client.put(createOnly, k, Map.of("a", 2)));
        assertEquals(1L, client.get(k).binJava("a"), "a refused write changes nothing");
        assertEquals(1, client.get(k).generation());
    }

    @Test
    void updateOnlyMergesIntoExistingAndFailsOnMissing() {
        Key k = key("policy", "update-only");
        WritePolicy updateOnly = WritePolicy.DEFAULT.withExists(RecordExistsAction.UPDATE_ONLY);
        assertFails(ErrorCode.NOT_FOUND, "UPDATE_ONLY", () -> client.put(updateOnly, k, Map.of("a", 1)));
        assertNull(client.get(k), "a refused update creates nothing");
        client.put(k, Map.of("a", 1, "b", 2));
        assertEquals(2, client.put(updateOnly, k, Map.of("b", 3)).generation());
        assertEquals(Map.of("a", Value.of(1), "b", Value.of(3)), client.get(k).bins());
    }

    @Test
    void replaceDropsOldBinsAndCreatesWhenMissing() {
        Key k = key("policy", "replace");
        WritePolicy replace = WritePolicy.DEFAULT.withExists(RecordExistsAction.REPLACE);
        assertEquals(1, client.put(replace, k, Map.of("a", 1, "b", 2)).generation());
        assertEquals(2, client.put(replace, k, Map.of("c", 3)).generation());
        assertEquals(Map.of("c", Value.of(3)), client.get(k).bins());
    }

    @Test
    void replaceOnlyReplacesExistingAndFailsOnMissing() {
        Key k = key("policy", "replace-only");
        WritePolicy replaceOnly = WritePolicy.DEFAULT.withExists(RecordExistsAction.REPLACE_ONLY);
        assertFails(ErrorCode.NOT_FOUND, "REPLACE_ONLY", () -> client.put(replaceOnly, k, Map.of("a", 1)));
        assertNull(client.get(k));
        client.put(k, Map.of("a", 1, "b", 2));
        assertEquals(2, client.put(replaceOnly, k, Map.of("z", "only")).generation());
        assertEquals(Map.of("z", Value.of("only")), client.get(k).bins());
    }

    @Test
    void expectedGenerationIsChecked() {
        Key k = key("policy", "generation");
        WritePolicy gen1 = WritePolicy.DEFAULT.withExpectedGeneration(1);
        assertFails(ErrorCode.FAILED_PRECONDITION, "policy.expected_generation", () -> client.put(gen1, k, Map.of("a", 0)));
        client.put(k, Map.of("a", 1));
        assertEquals(2, client.put(gen1, k, Map.of("a", 2)).generation());
        FerryException e = assertFails(ErrorCode.FAILED_PRECONDITION, "policy.expected_generation", () -> client.put(gen1, k, Map.of("a", 3)));
        assertTrue(e.reason().contains("generation is 2"), e.reason());
        assertEquals(2L, client.get(k).binJava("a"));
        // Deletes check the generation too.
        assertFails(ErrorCode.FAILED_PRECONDITION, "policy.expected_generation", () -> client.delete(gen1, k));
        assertTrue(client.delete(WritePolicy.DEFAULT.withExpectedGeneration(2), k));
        assertNull(client.get(k));
    }

    @Test
    void syncAndAsyncDurabilityBothAcknowledgeAndPersist() {
        Key s = key("policy", "durable-sync");
        Key a = key("policy", "durable-async");
        client.put(WritePolicy.DEFAULT.withDurability(Durability.SYNC), s, Map.of("v", 1));
        client.put(WritePolicy.DEFAULT.withDurability(Durability.ASYNC), a, Map.of("v", 2));
        assertEquals(1L, client.get(s).binJava("v"));
        assertEquals(2L, client.get(a).binJava("v"));
    }

    @Test
    void clientSideValidationNamesTheField() {
        Key k = key("policy", "nulls");
        Map<String, Object> withNull = new LinkedHashMap<>();
        withNull.put("ok", 1);
        withNull.put("bad", null);
        assertFails(ErrorCode.INVALID_ARGUMENT, "bins.bad", () -> client.put(k, withNull));
        assertFails(ErrorCode.INVALID_ARGUMENT, "bins must not be empty", () -> client.put(k, Map.of()));
        assertFails(ErrorCode.INVALID_ARGUMENT, "unsupported value type", () -> client.put(k, Map.of("x", new Object())));
        assertNull(client.get(k));
    }

    // ---- get, exists, delete ----

    @Test
    void getProjectsBinsAndIgnoresUnknownNames() {
        Key k = key("get", "projection");
        client.put(k, Map.of("a", 1, "b", 2, "c", 3));
        Record ac = client.get(k, "a", "c");
        assertEquals(Map.of("a", Value.of(1), "c", Value.of(3)), ac.bins());
        assertEquals(1, ac.generation(), "metadata comes with a projection");
        Record unknown = client.get(k, "nope");
        assertNotNull(unknown, "the record exists even if no projected bin does");
        assertTrue(unknown.bins().isEmpty(), unknown.bins().toString());
        assertEquals(1, unknown.generation());
        Record mixed = client.get(k, "b", "nope");
        assertEquals(Map.of("b", Value.of(2)), mixed.bins());
        assertFails(ErrorCode.INVALID_ARGUMENT, "bins[1]", () -> client.get(k, "a", ""));
        assertNull(client.get(key("get", "never-written")));
        assertNull(client.get(key("get", "never-written"), "a"));
    }

    @Test
    void deleteLeavesNoVisibleRecordAndRecreateStartsAtGenerationOne() {
        Key k = key("del", "victim");
        client.put(k, Map.of("a", 1));
        client.put(k, Map.of("a", 2));
        assertTrue(client.exists(k));
        assertTrue(client.delete(k), "delete of a live record says it existed");
        assertNull(client.get(k));
        assertFalse(client.exists(k));
        assertFalse(client.delete(k), "second delete finds nothing");
        assertFalse(client.delete(key("del", "never-written")));
        long seen = client.scan(ScanOptions.of(NS, "del"), r -> {
            throw new AssertionError("tombstone visible in scan: " + r);
        });
        assertEquals(0, seen);
        BatchResult br = client.batchGet(List.of(k)).get(0);
        assertEquals(ErrorCode.NOT_FOUND, br.error(), "tombstone not visible to batch get");
        // Create-only succeeds on a tombstone, and the new record starts over at generation 1.
        WriteResult again = client.put(WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY), k, Map.of("b", 9));
        assertEquals(1, again.generation());
        assertEquals(Map.of("b", Value.of(9)), client.get(k).bins(), "no bins survive from before the delete");
    }

    @Test
    void ttlRecordDisappears() throws Exception {
        Key k = key("ttl", "short");
        Key forever = key("ttl", "forever");
        WriteResult w = client.put(WritePolicy.DEFAULT.withTtlSeconds(1), k, Map.of("a", 1));
        client.put(WritePolicy.DEFAULT.withTtlSeconds(WritePolicy.TTL_NEVER_EXPIRE), forever, Map.of("a", 1));
        // The server computes the expiry from its wall clock at the write, which the HLC carries.
        long writtenAtMs = Hlc.physicalMs(w.hlc());
        Record r = client.get(k);
        assertNotNull(r);
        long ttlMs = r.expiresAtMs() - writtenAtMs;
        assertTrue(ttlMs >= 995 && ttlMs <= 1005, "expiresAtMs " + r.expiresAtMs() + " should be the write time + 1000 ms, is + " + ttlMs);
        assertEquals(0, client.get(forever).expiresAtMs());
        // TTL -2 keeps the current expiry.
        client.put(WritePolicy.DEFAULT.withTtlSeconds(WritePolicy.TTL_DONT_UPDATE), k, Map.of("b", 2));
        assertEquals(r.expiresAtMs(), client.get(k).expiresAtMs(), "ttl -2 keeps the expiry");
        // Same machine, same wall clock: wait until 1.2 s after the write.
        long sleepMs = writtenAtMs + 1200 - System.currentTimeMillis();
        if (sleepMs > 0) {
            Thread.sleep(sleepMs);
        }
        assertNull(client.get(k), "expired record visible 1.2 s after a 1 s ttl");
        assertFalse(client.exists(k));
        assertEquals(ErrorCode.NOT_FOUND, client.batchGet(List.of(k)).get(0).error());
        assertNotNull(client.get(forever));
        assertFalse(client.delete(k), "deleting an expired record finds nothing");
        assertEquals(1, client.put(k, Map.of("c", 3)).generation(), "an expired record is re-created at generation 1");
        assertEquals(Map.of("c", Value.of(3)), client.get(k).bins(), "no bins survive expiry");
    }

    // ---- async ----

    @Test
    void asyncCallsMatchSyncCalls() throws Exception {
        Key k = key("async", "a1");
        WriteResult w = client.async().put(WritePolicy.DEFAULT, k, Map.of("a", 1)).get(10, TimeUnit.SECONDS);
        assertEquals(1, w.generation());
        Record r = client.async().get(k).get(10, TimeUnit.SECONDS);
        assertEquals(Map.of("a", Value.of(1)), r.bins());
        assertEquals(Map.of(), client.async().get(k, "zz").get(10, TimeUnit.SECONDS).bins());
        assertTrue(client.async().exists(k).get(10, TimeUnit.SECONDS));
        assertNull(client.async().get(key("async", "missing")).get(10, TimeUnit.SECONDS), "missing record completes with null");
        assertFalse(client.async().exists(key("async", "missing")).get(10, TimeUnit.SECONDS));

        FerryException exists = asyncFailure(client.async().put(WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY), k, Map.of("a", 2)));
        assertEquals(ErrorCode.ALREADY_EXISTS, exists.code());
        FerryException gen = asyncFailure(client.async().put(WritePolicy.DEFAULT.withExpectedGeneration(7), k, Map.of("a", 2)));
        assertEquals(ErrorCode.FAILED_PRECONDITION, gen.code());
        FerryException badNs = asyncFailure(client.async().get(Key.of("nope", "s", "k")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, badNs.code());
        assertTrue(badNs.reason().contains("key.namespace"), badNs.reason());
        FerryException badBin = asyncFailure(client.async().put(WritePolicy.DEFAULT, k, Map.of("this-name-is-too-long", 1)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, badBin.code());
        assertTrue(badBin.reason().contains("bins[0].name"), badBin.reason());

        assertTrue(client.async().delete(WritePolicy.DEFAULT, k).get(10, TimeUnit.SECONDS));
        assertFalse(client.async().delete(WritePolicy.DEFAULT, k).get(10, TimeUnit.SECONDS));

        // Many pipelined puts on one session, answered by id.
        List<CompletableFuture<WriteResult>> fs = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            fs.add(client.async().put(WritePolicy.DEFAULT.withDurability(i % 2 == 0 ? Durability.SYNC : Durability.ASYNC),
                    key("async", "p" + i), Map.of("i", i)));
        }
        for (CompletableFuture<WriteResult> f : fs) {
            assertEquals(1, f.get(10, TimeUnit.SECONDS).generation());
        }
        List<CompletableFuture<Record>> gets = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            gets.add(client.async().get(key("async", "p" + i)));
        }
        for (int i = 0; i < 1000; i++) {
            assertEquals((long) i, gets.get(i).get(10, TimeUnit.SECONDS).binJava("i"), "answer matched to its request");
        }
    }

    @Test
    void callsToAServerThatNeverAnswersFailWithDeadlineExceeded() throws Exception {
        // Accepts TCP connections (kernel backlog) but never speaks HTTP/2.
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", silent.getLocalPort(), 300, 512));
            try {
                Key k = key("silent", "k");
                WritePolicy p = WritePolicy.DEFAULT;
                assertAll(
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.put(k, Map.of("a", 1))).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.get(k)).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.exists(k)).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.delete(k)).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.info()).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertThrows(FerryException.class, () -> c.batchGet(List.of(k))).code()),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED,
                                assertThrows(FerryException.class, () -> c.batchWrite(List.of(WriteOperation.delete(k)))).code()),
                        // FerryAsyncClient: "Futures fail with FerryException" - timeouts included.
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, asyncFailure(c.async().get(k)).code(), "async get"),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, asyncFailure(c.async().put(p, k, Map.of("a", 1))).code(), "async put"),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, asyncFailure(c.async().exists(k)).code(), "async exists"),
                        () -> assertEquals(ErrorCode.DEADLINE_EXCEEDED, asyncFailure(c.async().delete(p, k)).code(), "async delete"));
            } finally {
                c.close();
            }
        }
    }

    // ---- batches ----

    @Test
    void batchGetReportsMissingKeysInPlace() {
        Key a = key("batch", "a");
        Key b = key("batch", "b");
        Key missing = key("batch", "missing");
        client.put(a, Map.of("n", 1, "m", "x"));
        client.put(b, Map.of("n", 2, "m", "y"));
        List<BatchResult> rs = client.batchGet(List.of(a, missing, b));
        assertEquals(3, rs.size());
        assertTrue(rs.get(0).ok());
        assertEquals(a, rs.get(0).record().key());
        assertEquals(1L, rs.get(0).record().binJava("n"));
        assertFalse(rs.get(1).ok());
        assertEquals(ErrorCode.NOT_FOUND, rs.get(1).error());
        assertNull(rs.get(1).record());
        assertTrue(rs.get(1).message().contains("gets[1]"), rs.get(1).message());
        assertTrue(rs.get(2).ok());
        assertEquals(2L, rs.get(2).record().binJava("n"));
        // With a projection.
        List<BatchResult> projected = client.batchGet(List.of(a, b), "m");
        assertEquals(Map.of("m", Value.of("x")), projected.get(0).record().bins());
        assertEquals(Map.of("m", Value.of("y")), projected.get(1).record().bins());
        assertTrue(client.batchGet(List.of()).isEmpty());
        // A bad key fails its own entry only.
        List<BatchResult> withBad = client.batchGet(List.of(a, Key.of("nope", "batch", "x")));
        assertTrue(withBad.get(0).ok());
        assertEquals(ErrorCode.INVALID_ARGUMENT, withBad.get(1).error());
        assertTrue(withBad.get(1).message().contains("gets[1]: key.namespace"), withBad.get(1).message());
    }

    @Test
    void batchWriteFailsOnlyTheBadOperation() {
        Key existing = key("bw", "existing");
        client.put(existing, Map.of("a", 1));
        Key p1 = key("bw", "p1");
        Key p2 = key("bw", "p2");
        Key bad = key("bw", "bad");
        Key absent = key("bw", "absent");
        List<BatchResult> rs = client.batchWrite(List.of(
                WriteOperation.put(p1, Map.of("v", 1)),
                WriteOperation.delete(existing),
                WriteOperation.put(bad, Map.of("", 1)),
                WriteOperation.delete(absent),
                WriteOperation.put(WritePolicy.DEFAULT.withExists(RecordExistsAction.UPDATE_ONLY), p2, Map.of("v", 2)),
                WriteOperation.put(WritePolicy.DEFAULT.withDurability(Durability.ASYNC), p2, Map.of("v", 3))));
        assertEquals(6, rs.size());
        assertTrue(rs.get(0).ok(), String.valueOf(rs.get(0)));
        assertEquals(1, rs.get(0).write().generation());
        assertTrue(rs.get(1).ok());
        assertTrue(rs.get(1).existed(), "delete of a live record");
        assertEquals(2, rs.get(1).write().generation(), "a tombstone takes the next generation");
        assertEquals(ErrorCode.INVALID_ARGUMENT, rs.get(2).error());
        assertTrue(rs.get(2).message().contains("ops[2]") && rs.get(2).message().contains("bins[0].name"), rs.get(2).message());
        assertTrue(rs.get(3).ok());
        assertFalse(rs.get(3).existed(), "delete of a missing record");
        assertEquals(ErrorCode.NOT_FOUND, rs.get(4).error(), "update-only of a missing record");
        assertTrue(rs.get(4).message().contains("ops[4]"), rs.get(4).message());
        assertTrue(rs.get(5).ok());
        assertEquals(Map.of("v", Value.of(1)), client.get(p1).bins());
        assertNull(client.get(existing));
        assertNull(client.get(bad));
        assertEquals(Map.of("v", Value.of(3)), client.get(p2).bins());
        assertTrue(client.batchWrite(List.of()).isEmpty());
    }

    // ---- scan ----

    @Test
    void scanOfASetCountsExactlyAndReportsProgress() {
        int n = 1500;
        Set<Key> written = writeSet("scan-all", n);
        client.put(key("scan-other", "x"), Map.of("a", 1));
        Set<Key> seen = new HashSet<>();
        List<int[]> progress = new ArrayList<>();
        long[] lastSent = {-1};
        long received = client.scan(ScanOptions.of(NS, "scan-all"), new ScanListener() {
            @Override
            public boolean onRecord(Record r) {
                assertEquals("scan-all", r.key().set());
                assertTrue(seen.add(r.key()), "duplicate " + r.key());
                assertEquals(r.key().userKey(), "k" + r.binJava("i"), "bins belong to their key");
                return true;
            }

            @Override
            public void onProgress(int done, int total, long sent) {
                progress.add(new int[] {done, total});
                assertTrue(sent >= lastSent[0], "records_sent never decreases");
                assertEquals(seen.size(), sent, "progress counts the records already delivered");
                lastSent[0] = sent;
            }
        });
        assertEquals(n, received);
        assertEquals(written, seen);
        assertFalse(progress.isEmpty());
        int[] last = progress.get(progress.size() - 1);
        assertArrayEquals(new int[] {4096, 4096}, last, "progress reaches 4096/4096");
        assertEquals(n, lastSent[0]);
        for (int i = 1; i < progress.size(); i++) {
            assertTrue(progress.get(i)[0] > progress.get(i - 1)[0], "partitions_done increases");
            assertEquals(4096, progress.get(i)[1]);
        }
        assertEquals(4096 / 64, progress.size(), "a progress report every 64 partitions plus the last");
        // Metadata only / projection.
        long projected = client.scan(ScanOptions.of(NS, "scan-all").bins(List.of("i")), r -> {
            assertEquals(Set.of("i"), r.bins().keySet());
            return true;
        });
        assertEquals(n, projected);
        // Every set: at least ours and the other one.
        Set<String> sets = new HashSet<>();
        client.scan(ScanOptions.of(NS, null), r -> sets.add(r.key().set()) || true);
        assertTrue(sets.containsAll(Set.of("scan-all", "scan-other")), sets.toString());
    }

    @Test
    void scanOfAPartitionRangeAndMaxRecords() {
        int n = 600;
        Set<Key> written = writeSet("scan-range", n);
        int begin = 1000;
        int end = 3000;
        Set<Key> expected = new HashSet<>();
        for (Key k : written) {
            if (k.partition() >= begin && k.partition() < end) {
                expected.add(k);
            }
        }
        Set<Key> seen = new HashSet<>();
        int[] lastProgress = {0, 0};
        long got = client.scan(ScanOptions.of(NS, "scan-range").partitions(begin, end), new ScanListener() {
            @Override
            public boolean onRecord(Record r) {
                int p = r.key().partition();
                assertTrue(p >= begin && p < end, "record of partition " + p + " outside [" + begin + ", " + end + ")");
                seen.add(r.key());
                return true;
            }

            @Override
            public void onProgress(int done, int total, long sent) {
                lastProgress[0] = done;
                lastProgress[1] = total;
            }
        });
        assertEquals(expected.size(), got);
        assertEquals(expected, seen);
        assertArrayEquals(new int[] {end - begin, end - begin}, lastProgress);

        // One partition.
        Key one = written.iterator().next();
        int p = one.partition();
        long inP = written.stream().filter(k -> k.partition() == p).count();
        assertEquals(inP, client.scan(ScanOptions.of(NS, "scan-range").partitions(p, p + 1), r -> true));

        // maxRecords stops the scan server-side at exactly that many.
        List<Record> limited = new ArrayList<>();
        long limitedCount = client.scan(ScanOptions.of(NS, "scan-range").maxRecords(7), r -> limited.add(r));
        assertEquals(7, limitedCount);
        assertEquals(7, limited.size());
        // The listener can stop the scan too.
        int[] taken = {0};
        long stopped = client.scan(ScanOptions.of(NS, "scan-range"), r -> ++taken[0] < 3);
        assertEquals(3, stopped);

        FerryException e = assertFails(ErrorCode.INVALID_ARGUMENT, "partition_end",
                () -> client.scan(ScanOptions.of(NS, "scan-range").partitions(10, 5), r -> true));
        assertNotNull(e);
        assertFails(ErrorCode.INVALID_ARGUMENT, "partition_begin",
                () -> client.scan(ScanOptions.of(NS, "scan-range").partitions(4096, 4097), r -> true));
        assertFails(ErrorCode.INVALID_ARGUMENT, "namespace", () -> client.scan(ScanOptions.of("nope", null), r -> true));
    }

    private static Set<Key> writeSet(String set, int n) {
        Set<Key> keys = new HashSet<>();
        List<WriteOperation> ops = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Key k = key(set, "k" + i);
            keys.add(k);
            ops.add(WriteOperation.put(WritePolicy.DEFAULT.withDurability(Durability.ASYNC), k, Map.of("i", i, "pad", "p".repeat(i % 40))));
        }
        for (BatchResult r : client.batchWrite(ops)) {
            assertTrue(r.ok(), r.message());
        }
        return keys;
    }

    // ---- info ----

    @Test
    void infoDescribesTheNodeAndCountsLogPositions() {
        NodeInfo i = client.info();
        assertEquals("client-it", i.nodeId());
        assertEquals(FerryNode.VERSION, i.version());
        assertEquals(server.hostPort(), i.grpcAddress());
        assertEquals("127.0.0.1:" + server.httpPort(), i.httpAddress());
        assertEquals(server.dataDir().toString(), i.dataDir());
        assertTrue(i.uptimeMs() > 0);
        assertTrue(i.hlc() > 0);
        assertEquals(1, i.namespaces().size());
        NodeInfo.Namespace ns = i.namespaces().get(0);
        assertEquals(NS, ns.name());
        assertEquals(1024 * 1024, ns.maxRecordSizeBytes());
        assertEquals("SYNC", ns.defaultDurability());
        assertEquals("ALL", ns.defaultCommitLevel());
        assertEquals(2, ns.replicationFactor());
        assertEquals(0, ns.defaultTtlSeconds());

        // One put of a new key adds exactly one log entry and one to the lsn sum
        // (other tests may run in between only if run in parallel, which they are not).
        NodeInfo.Namespace before = client.info().namespaces().get(0);
        WriteResult w = client.put(key("info", "one-more"), Map.of("a", 1));
        NodeInfo after = client.info();
        NodeInfo.Namespace ns2 = after.namespaces().get(0);
        assertEquals(before.lastLsnSum() + 1, ns2.lastLsnSum());
        assertEquals(before.logEntries() + 1, ns2.logEntries());
        assertTrue(ns2.logBytes() > before.logBytes());
        assertTrue(after.hlc() >= w.hlc(), "node hlc is at least the last write's");
        assertTrue(after.recordsEstimate() >= 1);
    }

    // ---- values ----

    @Test
    void everyValueTypeRoundTrips() throws Exception {
        byte[] allBytes = new byte[256];
        for (int i = 0; i < 256; i++) {
            allBytes[i] = (byte) i;
        }
        Map<String, Value> bins = new LinkedHashMap<>();
        bins.put("int-max", Value.of(Long.MAX_VALUE));
        bins.put("int-min", Value.of(Long.MIN_VALUE));
        bins.put("int-zero", Value.of(0));
        bins.put("float", Value.of(1.5));
        bins.put("float-neg0", Value.of(-0.0));
        bins.put("float-tiny", Value.of(Double.MIN_VALUE));
        bins.put("float-nan", Value.of(Double.NaN));
        bins.put("float-inf", Value.of(Double.NEGATIVE_INFINITY));
        bins.put("str", Value.of("hello"));
        bins.put("str-empty", Value.of(""));
        bins.put("str-uni", Value.of("héllo wörld ✓ 日本語 😀 עברית e\u0301 \u0000nul"));
        bins.put("bytes", Value.of(allBytes));
        bins.put("bytes-empty", Value.of(new byte[0]));
        bins.put("bool-t", Value.of(true));
        bins.put("bool-f", Value.of(false));
        bins.put("list", Value.from(List.of(1L, "two", 3.0, true, new byte[] {4}, List.of(), Map.of())));
        Map<Object, Object> map = new LinkedHashMap<>();
        map.put("s", "v");
        map.put(7L, List.of(1L, List.of(2L, List.of(3L))));
        map.put(true, Map.of("inner", Map.of("deeper", "😀")));
        map.put(new byte[] {9}, 2.5);
        bins.put("map", Value.from(map));
        bins.put("ünï", Value.of("unicode bin name"));
        Value deep = Value.of(1);
        for (int d = 0; d < Limits.VALUE_DEPTH_MAX; d++) {
            deep = Value.of(List.of(deep));
        }
        bins.put("deep", deep);

        Key k = Key.of(NS, "väl-üés 😀", "ключ-🔑");
        client.put(k, bins);
        Record r = client.get(k);
        assertEquals(bins, r.bins(), "sync round trip");
        assertEquals(k, r.key(), "unicode set and key round trip");
        assertEquals(bins, client.async().get(k).get(10, TimeUnit.SECONDS).bins(), "async round trip");
        assertEquals(bins, client.batchGet(List.of(k)).get(0).record().bins(), "batch round trip");
        List<Record> scanned = new ArrayList<>();
        client.scan(ScanOptions.of(NS, "väl-üés 😀"), scanned::add);
        assertEquals(1, scanned.size());
        assertEquals(bins, scanned.get(0).bins(), "scan round trip");
        assertEquals(k, scanned.get(0).key());
        // Bit-exact floats (record equality already treats NaN == NaN; check -0.0 explicitly).
        assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits((Double) r.binJava("float-neg0")));
        assertArrayEquals(allBytes, (byte[]) r.binJava("bytes"));
        assertEquals("héllo wörld ✓ 日本語 😀 עברית e\u0301 \u0000nul".getBytes(StandardCharsets.UTF_8).length,
                ((String) r.binJava("str-uni")).getBytes(StandardCharsets.UTF_8).length);

        // Long and bytes user keys.
        Key longKey = Key.of(NS, "keys", Long.MIN_VALUE);
        Key bytesKey = Key.of(NS, "keys", new byte[] {0, 1, (byte) 0xFF});
        Key zeroKey = Key.of(NS, "keys", 0L);
        client.put(longKey, Map.of("t", "long"));
        client.put(bytesKey, Map.of("t", "bytes"));
        client.put(zeroKey, Map.of("t", "zero"));
        assertEquals("long", client.get(longKey).binJava("t"));
        assertEquals("bytes", client.get(bytesKey).binJava("t"));
        assertEquals("zero", client.get(zeroKey).binJava("t"));
        assertEquals(bytesKey, client.get(bytesKey).key());
        assertNull(client.get(Key.of(NS, "keys", "0")), "string key \"0\" is not long key 0");
        Set<Key> keys = new HashSet<>();
        client.scan(ScanOptions.of(NS, "keys"), r2 -> keys.add(r2.key()));
        assertEquals(Set.of(longKey, bytesKey, zeroKey), keys);

        // One level deeper than the limit is refused, naming the bin.
        Value tooDeep = Value.of(List.of(deep));
        assertFails(ErrorCode.INVALID_ARGUMENT, "bins[0].value", () -> client.put(key("values", "deep"), Map.of("d", tooDeep)));
    }
}
