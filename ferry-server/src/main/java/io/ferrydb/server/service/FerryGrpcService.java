package io.ferrydb.server.service;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Names;
import io.ferrydb.proto.BatchGetRequest;
import io.ferrydb.proto.BatchGetResponse;
import io.ferrydb.proto.BatchGetResult;
import io.ferrydb.proto.BatchWriteRequest;
import io.ferrydb.proto.BatchWriteResponse;
import io.ferrydb.proto.BatchWriteResult;
import io.ferrydb.proto.Convert;
import io.ferrydb.proto.DeleteRequest;
import io.ferrydb.proto.DeleteResponse;
import io.ferrydb.proto.ExistsRequest;
import io.ferrydb.proto.ExistsResponse;
import io.ferrydb.proto.FerryGrpc;
import io.ferrydb.proto.GetRequest;
import io.ferrydb.proto.GetResponse;
import io.ferrydb.proto.InfoRequest;
import io.ferrydb.proto.InfoResponse;
import io.ferrydb.proto.PutRequest;
import io.ferrydb.proto.PutResponse;
import io.ferrydb.proto.ScanProgress;
import io.ferrydb.proto.ScanRequest;
import io.ferrydb.proto.ScanResponse;
import io.ferrydb.proto.SessionRequests;
import io.ferrydb.proto.SessionResponses;
import io.ferrydb.proto.WriteOp;
import io.ferrydb.server.service.RequestMetrics.Op;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/** The gRPC face of a node: unary calls, batches, streaming scan, info and the pipelined session. */
public final class FerryGrpcService extends FerryGrpc.FerryImplBase {
    private static final Logger LOG = LoggerFactory.getLogger(FerryGrpcService.class);
    private static final int SCAN_PROGRESS_EVERY_PARTITIONS = 64;

    private final RequestHandler handler;
    private final RequestMetrics metrics;
    private final Supplier<InfoResponse> info;
    private final ExecutorService scanExecutor;
    private final int maxBatchSize;
    private final int sessionMaxInflight;
    final AtomicLong sessionsOpen = new AtomicLong();
    final AtomicLong sessionInflight = new AtomicLong();
    final java.util.concurrent.atomic.LongAdder sessionMessagesIn = new java.util.concurrent.atomic.LongAdder();
    final java.util.concurrent.atomic.LongAdder sessionMessagesOut = new java.util.concurrent.atomic.LongAdder();
    final java.util.concurrent.atomic.LongAdder sessionRequests = new java.util.concurrent.atomic.LongAdder();

    /** Binds the session counters: requests per message in each direction show how well batching works. */
    public void bindMetrics(io.micrometer.core.instrument.MeterRegistry registry) {
        io.micrometer.core.instrument.FunctionCounter.builder("ferry_session_messages_in", sessionMessagesIn, java.util.concurrent.atomic.LongAdder::sum)
                .description("pipelined-session messages received").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("ferry_session_messages_out", sessionMessagesOut, java.util.concurrent.atomic.LongAdder::sum)
                .description("pipelined-session messages sent").register(registry);
        io.micrometer.core.instrument.FunctionCounter.builder("ferry_session_requests", sessionRequests, java.util.concurrent.atomic.LongAdder::sum)
                .description("requests received on pipelined sessions").register(registry);
    }

    private final WritePipeline pipeline;

    public FerryGrpcService(RequestHandler handler, RequestMetrics metrics, Supplier<InfoResponse> info,
                            ExecutorService scanExecutor, int maxBatchSize, int sessionMaxInflight, WritePipeline pipeline) {
        this.pipeline = pipeline;
        this.handler = handler;
        this.metrics = metrics;
        this.info = info;
        this.scanExecutor = scanExecutor;
        this.maxBatchSize = maxBatchSize;
        this.sessionMaxInflight = sessionMaxInflight;
    }

    public long sessionsOpen() {
        return sessionsOpen.get();
    }

    public long sessionInflight() {
        return sessionInflight.get();
    }

    // ---- unary ----

    @Override
    public void put(PutRequest request, StreamObserver<PutResponse> out) {
        unary(Op.PUT, out, () -> handler.put(request));
    }

    @Override
    public void delete(DeleteRequest request, StreamObserver<DeleteResponse> out) {
        unary(Op.DELETE, out, () -> handler.delete(request));
    }

    @Override
    public void get(GetRequest request, StreamObserver<GetResponse> out) {
        unary(Op.GET, out, () -> CompletableFuture.completedFuture(handler.get(request)));
    }

    @Override
    public void exists(ExistsRequest request, StreamObserver<ExistsResponse> out) {
        unary(Op.EXISTS, out, () -> CompletableFuture.completedFuture(handler.exists(request)));
    }

    @Override
    public void info(InfoRequest request, StreamObserver<InfoResponse> out) {
        unary(Op.INFO, out, () -> CompletableFuture.completedFuture(info.get()));
    }

    @Override
    public void batchGet(BatchGetRequest request, StreamObserver<BatchGetResponse> out) {
        unary(Op.BATCH_GET, out, () -> {
            checkBatchSize("gets", request.getGetsCount());
            BatchGetResponse.Builder b = BatchGetResponse.newBuilder();
            for (int i = 0; i < request.getGetsCount(); i++) {
                try {
                    GetResponse r = handler.get(request.getGets(i));
                    b.addResults(BatchGetResult.newBuilder().setRecord(r.getRecord()));
                } catch (RuntimeException e) {
                    FerryException fe = RequestHandler.failure(e);
                    b.addResults(BatchGetResult.newBuilder().setStatus(statusCode(fe)).setMessage("gets[" + i + "]: " + fe.reason()));
                }
            }
            return CompletableFuture.completedFuture(b.build());
        });
    }

    @Override
    public void bulkLoad(io.ferrydb.proto.BulkLoadRequest request, StreamObserver<io.ferrydb.proto.BulkLoadResponse> out) {
        unary(Op.BULK_LOAD, out, () -> {
            if (request.getRecordsCount() > MAX_BULK_RECORDS) {
                throw new FerryException(io.ferrydb.api.ErrorCode.RESOURCE_EXHAUSTED,
                        "records has " + request.getRecordsCount() + " entries; at most " + MAX_BULK_RECORDS + " per request", null, false);
            }
            return handler.bulkLoad(request);
        });
    }

    private static final int MAX_BULK_RECORDS = 100_000;

    @Override
    public void batchWrite(BatchWriteRequest request, StreamObserver<BatchWriteResponse> out) {
        unary(Op.BATCH_WRITE, out, () -> {
            checkBatchSize("ops", request.getOpsCount());
            // Valid ops are applied as one storage batch; invalid ones fail on their own.
            List<CompletableFuture<BatchWriteResult>> results = new ArrayList<>(request.getOpsCount());
            List<RequestHandler.PreparedWrite> prepared = new ArrayList<>();
            List<Integer> preparedIndex = new ArrayList<>();
            for (int i = 0; i < request.getOpsCount(); i++) {
                WriteOp op = request.getOps(i);
                String field = "ops[" + i + "]";
                try {
                    prepared.add(switch (op.getOpCase()) {
                        case PUT -> handler.preparePut(op.getPut());
                        case DELETE -> handler.prepareDelete(op.getDelete());
                        case OP_NOT_SET -> throw FerryException.invalid("%s has neither put nor delete", field);
                    });
                    preparedIndex.add(i);
                    results.add(null);
                } catch (RuntimeException e) {
                    results.add(CompletableFuture.completedFuture(failed(field, e)));
                }
            }
            List<CompletableFuture<com.google.protobuf.Message>> committed = handler.commit(prepared);
            for (int j = 0; j < committed.size(); j++) {
                String field = "ops[" + preparedIndex.get(j) + "]";
                results.set(preparedIndex.get(j), committed.get(j).handle((m, t) -> t != null ? failed(field, t)
                        : m instanceof DeleteResponse d ? BatchWriteResult.newBuilder().setAck(d.getAck()).setExisted(d.getExisted()).build()
                        : BatchWriteResult.newBuilder().setAck(((PutResponse) m).getAck()).build()));
            }
            return CompletableFuture.allOf(results.toArray(new CompletableFuture[0])).thenApply(v -> {
                BatchWriteResponse.Builder b = BatchWriteResponse.newBuilder();
                for (CompletableFuture<BatchWriteResult> r : results) {
                    b.addResults(r.join());
                }
                return b.build();
            });
        });
    }

    private static BatchWriteResult failed(String field, Throwable t) {
        FerryException fe = RequestHandler.failure(t);
        return BatchWriteResult.newBuilder().setStatus(statusCode(fe)).setMessage(field + ": " + fe.reason()).build();
    }

    private void checkBatchSize(String field, int n) {
        if (n > maxBatchSize) {
            throw new FerryException(ErrorCode.RESOURCE_EXHAUSTED,
                    String.format("%s has %d entries; the limit is %d (max-batch-size)", field, n, maxBatchSize));
        }
    }

    private <T> void unary(Op op, StreamObserver<T> out, Supplier<CompletableFuture<T>> call) {
        long start = System.nanoTime();
        CompletableFuture<T> f;
        try {
            f = call.get();
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((resp, err) -> {
            if (err != null) {
                FerryException fe = RequestHandler.failure(err);
                logIfInternal(fe);
                metrics.record(op, start, fe.code());
                out.onError(Convert.toStatus(fe.code(), fe.reason()).asRuntimeException());
            } else {
                metrics.record(op, start, null);
                out.onNext(resp);
                out.onCompleted();
            }
        });
    }

    static int statusCode(FerryException fe) {
        return Convert.toStatus(fe.code(), fe.reason()).getCode().value();
    }

    static void logIfInternal(FerryException fe) {
        if (fe.code() == ErrorCode.INTERNAL) {
            LOG.error("internal error answering a request", fe);
        }
    }

    // ---- scan ----

    @Override
    public void scan(ScanRequest request, StreamObserver<ScanResponse> responseObserver) {
        ServerCallStreamObserver<ScanResponse> out = (ServerCallStreamObserver<ScanResponse>) responseObserver;
        long start = System.nanoTime();
        int[] partitions;
        Set<String> wanted;
        try {
            handler.store().namespace("namespace", request.getNamespace());
            if (!request.getSet().isEmpty()) {
                Names.checkSet("set", request.getSet());
            }
            partitions = scanPartitions(request);
            wanted = RequestHandler.projection("bins", request.getBinsList());
        } catch (RuntimeException e) {
            FerryException fe = RequestHandler.failure(e);
            metrics.record(Op.SCAN, start, fe.code());
            out.onError(Convert.toStatus(fe.code(), fe.reason()).asRuntimeException());
            return;
        }
        // Flow control: the scan thread waits for the transport to be ready, so a slow
        // reader holds back the scan instead of filling server memory.
        Semaphore ready = new Semaphore(0);
        out.setOnReadyHandler(ready::release);
        out.setOnCancelHandler(ready::release);
        Set<String> fWanted = wanted;
        scanExecutor.execute(() -> runScan(request, out, ready, partitions, fWanted, start));
    }

    /** The partitions a scan covers: the explicit list when given, else the range. */
    static int[] scanPartitions(ScanRequest request) {
        if (request.getPartitionsCount() > 0) {
            if (request.getPartitionBegin() != 0 || request.getPartitionEnd() != 0) {
                throw FerryException.invalid("partitions: give either a list of partitions or partition_begin/partition_end, not both");
            }
            int[] out = new int[request.getPartitionsCount()];
            java.util.BitSet seen = new java.util.BitSet(Limits.PARTITION_COUNT);
            for (int i = 0; i < out.length; i++) {
                int p = request.getPartitions(i);
                if (p < 0 || p >= Limits.PARTITION_COUNT) {
                    throw FerryException.invalid("partitions[%d] must be 0..%d, got %s", i, Limits.PARTITION_COUNT - 1, Integer.toUnsignedString(p));
                }
                if (seen.get(p)) {
                    throw FerryException.invalid("partitions[%d]: partition %d is listed twice", i, p);
                }
                seen.set(p);
                out[i] = p;
            }
            return out;
        }
        int begin = request.getPartitionBegin();
        int end = request.getPartitionEnd() == 0 ? Limits.PARTITION_COUNT : request.getPartitionEnd();
        if (begin < 0 || begin >= Limits.PARTITION_COUNT) {
            throw FerryException.invalid("partition_begin must be 0..%d, got %d", Limits.PARTITION_COUNT - 1, begin);
        }
        if (end <= begin || end > Limits.PARTITION_COUNT) {
            throw FerryException.invalid("partition_end must be %d..%d (or 0 for all), got %d", begin + 1, Limits.PARTITION_COUNT, request.getPartitionEnd());
        }
        int[] out = new int[end - begin];
        for (int i = 0; i < out.length; i++) {
            out[i] = begin + i;
        }
        return out;
    }

    private void runScan(ScanRequest request, ServerCallStreamObserver<ScanResponse> out, Semaphore ready,
                         int[] partitions, Set<String> wanted, long start) {
        String ns = request.getNamespace();
        String set = request.getSet().isEmpty() ? null : request.getSet();
        long max = request.getMaxRecords() == 0 ? Long.MAX_VALUE : request.getMaxRecords();
        long[] sent = {0};
        int total = partitions.length;
        int done = 0;
        try {
            for (int i = 0; i < partitions.length && sent[0] < max && !out.isCancelled(); i++) {
                int p = partitions[i];
                // A partition is served only by its master: a scan that reaches one this
                // node does not master fails NOT_MASTER, after the progress already sent.
                handler.admit(ns, p);
                handler.store().scan(ns, p, set, r -> {
                    if (!awaitReady(out, ready)) {
                        return false;
                    }
                    Key key = r.key(ns);
                    out.onNext(ScanResponse.newBuilder().setRecord(RequestHandler.toProto(key, r, wanted, request.getMetadataOnly())).build());
                    return ++sent[0] < max;
                });
                done = i + 1;
                if (done % SCAN_PROGRESS_EVERY_PARTITIONS == 0 && done < total && awaitReady(out, ready)) {
                    out.onNext(progress(done, total, sent[0], false));
                }
            }
            if (out.isCancelled()) {
                metrics.record(Op.SCAN, start, ErrorCode.CANCELLED);
                return;
            }
            // With max_records the scan may stop early: report the partitions actually covered.
            out.onNext(progress(done, total, sent[0], true));
            out.onCompleted();
            metrics.record(Op.SCAN, start, null);
        } catch (RuntimeException e) {
            FerryException fe = RequestHandler.failure(e);
            logIfInternal(fe);
            metrics.record(Op.SCAN, start, fe.code());
            if (!out.isCancelled()) {
                out.onError(Convert.toStatus(fe.code(), fe.reason()).asRuntimeException());
            }
        }
    }

    private static boolean awaitReady(ServerCallStreamObserver<?> out, Semaphore ready) {
        while (!out.isReady()) {
            if (out.isCancelled()) {
                return false;
            }
            try {
                ready.tryAcquire(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return !out.isCancelled();
    }

    private static ScanResponse progress(int done, int total, long sent, boolean finished) {
        return ScanResponse.newBuilder().setProgress(ScanProgress.newBuilder()
                .setPartitionsDone(done).setPartitionsTotal(total).setRecordsSent(sent).setDone(finished)).build();
    }

    // ---- session ----

    @Override
    public StreamObserver<SessionRequests> session(StreamObserver<SessionResponses> responseObserver) {
        sessionsOpen.incrementAndGet();
        return new Session(handler, metrics, (ServerCallStreamObserver<SessionResponses>) responseObserver,
                sessionMaxInflight, this, pipeline);
    }
}
