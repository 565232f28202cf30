package io.ferrydb.proto;

import java.util.ArrayList;
import java.util.List;

/**
 * Coalesces sends made while one thread completes many requests at once (a batch of
 * answers arriving, a group commit acknowledging hundreds of writers): inside
 * {@link #run}, a sender registers its flush with {@link #deferIfActive} instead of
 * sending, and every registered flush runs once when the scope ends. So N
 * completions leave as one message per stream, not N.
 */
public final class FlushScope {
    private FlushScope() {}

    private static final ThreadLocal<List<Runnable>> ACTIVE = new ThreadLocal<>();

    /** Runs {@code body}; flushes deferred inside it run once, afterwards, in order. */
    public static void run(Runnable body) {
        if (ACTIVE.get() != null) {
            body.run();
            return;
        }
        List<Runnable> deferred = new ArrayList<>();
        ACTIVE.set(deferred);
        try {
            body.run();
        } finally {
            ACTIVE.remove();
            // A flush may itself trigger completions that defer more flushes.
            for (int i = 0; i < deferred.size(); i++) {
                deferred.get(i).run();
            }
        }
    }

    /**
     * If a scope is active on this thread, registers {@code flush} (once per owner)
     * and returns true; otherwise returns false and the caller sends now.
     */
    public static boolean deferIfActive(Object owner, Runnable flush) {
        List<Runnable> deferred = ACTIVE.get();
        if (deferred == null) {
            return false;
        }
        for (Runnable r : deferred) {
            if (r instanceof Owned o && o.owner == owner) {
                return true;
            }
        }
        deferred.add(new Owned(owner, flush));
        return true;
    }

    private record Owned(Object owner, Runnable flush) implements Runnable {
        @Override
        public void run() {
            flush.run();
        }
    }
}
