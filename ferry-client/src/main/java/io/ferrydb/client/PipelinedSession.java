package io.ferrydb.client;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.proto.Convert;
import io.ferrydb.proto.FlushScope;
import io.ferrydb.proto.LoopFlush;
import io.ferrydb.proto.FerryGrpc;
import io.ferrydb.proto.SessionRequest;
import io.ferrydb.proto.SessionRequests;
import io.ferrydb.proto.SessionResponse;
import io.ferrydb.proto.SessionResponses;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The client half of the pipelined session: requests from any thread are queued and
 * a single drainer packs everything queued into one message; answers are matched to
 * their futures by id. When the stream breaks, every pending request fails with
 * UNAVAILABLE and the client opens a new session for the next call.
 */
final class PipelinedSession implements ClientResponseObserver<SessionRequests, SessionResponses> {
    private final AtomicLong nextId = new AtomicLong();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<SessionRequest> outbox = new ConcurrentLinkedQueue<>();
    private final AtomicInteger drainers = new AtomicInteger();
    private final String address;
    private final int maxPerMessage;
    private final long timeoutMs;
    private final LoopFlush loopFlush = new LoopFlush(this::drain);
    private volatile ClientCallStreamObserver<SessionRequests> requests;
    private volatile boolean broken;
    /** Why the session broke, for requests that race with the break. */
    private volatile FerryException brokenBy;

    private record Pending(CompletableFuture<SessionResponse> future, long deadlineNs) {}

    PipelinedSession(String address, FerryGrpc.FerryStub stub, int maxPerMessage, long timeoutMs) {
        this.address = address;
        this.maxPerMessage = maxPerMessage;
        this.timeoutMs = timeoutMs;
        stub.session(this);
    }

    boolean isBroken() {
        return broken;
    }

    /** True when no request waits for an answer. */
    boolean idle() {
        return pending.isEmpty();
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<SessionRequests> requestStream) {
        this.requests = requestStream;
    }

    CompletableFuture<SessionResponse> call(SessionRequest.Builder request) {
        long id = nextId.incrementAndGet();
        CompletableFuture<SessionResponse> f = new CompletableFuture<>();
        if (broken) {
            f.completeExceptionally(closedError());
            return f;
        }
        pending.put(id, new Pending(f, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs)));
        if (broken) {
            // The stream broke between the check above and the put: fail() may have swept
            // the pending map already, and once the client replaces this session nothing
            // expires it, so fail the request here (remove makes it exactly once).
            if (pending.remove(id) != null) {
                f.completeExceptionally(closedError());
            }
            return f;
        }
        outbox.add(request.setId(id).build());
        // Inside a batch of answers (a callback issuing its next request), send once at the end.
        if (!FlushScope.deferIfActive(this, this::drain)) {
            loopFlush.request();
        }
        return f;
    }

    /** Fails requests past their deadline; called periodically by the client's sweeper. */
    void expire(long nowNs) {
        for (Map.Entry<Long, Pending> e : pending.entrySet()) {
            if (nowNs - e.getValue().deadlineNs() > 0 && pending.remove(e.getKey(), e.getValue())) {
                e.getValue().future().completeExceptionally(new FerryException(ErrorCode.DEADLINE_EXCEEDED,
                        "no answer from node " + address + " within " + timeoutMs + " ms", null, false));
            }
        }
    }

    private void drain() {
        if (drainers.getAndIncrement() != 0) {
            return;
        }
        do {
            SessionRequests.Builder b = null;
            SessionRequest r;
            while ((r = outbox.poll()) != null) {
                if (b == null) {
                    b = SessionRequests.newBuilder();
                }
                b.addRequests(r);
                if (b.getRequestsCount() >= maxPerMessage) {
                    send(b.build());
                    b = null;
                }
            }
            if (b != null) {
                send(b.build());
            }
        } while (drainers.decrementAndGet() != 0);
    }

    private void send(SessionRequests msg) {
        try {
            requests.onNext(msg);
        } catch (RuntimeException e) {
            fail(new FerryException(ErrorCode.UNAVAILABLE, "session send failed: " + e.getMessage(), e));
        }
    }

    @Override
    public void onNext(SessionResponses batch) {
        FlushScope.run(() -> {
            for (SessionResponse r : batch.getResponsesList()) {
                Pending p = pending.remove(r.getId());
                if (p == null) {
                    continue; // timed out already
                }
                if (r.getStatus() == 0) {
                    p.future().complete(r);
                } else {
                    ErrorCode code = Convert.errorCode(r.getStatus());
                    p.future().completeExceptionally(code == ErrorCode.NOT_MASTER && r.getMasterEpoch() > 0
                            ? new io.ferrydb.api.NotMasterException(r.getMessage(), r.getMaster(), r.getMasterEpoch())
                            : new FerryException(code, r.getMessage(), null, false));
                }
            }
        });
    }

    @Override
    public void onError(Throwable t) {
        FerryException e = Convert.toFerryException(t);
        fail(e.code() == ErrorCode.UNAVAILABLE ? new FerryException(e.code(), "node " + address + ": " + e.reason(), e) : e);
    }

    @Override
    public void onCompleted() {
        fail(new FerryException(ErrorCode.UNAVAILABLE, "node " + address + " closed the session", null, false));
    }

    private FerryException closedError() {
        FerryException why = brokenBy;
        return why == null ? new FerryException(ErrorCode.UNAVAILABLE, "session closed", null, false)
                : new FerryException(ErrorCode.UNAVAILABLE, "session closed: " + why.reason(), why);
    }

    private void fail(FerryException e) {
        if (brokenBy == null) {
            brokenBy = e;
        }
        broken = true;
        for (Long id : pending.keySet()) {
            Pending p = pending.remove(id);
            if (p != null) {
                p.future().completeExceptionally(e.code() == ErrorCode.UNKNOWN
                        ? new FerryException(ErrorCode.UNAVAILABLE, e.reason(), e) : e);
            }
        }
    }

    void close() {
        broken = true;
        try {
            requests.onCompleted();
        } catch (RuntimeException ignored) {
            // already closed
        }
    }
}
