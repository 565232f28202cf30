package io.ferrydb.proto;

import io.grpc.netty.shaded.io.netty.util.concurrent.EventExecutor;
import io.grpc.netty.shaded.io.netty.util.internal.ThreadExecutorMap;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * Sends a stream's queued messages at the end of the current transport event-loop
 * cycle instead of at once. Every message read in one cycle (many pipelined requests,
 * or many answers) is handled before the flush task runs, so what they produce leaves
 * as one message. Without this a pipelined stream settles into one request per
 * message in both directions, and per-message costs dominate.
 *
 * <p>Off the event loop (application threads, the group-commit thread) the drain runs
 * at once; {@link FlushScope} batches those. Event loops other than gRPC's own (the
 * Redis endpoint's, plain Netty) count once registered with {@link #addLoopSource}:
 * before that, the requests a Redis event loop forwarded in one pass left one message
 * each (142,984 session messages for 145,725 forwarded SETs).
 */
public final class LoopFlush {
    private static final List<Supplier<? extends Executor>> LOOP_SOURCES = new CopyOnWriteArrayList<>();

    private final Runnable drain;
    private final AtomicBoolean scheduled = new AtomicBoolean();

    public LoopFlush(Runnable drain) {
        this.drain = drain;
    }

    /**
     * Another event-loop framework: {@code current} answers the event loop running the
     * calling thread, or null. A task it runs must come after the loop's pending I/O.
     */
    public static void addLoopSource(Supplier<? extends Executor> current) {
        if (!LOOP_SOURCES.contains(current)) {
            LOOP_SOURCES.add(current);
        }
    }

    public void request() {
        Executor loop = currentLoop();
        if (loop == null) {
            drain.run();
            return;
        }
        if (scheduled.compareAndSet(false, true)) {
            loop.execute(() -> {
                scheduled.set(false);
                drain.run();
            });
        }
    }

    private static Executor currentLoop() {
        try {
            EventExecutor grpcLoop = ThreadExecutorMap.currentExecutor();
            if (grpcLoop != null) {
                return grpcLoop;
            }
        } catch (LinkageError e) {
            // a transport without Netty's executor map
        }
        for (Supplier<? extends Executor> source : LOOP_SOURCES) {
            Executor loop = source.get();
            if (loop != null) {
                return loop;
            }
        }
        return null; // not on an event loop: send at once
    }
}
