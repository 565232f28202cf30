package io.ferrydb.core.cluster.sim;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

/**
 * A simulated network between node indexes: latency drawn per message (so messages
 * reorder), loss, duplication, and blocked directed links for symmetric and one-way
 * partitions. A message in flight when its link is cut is dropped.
 */
final class SimNetwork {
    private final Random random;
    private final Scheduler scheduler;
    private final Set<Long> blocked = new HashSet<>();
    double lossRate;
    double duplicateRate;
    int latencyMinMs;
    int latencyMaxMs;
    long sent;
    long dropped;
    /** Bumped by every cut: a stream (a TCP connection) that saw one is broken, and what was in flight on it is lost. */
    long cuts;
    private final java.util.Map<Long, Long> streamTail = new java.util.HashMap<>();

    SimNetwork(Random random, Scheduler scheduler) {
        this.random = random;
        this.scheduler = scheduler;
    }

    void send(int from, int to, Runnable deliver) {
        sent++;
        if (isBlocked(from, to) || random.nextDouble() < lossRate) {
            dropped++;
            return;
        }
        schedule(from, to, deliver);
        if (random.nextDouble() < duplicateRate) {
            schedule(from, to, deliver);
        }
    }

    private void schedule(int from, int to, Runnable deliver) {
        long delay = latencyMinMs + random.nextInt(latencyMaxMs - latencyMinMs + 1);
        if (random.nextInt(50) == 0) {
            delay += random.nextInt(200);
        }
        scheduler.after(delay, () -> {
            if (!isBlocked(from, to)) {
                deliver.run();
            }
        });
    }

    /**
     * A message on the ordered stream from {@code from} to {@code to} (a TCP connection,
     * as the mirror streams are): delivered in send order, never duplicated, and lost
     * only with the connection: when a cut happens while it is in flight, or when
     * {@code stillOpen} (both ends' processes unchanged) says no at delivery.
     */
    void stream(int from, int to, java.util.function.BooleanSupplier stillOpen, Runnable deliver) {
        sent++;
        if (isBlocked(from, to)) {
            dropped++;
            return;
        }
        long cutsAtSend = cuts;
        long delay = latencyMinMs + random.nextInt(latencyMaxMs - latencyMinMs + 1);
        long at = Math.max(scheduler.nowMs() + delay, streamTail.getOrDefault(link(from, to), 0L));
        streamTail.put(link(from, to), at);
        scheduler.at(at, () -> {
            if (cuts == cutsAtSend && !isBlocked(from, to) && stillOpen.getAsBoolean()) {
                deliver.run();
            } else {
                dropped++;
            }
        });
    }

    boolean isBlocked(int from, int to) {
        return from != to && blocked.contains(link(from, to));
    }

    void block(int from, int to) {
        cuts++;
        blocked.add(link(from, to));
    }

    void healAll() {
        blocked.clear();
    }

    boolean anyBlocked() {
        return !blocked.isEmpty();
    }

    private static long link(int from, int to) {
        return ((long) from << 32) | to;
    }
}
