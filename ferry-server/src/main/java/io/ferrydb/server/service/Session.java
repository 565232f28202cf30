package io.ferrydb.server.service;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.proto.FlushScope;
import io.ferrydb.proto.LoopFlush;
import io.ferrydb.proto.SessionRequest;
import io.ferrydb.proto.SessionRequests;
import io.ferrydb.proto.SessionResponse;
import io.ferrydb.proto.SessionResponses;
import io.ferrydb.server.service.RequestMetrics.Op;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One pipelined client session: each inbound message carries many requests, each
 * answered by id, possibly out of order. Answers ready while a message is being
 * handled leave together in one outbound message; answers that complete later (SYNC
 * writes after group commit) are coalesced by a single drainer, so the number of
 * gRPC messages stays far below the number of requests under load.
 *
 * <p>Requests in flight are bounded by {@code maxInflight}; beyond it a request is
 * answered at once with RESOURCE_EXHAUSTED.
 */
final class Session implements StreamObserver<SessionRequests> {
    private static final int MAX_RESPONSES_PER_MESSAGE = 4096;

    private final RequestHandler handler;
    private final RequestMetrics metrics;
    private final ServerCallStreamObserver<SessionResponses> out;
    private final int maxInflight;
    private final FerryGrpcService service;
    private final AtomicInteger inflight = new AtomicInteger();
    private final ConcurrentLinkedQueue<SessionResponse> outbox = new ConcurrentLinkedQueue<>();
    private final AtomicInteger drainers = new AtomicInteger();
    private final LoopFlush loopFlush = new LoopFlush(this::drain);
    private final WritePipeline pipeline;
    /** Jobs of this session queued per storage shard; a read waits behind its shard's. */
    private final AtomicInteger[] pendingJobs;
    private volatile boolean inboundDone;
    private volatile boolean closed;

    Session(RequestHandler handler, RequestMetrics metrics, ServerCallStreamObserver<SessionResponses> out,
            int maxInflight, FerryGrpcService service, WritePipeline pipeline) {
        this.pipeline = pipeline;
        this.pendingJobs = new AtomicInteger[pipeline.shards()];
        for (int i = 0; i < pendingJobs.length; i++) {
            pendingJobs[i] = new AtomicInteger();
        }
        this.handler = handler;
        this.metrics = metrics;
        this.out = out;
        this.maxInflight = maxInflight;
        this.service = service;
        out.setOnCancelHandler(this::close);
    }

    @Override
    public void onNext(SessionRequests batch) {
        service.sessionMessagesIn.increment();
        service.sessionRequests.add(batch.getRequestsCount());
        List<SessionResponse> ready = new ArrayList<>(batch.getRequestsCount());
        List<List<PendingWrite>> writes = new ArrayList<>(pipeline.shards());
        for (int i = 0; i < pipeline.shards(); i++) {
            writes.add(new ArrayList<>());
        }
        for (SessionRequest req : batch.getRequestsList()) {
            long start = System.nanoTime();
            if (inflight.incrementAndGet() > maxInflight) {
                inflight.decrementAndGet();
                ready.add(error(req.getId(), new FerryException(ErrorCode.RESOURCE_EXHAUSTED,
                        "session has " + maxInflight + " requests in flight (session-max-inflight)", null, false)));
                continue;
            }
            service.sessionInflight.incrementAndGet();
            switch (req.getOpCase()) {
                case PUT, DELETE -> {
                    try {
                        RequestHandler.PreparedWrite w = req.getOpCase() == SessionRequest.OpCase.PUT
                                ? handler.preparePut(req.getPut()) : handler.prepareDelete(req.getDelete());
                        writes.get(pipeline.shardOf(w.op().key().partition())).add(new PendingWrite(req, start, w));
                    } catch (RuntimeException e) {
                        ready.add(finish(req, CompletableFuture.failedFuture(e), start));
                    }
                }
                default -> {
                    int shard = readShard(req);
                    if (shard < 0 || (writes.get(shard).isEmpty() && pendingJobs[shard].get() == 0)) {
                        ready.add(finish(req, read(req), start));
                    } else {
                        // A read sees every write sent before it on this session: it
                        // queues behind them on its key's storage shard.
                        submitWrites(shard, writes.get(shard), ready);
                        submitRead(shard, req, start, ready);
                    }
                }
            }
        }
        for (int shard = 0; shard < writes.size(); shard++) {
            submitWrites(shard, writes.get(shard), ready);
        }
        if (!ready.isEmpty()) {
            outbox.addAll(ready);
            // Answer at the end of this event-loop cycle, together with every other
            // message read in it.
            loopFlush.request();
        }
    }

    private record PendingWrite(SessionRequest req, long startNs, RequestHandler.PreparedWrite write) {}

    /** The storage shard of a read's key, or -1 when the request is malformed (answered inline). */
    private int readShard(SessionRequest req) {
        try {
            io.ferrydb.proto.Key k = switch (req.getOpCase()) {
                case GET -> req.getGet().getKey();
                case EXISTS -> req.getExists().getKey();
                default -> null;
            };
            if (k == null || k.getUserKeyCase() == io.ferrydb.proto.Key.UserKeyCase.USERKEY_NOT_SET) {
                return -1;
            }
            return pipeline.shardOf(io.ferrydb.proto.Convert.fromProto("key", k).partition());
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** Hands the writes gathered so far for a shard to its storage thread as one job. */
    private void submitWrites(int shard, List<PendingWrite> writes, List<SessionResponse> ready) {
        if (writes.isEmpty()) {
            return;
        }
        List<PendingWrite> job = new ArrayList<>(writes);
        writes.clear();
        pendingJobs[shard].incrementAndGet();
        boolean queued = pipeline.submit(shard, () -> {
            List<SessionResponse> done = new ArrayList<>(job.size());
            commitWrites(job, done);
            finishJob(shard, done);
        });
        if (!queued) {
            pendingJobs[shard].decrementAndGet();
            for (PendingWrite w : job) {
                ready.add(finish(w.req(), CompletableFuture.failedFuture(queueFull()), w.startNs()));
            }
        }
    }

    private void submitRead(int shard, SessionRequest req, long start, List<SessionResponse> ready) {
        pendingJobs[shard].incrementAndGet();
        boolean queued = pipeline.submit(shard, () -> finishJob(shard, List.of(finish(req, read(req), start))));
        if (!queued) {
            pendingJobs[shard].decrementAndGet();
            ready.add(finish(req, CompletableFuture.failedFuture(queueFull()), start));
        }
    }

    private static FerryException queueFull() {
        return new FerryException(ErrorCode.RESOURCE_EXHAUSTED, "the storage write queue is full (write-queue-capacity)", null, false);
    }

    /** Runs on the storage thread, inside its flush scope. */
    private void finishJob(int shard, List<SessionResponse> done) {
        outbox.addAll(done);
        pendingJobs[shard].decrementAndGet();
        if (!FlushScope.deferIfActive(this, this::drain)) {
            drain();
        }
    }

    /** Applies the consecutive writes gathered so far as one storage batch. */
    private void commitWrites(List<PendingWrite> writes, List<SessionResponse> ready) {
        if (writes.isEmpty()) {
            return;
        }
        List<RequestHandler.PreparedWrite> prepared = new ArrayList<>(writes.size());
        for (PendingWrite w : writes) {
            prepared.add(w.write());
        }
        List<CompletableFuture<com.google.protobuf.Message>> results;
        try {
            results = handler.commit(prepared);
        } catch (RuntimeException e) {
            for (PendingWrite w : writes) {
                ready.add(finish(w.req(), CompletableFuture.failedFuture(e), w.startNs()));
            }
            writes.clear();
            return;
        }
        for (int i = 0; i < writes.size(); i++) {
            PendingWrite w = writes.get(i);
            long id = w.req().getId();
            CompletableFuture<SessionResponse> f = results.get(i).thenApply(m -> m instanceof io.ferrydb.proto.PutResponse put
                    ? SessionResponse.newBuilder().setId(id).setPut(put).build()
                    : SessionResponse.newBuilder().setId(id).setDelete((io.ferrydb.proto.DeleteResponse) m).build());
            if (f.isDone()) {
                ready.add(finish(w.req(), f, w.startNs()));
            } else {
                f.whenComplete((r, e) -> {
                    outbox.add(finish(w.req(), f, w.startNs()));
                    if (!FlushScope.deferIfActive(this, this::drain)) {
                        loopFlush.request();
                    }
                });
            }
        }
        writes.clear();
    }

    private SessionResponse finish(SessionRequest req, CompletableFuture<SessionResponse> f, long start) {
        inflight.decrementAndGet();
        service.sessionInflight.decrementAndGet();
        Op op = op(req);
        try {
            SessionResponse r = f.join();
            metrics.record(op, start, null);
            return r;
        } catch (RuntimeException e) {
            FerryException fe = RequestHandler.failure(e);
            FerryGrpcService.logIfInternal(fe);
            metrics.record(op, start, fe.code());
            return error(req.getId(), fe);
        }
    }

    private static Op op(SessionRequest req) {
        return switch (req.getOpCase()) {
            case PUT -> Op.PUT;
            case DELETE -> Op.DELETE;
            case EXISTS -> Op.EXISTS;
            default -> Op.GET;
        };
    }

    private CompletableFuture<SessionResponse> read(SessionRequest req) {
        long id = req.getId();
        try {
            return switch (req.getOpCase()) {
                case GET -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setGet(handler.get(req.getGet())).build());
                case EXISTS -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setExists(handler.exists(req.getExists())).build());
                default -> throw FerryException.invalid("requests[id=%d] has no operation (put, get, delete or exists)", id);
            };
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static SessionResponse error(long id, FerryException fe) {
        return SessionResponse.newBuilder().setId(id).setStatus(FerryGrpcService.statusCode(fe)).setMessage(fe.reason()).build();
    }

    /** Single-drainer loop: whoever raises the counter from 0 sends everything queued. */
    private void drain() {
        if (drainers.getAndIncrement() != 0) {
            return;
        }
        do {
            SessionResponses.Builder b = null;
            SessionResponse r;
            while ((r = outbox.poll()) != null) {
                if (b == null) {
                    b = SessionResponses.newBuilder();
                }
                b.addResponses(r);
                if (b.getResponsesCount() >= MAX_RESPONSES_PER_MESSAGE) {
                    send(b.build());
                    b = null;
                }
            }
            if (b != null) {
                send(b.build());
            }
            if (inboundDone && inflight.get() == 0 && outbox.isEmpty()) {
                complete();
            }
        } while (drainers.decrementAndGet() != 0);
    }

    private void send(SessionResponses msg) {
        if (closed) {
            return;
        }
        try {
            service.sessionMessagesOut.increment();
            out.onNext(msg);
        } catch (RuntimeException e) {
            close();
        }
    }

    private synchronized void complete() {
        if (!closed) {
            closed = true;
            service.sessionsOpen.decrementAndGet();
            try {
                out.onCompleted();
            } catch (RuntimeException ignored) {
                // the call was already cancelled
            }
        }
    }

    private synchronized void close() {
        if (!closed) {
            closed = true;
            service.sessionsOpen.decrementAndGet();
        }
    }

    @Override
    public void onError(Throwable t) {
        close();
    }

    @Override
    public void onCompleted() {
        inboundDone = true;
        drain();
    }
}
