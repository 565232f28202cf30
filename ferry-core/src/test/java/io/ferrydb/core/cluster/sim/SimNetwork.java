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

    boolean isBlocked(int from, int to) {
        return from != to && blocked.contains(link(from, to));
    }

    void block(int from, int to) {
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
