package io.ferrydb.server.service;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.proto.FlushScope;
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
    private volatile boolean inboundDone;
    private volatile boolean closed;

    Session(RequestHandler handler, RequestMetrics metrics, ServerCallStreamObserver<SessionResponses> out,
            int maxInflight, FerryGrpcService service) {
        this.handler = handler;
        this.metrics = metrics;
        this.out = out;
        this.maxInflight = maxInflight;
        this.service = service;
        out.setOnCancelHandler(this::close);
    }

    @Override
    public void onNext(SessionRequests batch) {
        List<SessionResponse> ready = new ArrayList<>(batch.getRequestsCount());
        for (SessionRequest req : batch.getRequestsList()) {
            long start = System.nanoTime();
            if (inflight.incrementAndGet() > maxInflight) {
                inflight.decrementAndGet();
                ready.add(error(req.getId(), new FerryException(ErrorCode.RESOURCE_EXHAUSTED,
                        "session has " + maxInflight + " requests in flight (session-max-inflight)", null, false)));
                continue;
            }
            service.sessionInflight.incrementAndGet();
            CompletableFuture<SessionResponse> f = handle(req);
            if (f.isDone()) {
                ready.add(finish(req, f, start));
            } else {
                f.whenComplete((r, e) -> {
                    outbox.add(finish(req, f, start));
                    if (!FlushScope.deferIfActive(this, this::drain)) {
                        drain();
                    }
                });
            }
        }
        if (!ready.isEmpty()) {
            outbox.addAll(ready);
            drain();
        }
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

    private CompletableFuture<SessionResponse> handle(SessionRequest req) {
        long id = req.getId();
        try {
            return switch (req.getOpCase()) {
                case PUT -> handler.put(req.getPut()).thenApply(r -> SessionResponse.newBuilder().setId(id).setPut(r).build());
                case DELETE -> handler.delete(req.getDelete()).thenApply(r -> SessionResponse.newBuilder().setId(id).setDelete(r).build());
                case GET -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setGet(handler.get(req.getGet())).build());
                case EXISTS -> CompletableFuture.completedFuture(SessionResponse.newBuilder().setId(id).setExists(handler.exists(req.getExists())).build());
                case OP_NOT_SET -> throw FerryException.invalid("requests[id=%d] has no operation (put, get, delete or exists)", id);
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
