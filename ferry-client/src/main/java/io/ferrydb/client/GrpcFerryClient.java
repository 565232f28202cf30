package io.ferrydb.client;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.proto.BatchGetRequest;
import io.ferrydb.proto.BatchGetResponse;
import io.ferrydb.proto.BatchGetResult;
import io.ferrydb.proto.BatchWriteRequest;
import io.ferrydb.proto.BatchWriteResponse;
import io.ferrydb.proto.BatchWriteResult;
import io.ferrydb.proto.Convert;
import io.ferrydb.proto.DeleteRequest;
import io.ferrydb.proto.ExistsRequest;
import io.ferrydb.proto.FerryGrpc;
import io.ferrydb.proto.GetRequest;
import io.ferrydb.proto.InfoRequest;
import io.ferrydb.proto.InfoResponse;
import io.ferrydb.proto.NamespaceInfo;
import io.ferrydb.proto.PartitionMapRequest;
import io.ferrydb.proto.PartitionMapResponse;
import io.ferrydb.proto.PutRequest;
import io.ferrydb.proto.ScanRequest;
import io.ferrydb.proto.ScanResponse;
import io.ferrydb.proto.SessionRequest;
import io.ferrydb.proto.SessionResponse;
import io.ferrydb.proto.WriteAck;
import io.ferrydb.proto.WriteOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The gRPC implementation of {@link FerryClient}. It fetches the cluster's partition
 * map from the seed node, sends each key to its partition's master, refreshes the map
 * when a node answers NOT_MASTER or cannot be reached, and retries within a bounded
 * budget: any call after NOT_MASTER (the request was not executed), reads also after
 * UNAVAILABLE. A write whose node vanished fails UNAVAILABLE (it may or may not have
 * been applied) and the next call goes by the refreshed map.
 */
final class GrpcFerryClient implements FerryClient {
    private static final long REFRESH_MIN_INTERVAL_MS = 20;
    private static final long MAP_TIMEOUT_MS = 2_000;

    private final ClientConfig config;
    private final NodeConnection seed;
    private final Map<String, NodeConnection> nodes = new ConcurrentHashMap<>();
    private final ScheduledExecutorService sweeper;
    /** Runs map refreshes and delayed retries, off the transport threads. */
    private final ScheduledExecutorService router;
    /** Fetches the partition map for retrying calls, one fetch at a time (see requestRefresh). */
    private final java.util.concurrent.ExecutorService refresher;
    private final FerryAsyncClient async = new Async();
    private volatile Routing routing = Routing.NONE;
    private volatile boolean closed;
    private final Object refreshLock = new Object();
    private long lastRefreshMs = Long.MIN_VALUE / 2;

    GrpcFerryClient(ClientConfig config) {
        this.config = config;
        this.seed = new NodeConnection(config.address(), config);
        nodes.put(seed.address(), seed);
        this.sweeper = Executors.newSingleThreadScheduledExecutor(daemon("ferry-client-timeouts"));
        this.router = Executors.newSingleThreadScheduledExecutor(daemon("ferry-client-router"));
        this.refresher = Executors.newSingleThreadExecutor(daemon("ferry-client-map"));
        long periodMs = Math.max(10, Math.min(100, config.requestTimeoutMs() / 10));
        sweeper.scheduleWithFixedDelay(() -> {
            long now = System.nanoTime();
            for (NodeConnection c : nodes.values()) {
                c.expire(now);
            }
        }, periodMs, periodMs, TimeUnit.MILLISECONDS);
        // A node outside any cluster (or not answering yet) leaves the map empty: calls go to the seed.
        refreshRouting(true);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    // ---- routing ----

    private NodeConnection connection(String address) {
        if (address == null) {
            return seed;
        }
        NodeConnection c = nodes.get(address);
        if (c != null) {
            return c;
        }
        synchronized (nodes) {
            return nodes.computeIfAbsent(address, a -> new NodeConnection(a, config));
        }
    }

    private NodeConnection route(Key key) {
        return connection(routing.master(key));
    }

    /**
     * Fetches the partition map from the known nodes (the seed last), at most every
     * {@value #REFRESH_MIN_INTERVAL_MS} ms unless forced; keeps the newer of what it
     * has and what it got.
     */
    void refreshRouting(boolean force) {
        synchronized (refreshLock) {
            long now = System.currentTimeMillis();
            if (!force && now - lastRefreshMs < REFRESH_MIN_INTERVAL_MS) {
                return;
            }
            lastRefreshMs = now;
            List<NodeConnection> order = new ArrayList<>(nodes.values());
            order.remove(seed);
            order.add(seed);
            for (NodeConnection c : order) {
                if (closed) {
                    return;
                }
                try {
                    PartitionMapResponse r = c.cluster(MAP_TIMEOUT_MS).partitionMap(PartitionMapRequest.getDefaultInstance());
                    Routing fetched = Routing.of(r);
                    synchronized (hintLock) {
                        if (fetched.version() >= routing.version()) {
                            routing = fetched;
                        }
                    }
                    return;
                } catch (RuntimeException e) {
                    // try the next node
                }
            }
        }
    }

    /**
     * NOT_MASTER and a refused connection mean the request was never executed, so any
     * call may go again; other failures of reads are retried too, writes are not (the
     * write may have been applied before the node vanished).
     */
    private boolean retryable(FerryException e, boolean idempotent) {
        return e.code() == ErrorCode.NOT_MASTER
                || e.code() == ErrorCode.UNAVAILABLE && neverSent(e)
                || idempotent && (e.code() == ErrorCode.UNAVAILABLE || e.code() == ErrorCode.DEADLINE_EXCEEDED);
    }

    /** The connection could not even be opened (nothing listens there any more). */
    private static boolean neverSent(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof java.net.ConnectException) {
                return true;
            }
        }
        return false;
    }

    /**
     * 10, 20, 40, 80, then every 100 ms: a partition moving to another master refuses calls
     * until the switch, which a longer wait would only follow later (retries of refused
     * calls cost the node a gate check; the Kafka producer's retry.backoff.ms is 100 too).
     */
    static long backoffMs(int attempt) {
        return Math.min(100, 10L << Math.min(attempt, 6));
    }

    /**
     * Runs a keyed call against the key's master, retrying within the budget. A failure
     * that is not retried still refreshes the map when it says the node is gone.
     */
    private <T> CompletableFuture<T> routed(Key key, boolean idempotent, java.util.function.Function<NodeConnection, CompletableFuture<T>> call) {
        CompletableFuture<T> result = new CompletableFuture<>();
        attempt(key, idempotent, call, result, 0, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.requestTimeoutMs()));
        return result;
    }

    private <T> void attempt(Key key, boolean idempotent, java.util.function.Function<NodeConnection, CompletableFuture<T>> call,
                             CompletableFuture<T> result, int attempt, long deadlineNs) {
        CompletableFuture<T> f;
        try {
            f = call.apply(route(key));
        } catch (RuntimeException e) {
            result.completeExceptionally(e);
            return;
        }
        f.whenComplete((v, t) -> {
            if (t == null) {
                result.complete(v);
                return;
            }
            FerryException fe = unwrap(t);
            long delay = backoffMs(attempt);
            if (fe instanceof io.ferrydb.api.NotMasterException nm && nm.master() != null && followHint(key, nm)) {
                // The refusing node named the partition's master in a newer epoch than the map's:
                // go there now. Waiting for a new map cost a handoff ~0.5 s (HandoffBenchmark).
                delay = 0;
            }
            boolean again = !closed && attempt < config.maxRetries() && retryable(fe, idempotent)
                    && System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delay) < deadlineNs;
            if (!again) {
                if (fe.code() == ErrorCode.UNAVAILABLE || fe.code() == ErrorCode.NOT_MASTER) {
                    scheduleRefresh(0);
                }
                result.completeExceptionally(fe);
                return;
            }
            try {
                // The map is fetched apart (one fetch at a time, shared by every retry); the retry
                // itself never waits behind it: fetching the map synchronously on the one router
                // thread queued every retrying call behind every fetch, seconds during a
                // decommission whose nodes answered slowly (HandoffBenchmark).
                requestRefresh();
                router.schedule(() -> attempt(key, idempotent, call, result, attempt + 1, deadlineNs), delay, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                result.completeExceptionally(fe);
            }
        });
    }

    private final java.util.concurrent.atomic.AtomicBoolean refreshing = new java.util.concurrent.atomic.AtomicBoolean();

    /** Routes the key's partition by a NOT_MASTER answer's hint when it is newer than the map; returns whether it did. */
    private boolean followHint(Key key, io.ferrydb.api.NotMasterException nm) {
        synchronized (hintLock) {
            Routing before = routing;
            Routing after = before.withMaster(key.namespace(), key.partition(), nm.master(), nm.epoch());
            if (after == before) {
                return false;
            }
            routing = after;
            return true;
        }
    }

    private final Object hintLock = new Object();

    /** Fetches the map on the refresher thread unless a fetch is already running. */
    private void requestRefresh() {
        if (!refreshing.compareAndSet(false, true)) {
            return;
        }
        try {
            refresher.execute(() -> {
                try {
                    refreshRouting(false);
                } finally {
                    refreshing.set(false);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            refreshing.set(false);
        }
    }

    private void scheduleRefresh(long delayMs) {
        try {
            router.schedule(() -> refreshRouting(false), delayMs, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // closed
        }
    }

    @Override
    public FerryAsyncClient async() {
        return async;
    }

    private final class Async implements FerryAsyncClient {

    @Override
    public CompletableFuture<WriteResult> put(WritePolicy policy, Key key, Map<String, ?> bins) {
        PutRequest req;
        try {
            req = putRequest(policy, key, bins);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return routed(key, false, c -> c.session(key).call(SessionRequest.newBuilder().setPut(req)))
                .thenApply(r -> result(r.getPut().getAck()));
    }

    @Override
    public CompletableFuture<Record> get(Key key, String... bins) {
        GetRequest req = GetRequest.newBuilder().setKey(Convert.toProto(key)).addAllBins(Arrays.asList(bins)).build();
        return routed(key, true, c -> c.session(key).call(SessionRequest.newBuilder().setGet(req))).handle((r, t) -> {
            if (t == null) {
                return Convert.fromProto(key, r.getGet().getRecord());
            }
            FerryException fe = unwrap(t);
            if (fe.code() == ErrorCode.NOT_FOUND) {
                return null;
            }
            throw fe;
        });
    }

    @Override
    public CompletableFuture<Boolean> exists(Key key) {
        ExistsRequest req = ExistsRequest.newBuilder().setKey(Convert.toProto(key)).build();
        return routed(key, true, c -> c.session(key).call(SessionRequest.newBuilder().setExists(req)))
                .thenApply(r -> r.getExists().getExists());
    }

    @Override
    public CompletableFuture<Boolean> delete(WritePolicy policy, Key key) {
        DeleteRequest req = DeleteRequest.newBuilder().setKey(Convert.toProto(key)).setPolicy(Convert.toProto(policy)).build();
        return routed(key, false, c -> c.session(key).call(SessionRequest.newBuilder().setDelete(req)))
                .thenApply(r -> r.getDelete().getExisted());
    }

    }

    // ---- sync ----

    @Override
    public WriteResult put(WritePolicy policy, Key key, Map<String, ?> bins) {
        return await(async().put(policy, key, bins));
    }

    @Override
    public Record get(Key key, String... bins) {
        return await(async().get(key, bins));
    }

    @Override
    public boolean exists(Key key) {
        return await(async().exists(key));
    }

    @Override
    public boolean delete(WritePolicy policy, Key key) {
        return await(async().delete(policy, key));
    }

    @Override
    public List<BatchResult> batchGet(List<Key> keys, String... bins) {
        List<GetRequest> gets = new ArrayList<>(keys.size());
        for (Key k : keys) {
            gets.add(GetRequest.newBuilder().setKey(Convert.toProto(k)).addAllBins(Arrays.asList(bins)).build());
        }
        return batched(keys, true, (c, idx) -> {
            BatchGetRequest.Builder b = BatchGetRequest.newBuilder();
            for (int i : idx) {
                b.addGets(gets.get(i));
            }
            BatchGetResponse resp = c.blocking().batchGet(b.build());
            List<BatchResult> out = new ArrayList<>(resp.getResultsCount());
            for (BatchGetResult r : resp.getResultsList()) {
                out.add(r.getStatus() == 0
                        ? new BatchResult(null, null, Convert.fromProto(r.getRecord()), null, true)
                        : new BatchResult(Convert.errorCode(r.getStatus()), r.getMessage(), null, null, false));
            }
            return out;
        });
    }

    @Override
    public List<BatchResult> batchWrite(List<WriteOperation> ops) {
        List<WriteOp> encoded = new ArrayList<>(ops.size());
        List<Key> keys = new ArrayList<>(ops.size());
        for (WriteOperation op : ops) {
            keys.add(op.key());
            encoded.add(switch (op.kind()) {
                case PUT -> WriteOp.newBuilder().setPut(putRequest(op.policy(), op.key(), op.bins())).build();
                case DELETE -> WriteOp.newBuilder().setDelete(DeleteRequest.newBuilder()
                        .setKey(Convert.toProto(op.key())).setPolicy(Convert.toProto(op.policy()))).build();
            });
        }
        return batched(keys, false, (c, idx) -> {
            BatchWriteRequest.Builder b = BatchWriteRequest.newBuilder();
            for (int i : idx) {
                b.addOps(encoded.get(i));
            }
            BatchWriteResponse resp = c.blocking().batchWrite(b.build());
            List<BatchResult> out = new ArrayList<>(resp.getResultsCount());
            for (BatchWriteResult r : resp.getResultsList()) {
                out.add(r.getStatus() == 0
                        ? new BatchResult(null, null, null, r.hasAck() ? result(r.getAck()) : null, r.getExisted())
                        : new BatchResult(Convert.errorCode(r.getStatus()), r.getMessage(), null, null, false));
            }
            return out;
        });
    }

    @Override
    public long bulkLoad(List<Key> keys, List<? extends Map<String, ?>> bins) {
        if (keys.size() != bins.size()) {
            throw FerryException.invalid("bins has %d entries for %d keys", bins.size(), keys.size());
        }
        List<io.ferrydb.proto.BulkRecord> records = new ArrayList<>(keys.size());
        for (int i = 0; i < keys.size(); i++) {
            PutRequest p = putRequest(WritePolicy.DEFAULT, keys.get(i), bins.get(i));
            records.add(io.ferrydb.proto.BulkRecord.newBuilder().setKey(p.getKey()).addAllBins(p.getBinsList()).build());
        }
        List<BatchResult> results = batched(keys, true, (c, idx) -> {
            io.ferrydb.proto.BulkLoadRequest.Builder b = io.ferrydb.proto.BulkLoadRequest.newBuilder();
            for (int i : idx) {
                b.addRecords(records.get(i));
            }
            c.blocking().bulkLoad(b.build());
            List<BatchResult> out = new ArrayList<>(idx.size());
            for (int i = 0; i < idx.size(); i++) {
                out.add(new BatchResult(null, null, null, null, false));
            }
            return out;
        });
        for (BatchResult r : results) {
            if (!r.ok()) {
                throw new FerryException(r.error(), r.message(), null);
            }
        }
        return keys.size();
    }

    /** One node's share of a batch: the indexes of its items, answered in that order. */
    private interface NodeBatch {
        List<BatchResult> call(NodeConnection node, List<Integer> indexes);
    }

    /**
     * Splits a batch by master, sends each node its share, and retries the items a node
     * refused (NOT_MASTER; for reads also an unreachable node) after refreshing the map.
     */
    private List<BatchResult> batched(List<Key> keys, boolean idempotent, NodeBatch call) {
        BatchResult[] results = new BatchResult[keys.size()];
        List<Integer> todo = new ArrayList<>(keys.size());
        for (int i = 0; i < keys.size(); i++) {
            todo.add(i);
        }
        long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.requestTimeoutMs());
        for (int attempt = 0; !todo.isEmpty(); attempt++) {
            Map<NodeConnection, List<Integer>> byNode = new java.util.LinkedHashMap<>();
            for (int i : todo) {
                byNode.computeIfAbsent(route(keys.get(i)), n -> new ArrayList<>()).add(i);
            }
            List<Integer> again = new ArrayList<>();
            FerryException lastError = null;
            for (Map.Entry<NodeConnection, List<Integer>> e : byNode.entrySet()) {
                List<Integer> idx = e.getValue();
                try {
                    List<BatchResult> part = call.call(e.getKey(), idx);
                    for (int j = 0; j < idx.size(); j++) {
                        BatchResult r = part.get(j);
                        results[idx.get(j)] = r;
                        if (!r.ok() && r.error() == ErrorCode.NOT_MASTER) {
                            again.add(idx.get(j));
                        }
                    }
                } catch (RuntimeException ex) {
                    FerryException fe = Convert.toFerryException(ex);
                    lastError = fe;
                    for (int i : idx) {
                        results[i] = new BatchResult(fe.code(), fe.reason(), null, null, false);
                        if (retryable(fe, idempotent)) {
                            again.add(i);
                        }
                    }
                }
            }
            long delay = backoffMs(attempt);
            if (again.isEmpty() || attempt >= config.maxRetries() || System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(delay) > deadlineNs) {
                if (!again.isEmpty() || lastError != null && lastError.code() == ErrorCode.UNAVAILABLE) {
                    scheduleRefresh(0);
                }
                if (lastError != null) {
                    // A node did not answer at all: the batch fails as a whole, like a single call,
                    // saying how much other nodes answered (a write there may have been applied).
                    int answered = 0;
                    for (BatchResult r : results) {
                        answered += r != null && (r.ok() || r.error() != lastError.code()) ? 1 : 0;
                    }
                    throw new FerryException(lastError.code(), lastError.reason()
                            + (answered > 0 ? " (" + answered + " of " + keys.size() + " items were answered by other nodes)" : ""), lastError);
                }
                break;
            }
            sleep(delay);
            refreshRouting(false);
            todo = again;
        }
        return Arrays.asList(results);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FerryException(ErrorCode.CANCELLED, "interrupted", e);
        }
    }

    /**
     * Scans the partitions of the range. With a partition map, each master is asked for
     * exactly the partitions it masters, one node after another; progress counts over
     * all of them. A scan that meets a change of master fails NOT_MASTER (no resume yet).
     */
    @Override
    public long scan(ScanOptions o, ScanListener listener) {
        ScanRequest.Builder base = ScanRequest.newBuilder().setNamespace(o.namespace()).setSet(o.set() == null ? "" : o.set())
                .addAllBins(o.bins()).setMaxRecords(o.maxRecords()).setMetadataOnly(o.metadataOnly());
        int begin = o.partitionBegin();
        int end = o.partitionEnd() == 0 ? io.ferrydb.api.Limits.PARTITION_COUNT : o.partitionEnd();
        Routing r = routing;
        if (!r.known(o.namespace()) || begin < 0 || end > io.ferrydb.api.Limits.PARTITION_COUNT || begin >= end) {
            // No map (or a range the server will reject with its own message): one node, as asked.
            return scanNode(seed, base.setPartitionBegin(o.partitionBegin()).setPartitionEnd(o.partitionEnd()).build(), listener, 0, end - begin, 0);
        }
        for (int attempt = 0; ; attempt++) {
            List<Integer> unserved = new ArrayList<>();
            for (int p = begin; p < end; p++) {
                if (r.master(o.namespace(), p) == null) {
                    unserved.add(p);
                }
            }
            if (unserved.isEmpty()) {
                break;
            }
            if (attempt >= config.maxRetries()) {
                throw new FerryException(ErrorCode.UNAVAILABLE, unserved.size() + " partitions of " + o.namespace()
                        + " have no serving master now, e.g. " + unserved.subList(0, Math.min(5, unserved.size())));
            }
            sleep(backoffMs(attempt));
            refreshRouting(true);
            r = routing;
        }
        Map<String, List<Integer>> byNode = new java.util.TreeMap<>();
        for (int p = begin; p < end; p++) {
            byNode.computeIfAbsent(r.master(o.namespace(), p), a -> new ArrayList<>()).add(p);
        }
        long received = 0;
        int done = 0;
        int total = end - begin;
        for (Map.Entry<String, List<Integer>> e : byNode.entrySet()) {
            long left = o.maxRecords() == 0 ? 0 : o.maxRecords() - received;
            if (o.maxRecords() != 0 && left <= 0) {
                break;
            }
            ScanRequest req = base.clone().setMaxRecords(left).addAllPartitions(e.getValue()).build();
            long got = scanNode(connection(e.getKey()), req, listener, done, total, received);
            if (got < 0) {
                return received - got - 1; // the listener stopped the scan
            }
            received += got;
            done += e.getValue().size();
        }
        return received;
    }

    /**
     * One node's scan; progress is reported shifted by what earlier nodes did. Returns the
     * records received, or {@code -(received + 1)} when the listener asked to stop.
     */
    private long scanNode(NodeConnection node, ScanRequest req, ScanListener listener, int doneBefore, int total, long sentBefore) {
        // Scans can be long: no overall deadline, the server streams with flow control.
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        long received = 0;
        try {
            Iterator<ScanResponse> it = ctx.call(() -> node.streaming().scan(req));
            while (it.hasNext()) {
                ScanResponse r = it.next();
                if (r.hasRecord()) {
                    received++;
                    if (!listener.onRecord(Convert.fromProto(r.getRecord()))) {
                        return -(received + 1);
                    }
                } else if (r.hasProgress()) {
                    listener.onProgress(doneBefore + r.getProgress().getPartitionsDone(), total,
                            sentBefore + r.getProgress().getRecordsSent());
                }
            }
        } catch (Exception e) {
            throw Convert.toFerryException(e);
        } finally {
            ctx.cancel(null);
        }
        return received;
    }

    @Override
    public NodeInfo info() {
        InfoResponse r = unary(() -> seed.blocking().info(InfoRequest.getDefaultInstance()));
        List<NodeInfo.Namespace> nss = new ArrayList<>();
        for (NamespaceInfo n : r.getNamespacesList()) {
            nss.add(new NodeInfo.Namespace(n.getName(), n.getReplicationFactor(), n.getDefaultTtlSeconds(),
                    n.getMaxRecordSizeBytes(), n.getLogEntries(), n.getLogBytes(), n.getLastLsnSum(),
                    n.getDefaultDurability(), n.getDefaultCommitLevel()));
        }
        return new NodeInfo(r.getNodeId(), r.getVersion(), r.getUptimeMs(), r.getGrpcAddress(), r.getHttpAddress(),
                r.getHlc(), r.getDataDir(), r.getRecordsEstimate(), nss);
    }

    // ---- helpers ----

    private static PutRequest putRequest(WritePolicy policy, Key key, Map<String, ?> bins) {
        PutRequest.Builder b = PutRequest.newBuilder().setKey(Convert.toProto(key)).setPolicy(Convert.toProto(policy));
        for (Map.Entry<String, ?> e : bins.entrySet()) {
            if (e.getValue() == null) {
                throw FerryException.invalid("bins.%s has a null value", e.getKey());
            }
            b.addBins(Convert.bin(e.getKey(), Value.from(e.getValue())));
        }
        return b.build();
    }

    private static WriteResult result(WriteAck a) {
        return new WriteResult(a.getEpoch(), a.getLsn(), a.getGeneration(), a.getHlc());
    }

    private static <T> T unary(java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (RuntimeException e) {
            throw Convert.toFerryException(e);
        }
    }

    private static FerryException unwrap(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        if (c instanceof TimeoutException) {
            return new FerryException(ErrorCode.DEADLINE_EXCEEDED, "no answer within the request timeout", c);
        }
        return Convert.toFerryException(c);
    }

    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FerryException(ErrorCode.CANCELLED, "interrupted", e);
        } catch (ExecutionException e) {
            throw unwrap(e);
        }
    }

    @Override
    public void close() {
        closed = true;
        sweeper.shutdownNow();
        router.shutdownNow();
        refresher.shutdownNow();
        List<NodeConnection> all = new ArrayList<>(nodes.values());
        for (NodeConnection c : all) {
            c.close();
        }
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            for (NodeConnection c : all) {
                c.awaitClosed(deadline);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            for (NodeConnection c : all) {
                c.closeNow();
            }
        }
    }
}
