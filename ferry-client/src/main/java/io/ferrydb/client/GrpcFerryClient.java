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
import io.ferrydb.proto.PutRequest;
import io.ferrydb.proto.ScanRequest;
import io.ferrydb.proto.ScanResponse;
import io.ferrydb.proto.SessionRequest;
import io.ferrydb.proto.SessionResponse;
import io.ferrydb.proto.WriteAck;
import io.ferrydb.proto.WriteOp;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The gRPC implementation of {@link FerryClient}. */
final class GrpcFerryClient implements FerryClient {
    private final ClientConfig config;
    private final ManagedChannel[] channels;
    private final FerryGrpc.FerryStub[] stubs;
    private final FerryGrpc.FerryBlockingStub blocking;
    private final PipelinedSession[] sessions;
    /** Replaced (broken) sessions still holding requests: the sweeper expires them too. */
    private final java.util.Queue<PipelinedSession> retired = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.ScheduledExecutorService sweeper;
    private final FerryAsyncClient async = new Async();

    GrpcFerryClient(ClientConfig config) {
        this.config = config;
        int n = config.connections();
        this.channels = new ManagedChannel[n];
        this.stubs = new FerryGrpc.FerryStub[n];
        this.sessions = new PipelinedSession[n];
        for (int i = 0; i < n; i++) {
            channels[i] = NettyChannelBuilder.forAddress(config.host(), config.port())
                    .usePlaintext()
                    .directExecutor()
                    .maxInboundMessageSize(64 * 1024 * 1024)
                    .build();
            stubs[i] = FerryGrpc.newStub(channels[i]);
        }
        this.blocking = FerryGrpc.newBlockingStub(channels[0]);
        this.sweeper = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ferry-client-timeouts");
            t.setDaemon(true);
            return t;
        });
        long periodMs = Math.max(10, Math.min(100, config.requestTimeoutMs() / 10));
        sweeper.scheduleWithFixedDelay(() -> {
            for (int i = 0; i < sessions.length; i++) {
                PipelinedSession s = sessionAt(i);
                if (s != null) {
                    s.expire(System.nanoTime());
                }
            }
            retired.removeIf(s -> {
                s.expire(System.nanoTime());
                return s.idle();
            });
        }, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    private synchronized PipelinedSession sessionAt(int i) {
        return sessions[i];
    }

    /** The session of the key's partition: one key always travels on one connection, in order. */
    private PipelinedSession session(Key key) {
        int i = sessions.length == 1 ? 0 : key.partition() % sessions.length;
        PipelinedSession s = sessionAt(i);
        if (s == null || s.isBroken()) {
            synchronized (this) {
                s = sessions[i];
                if (s == null || s.isBroken()) {
                    if (s != null && !s.idle()) {
                        retired.add(s);
                    }
                    s = new PipelinedSession(stubs[i], config.maxRequestsPerMessage(), config.requestTimeoutMs());
                    sessions[i] = s;
                }
            }
        }
        return s;
    }

    private FerryGrpc.FerryBlockingStub blocking() {
        return blocking.withDeadlineAfter(config.requestTimeoutMs(), TimeUnit.MILLISECONDS);
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
        return session(key).call(SessionRequest.newBuilder().setPut(req)).thenApply(r -> result(r.getPut().getAck()));
    }

    @Override
    public CompletableFuture<Record> get(Key key, String... bins) {
        GetRequest req = GetRequest.newBuilder().setKey(Convert.toProto(key)).addAllBins(Arrays.asList(bins)).build();
        return session(key).call(SessionRequest.newBuilder().setGet(req)).handle((r, t) -> {
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
        return session(key).call(SessionRequest.newBuilder().setExists(ExistsRequest.newBuilder().setKey(Convert.toProto(key))))
                .thenApply(r -> r.getExists().getExists());
    }

    @Override
    public CompletableFuture<Boolean> delete(WritePolicy policy, Key key) {
        DeleteRequest req = DeleteRequest.newBuilder().setKey(Convert.toProto(key)).setPolicy(Convert.toProto(policy)).build();
        return session(key).call(SessionRequest.newBuilder().setDelete(req)).thenApply(r -> r.getDelete().getExisted());
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
        BatchGetRequest.Builder b = BatchGetRequest.newBuilder();
        for (Key k : keys) {
            b.addGets(GetRequest.newBuilder().setKey(Convert.toProto(k)).addAllBins(Arrays.asList(bins)));
        }
        BatchGetResponse resp = unary(() -> blocking().batchGet(b.build()));
        List<BatchResult> out = new ArrayList<>(resp.getResultsCount());
        for (BatchGetResult r : resp.getResultsList()) {
            if (r.getStatus() == 0) {
                out.add(new BatchResult(null, null, Convert.fromProto(r.getRecord()), null, true));
            } else {
                out.add(new BatchResult(Convert.errorCode(r.getStatus()), r.getMessage(), null, null, false));
            }
        }
        return out;
    }

    @Override
    public List<BatchResult> batchWrite(List<WriteOperation> ops) {
        BatchWriteRequest.Builder b = BatchWriteRequest.newBuilder();
        for (WriteOperation op : ops) {
            switch (op.kind()) {
                case PUT -> b.addOps(WriteOp.newBuilder().setPut(putRequest(op.policy(), op.key(), op.bins())));
                case DELETE -> b.addOps(WriteOp.newBuilder().setDelete(DeleteRequest.newBuilder()
                        .setKey(Convert.toProto(op.key())).setPolicy(Convert.toProto(op.policy()))));
            }
        }
        BatchWriteResponse resp = unary(() -> blocking().batchWrite(b.build()));
        List<BatchResult> out = new ArrayList<>(resp.getResultsCount());
        for (BatchWriteResult r : resp.getResultsList()) {
            if (r.getStatus() == 0) {
                out.add(new BatchResult(null, null, null, r.hasAck() ? result(r.getAck()) : null, r.getExisted()));
            } else {
                out.add(new BatchResult(Convert.errorCode(r.getStatus()), r.getMessage(), null, null, false));
            }
        }
        return out;
    }

    @Override
    public long scan(ScanOptions o, ScanListener listener) {
        ScanRequest req = ScanRequest.newBuilder().setNamespace(o.namespace()).setSet(o.set() == null ? "" : o.set())
                .setPartitionBegin(o.partitionBegin()).setPartitionEnd(o.partitionEnd()).addAllBins(o.bins())
                .setMaxRecords(o.maxRecords()).setMetadataOnly(o.metadataOnly()).build();
        // Scans can be long: no overall deadline, the server streams with flow control.
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        long received = 0;
        try {
            Iterator<ScanResponse> it = ctx.call(() -> blocking.scan(req));
            while (it.hasNext()) {
                ScanResponse r = it.next();
                if (r.hasRecord()) {
                    received++;
                    if (!listener.onRecord(Convert.fromProto(r.getRecord()))) {
                        break;
                    }
                } else if (r.hasProgress()) {
                    listener.onProgress(r.getProgress().getPartitionsDone(), r.getProgress().getPartitionsTotal(),
                            r.getProgress().getRecordsSent());
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
        InfoResponse r = unary(() -> blocking().info(InfoRequest.getDefaultInstance()));
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
        sweeper.shutdownNow();
        for (int i = 0; i < sessions.length; i++) {
            PipelinedSession s = sessionAt(i);
            if (s != null) {
                s.close();
            }
        }
        for (ManagedChannel channel : channels) {
            channel.shutdown();
        }
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            for (ManagedChannel channel : channels) {
                if (!channel.awaitTermination(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    channel.shutdownNow();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            for (ManagedChannel channel : channels) {
                channel.shutdownNow();
            }
        }
    }
}
