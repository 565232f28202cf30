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

    private volatile boolean inboundDone;
    private volatile boolean closed;

    Session(RequestHandler handler, RequestMetrics metrics, ServerCallStreamObserver<SessionResponses> out,
            int maxInflight, FerryGrpcService service, WritePipeline pipeline) {
        this.pipeline = pipeline;
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
        List<SessionResponse> ready = new ArrayList<>();
        List<List<Queued>> shards = new ArrayList<>(pipeline.shards());
        for (int i = 0; i < pipeline.shards(); i++) {
            shards.add(new ArrayList<>());
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
            try {
                Queued op = decode(req, start);
                shards.get(pipeline.shardOf(op.partition())).add(op);
            } catch (RuntimeException e) {
                // Malformed: answered at once, nothing queued.
                ready.add(finish(req, CompletableFuture.failedFuture(e), start));
            }
        }
        for (int shard = 0; shard < shards.size(); shard++) {
            submit(shard, shards.get(shard), ready);
        }
        if (!ready.isEmpty()) {
            outbox.addAll(ready);
            loopFlush.request();
        }
    }

    /**
     * One request, decoded and validated on the transport thread. A key always maps to
     * the same storage shard, and a shard runs a session's ops in the order sent, so a
     * read sees every write sent before it on this session.
     */
    private record Queued(SessionRequest req, long startNs, RequestHandler.PreparedWrite write, io.ferrydb.api.Key readKey,
                          int partition) {}

    private Queued decode(SessionRequest req, long start) {
        return switch (req.getOpCase()) {
            case PUT -> {
                RequestHandler.PreparedWrite w = handler.preparePut(req.getPut());
                yield new Queued(req, start, w, null, w.op().key().partition());
            }
            case DELETE -> {
                RequestHandler.PreparedWrite w = handler.prepareDelete(req.getDelete());
                yield new Queued(req, start, w, null, w.op().key().partition());
            }
            case GET -> {
                io.ferrydb.api.Key k = readKey(req.getGet().hasKey(), req.getGet().getKey());
                yield new Queued(req, start, null, k, k.partition());
            }
            case EXISTS -> {
                io.ferrydb.api.Key k = readKey(req.getExists().hasKey(), req.getExists().getKey());
                yield new Queued(req, start, null, k, k.partition());
            }
            case OP_NOT_SET -> throw FerryException.invalid("requests[id=%d] has no operation (put, get, delete or exists)", req.getId());
        };
    }

    private static io.ferrydb.api.Key readKey(boolean present, io.ferrydb.proto.Key key) {
        if (!present) {
            throw FerryException.invalid("key is not set");
        }
        return io.ferrydb.proto.Convert.fromProto("key", key);
    }

    /** Hands one shard's ops of this message to its storage thread as one job. */
    private void submit(int shard, List<Queued> ops, List<SessionResponse> ready) {
        if (ops.isEmpty()) {
            return;
        }
        boolean queued = pipeline.submit(shard, () -> {
            List<SessionResponse> done = new ArrayList<>(ops.size());
            runOps(ops, done);
            outbox.addAll(done);
            if (!FlushScope.deferIfActive(this, this::drain)) {
                drain();
            }
        });
        if (!queued) {
            FerryException full = new FerryException(ErrorCode.RESOURCE_EXHAUSTED,
                    "the storage write queue is full (write-queue-capacity)", null, false);
            for (Queued op : ops) {
                ready.add(finish(op.req(), CompletableFuture.failedFuture(full), op.startNs()));
            }
        }
    }

    /** On a storage thread: consecutive writes as one batch, reads after the writes before them. */
    private void runOps(List<Queued> ops, List<SessionResponse> done) {
        List<PendingWrite> writes = new ArrayList<>();
        for (Queued op : ops) {
            if (op.write() != null) {
                writes.add(new PendingWrite(op.req(), op.startNs(), op.write()));
            } else {
                commitWrites(writes, done);
                done.add(finish(op.req(), read(op.req(), op.readKey()), op.startNs()));
            }
        }
        commitWrites(writes, done);
    }

    private record PendingWrite(SessionRequest req, long startNs, RequestHandler.PreparedWrite write) {}

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

    private CompletableFuture<SessionResponse> read(SessionRequest req, io.ferrydb.api.Key key) {
        long id = req.getId();
        try {
            return switch (req.getOpCase()) {
                case GET -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setGet(handler.get(key, req.getGet(), false)).build());
                case EXISTS -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setExists(handler.exists(key)).build());
                default -> throw FerryException.invalid("requests[id=%d] has no operation (put, get, delete or exists)", id);
            };
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static SessionResponse error(long id, FerryException fe) {
        SessionResponse.Builder b = SessionResponse.newBuilder().setId(id).setStatus(FerryGrpcService.statusCode(fe)).setMessage(fe.reason());
        if (fe instanceof io.ferrydb.api.NotMasterException nm) {
            b.setMasterEpoch(nm.epoch());
            if (nm.master() != null) {
                b.setMaster(nm.master());
            }
        }
        return b.build();
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
