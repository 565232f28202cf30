package io.ferrydb.proto;

import io.grpc.netty.shaded.io.netty.util.concurrent.EventExecutor;
import io.grpc.netty.shaded.io.netty.util.internal.ThreadExecutorMap;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Sends a stream's queued messages at the end of the current transport event-loop
 * cycle instead of at once. Every message read in one cycle (many pipelined requests,
 * or many answers) is handled before the flush task runs, so what they produce leaves
 * as one message. Without this a pipelined stream settles into one request per
 * message in both directions, and per-message costs dominate.
 *
 * <p>Off the event loop (application threads, the group-commit thread) the drain runs
 * at once; {@link FlushScope} batches those.
 */
public final class LoopFlush {
    private final Runnable drain;
    private final AtomicBoolean scheduled = new AtomicBoolean();

    public LoopFlush(Runnable drain) {
        this.drain = drain;
    }

    public void request() {
        EventExecutor loop = currentLoop();
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

    private static EventExecutor currentLoop() {
        try {
            return ThreadExecutorMap.currentExecutor();
        } catch (LinkageError e) {
            return null; // a transport without Netty's executor map: send at once
        }
    }
}
