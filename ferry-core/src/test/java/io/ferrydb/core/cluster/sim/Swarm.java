package io.ferrydb.core.cluster.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

/** Runs seeds of a simulation on every core; failures are collected (sorted, first named) and thrown together. */
final class Swarm {
    private Swarm() {}

    /** What the seeds did: events executed and the simulations' counters summed. */
    record Totals(long events, Map<String, Integer> stats, double seconds) {}

    /**
     * @param replay the system properties that replay one seed, for the message of an unexpected exception
     */
    static Totals run(long first, int seeds, LongFunction<ClusterSimulation> simulate, String replay) throws InterruptedException {
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Runtime.getRuntime().availableProcessors()));
        AtomicLong events = new AtomicLong();
        Map<String, Integer> totals = new ConcurrentHashMap<>();
        long startNs = System.nanoTime();
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (long s = first; s < first + seeds; s++) {
                long seed = s;
                futures.add(pool.submit(() -> {
                    ClusterSimulation sim;
                    try {
                        sim = simulate.apply(seed);
                    } catch (RuntimeException e) {
                        throw new AssertionError("seed " + seed + ": " + e + "\n  replay: mvn -B -ntp -pl ferry-core -am test "
                                + replay + seed + " -Dsurefire.failIfNoSpecifiedTests=false", e);
                    }
                    events.addAndGet(sim.scheduler.executed());
                    sim.stats.forEach((k, v) -> totals.merge(k, v, Integer::sum));
                }));
            }
            List<Throwable> failures = new ArrayList<>();
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add(e.getCause());
                }
            }
            if (!failures.isEmpty()) {
                failures.sort(java.util.Comparator.comparing(t -> String.valueOf(t.getMessage())));
                AssertionError err = new AssertionError(failures.size() + " of " + seeds + " seeds failed; first: " + failures.get(0));
                failures.forEach(err::addSuppressed);
                throw err;
            }
        } finally {
            pool.shutdownNow();
        }
        return new Totals(events.get(), new TreeMap<>(totals), (System.nanoTime() - startNs) / 1e9);
    }
}
