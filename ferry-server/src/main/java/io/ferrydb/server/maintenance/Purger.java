package io.ferrydb.server.maintenance;

import io.ferrydb.api.Limits;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.store.RecordStore;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Background maintenance, one partition at a time: removes expired records (logging
 * an EXPIRE entry), drops tombstones past their retention and trims the partition
 * log by size and age. Progress of the current cycle is a gauge.
 */
public final class Purger implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Purger.class);
    private static final int MAX_PER_PARTITION_PASS = 10_000;

    private final RecordStore store;
    private final ScheduledExecutorService executor;
    private final Timer cycleTimer;
    private volatile double progress;
    /** Whether this node may expire records of a partition (it masters it); null: always (a node alone). */
    private volatile java.util.function.BiPredicate<String, Integer> mayExpire;
    private volatile io.ferrydb.server.mirror.Replication mirroring;
    private volatile long cycles;

    public Purger(RecordStore store, long intervalMs, MeterRegistry registry) {
        this.store = store;
        this.cycleTimer = Timer.builder("ferry_purge_cycle").description("duration of a full purge pass").register(registry);
        Gauge.builder("ferry_purge_progress_ratio", this, p -> p.progress).description("progress of the running purge pass").register(registry);
        FunctionCounter.builder("ferry_expired_purged", store, s -> s.expiredPurged.sum()).description("expired records removed").register(registry);
        FunctionCounter.builder("ferry_tombstones_purged", store, s -> s.tombstonesPurged.sum()).description("tombstones dropped after retention").register(registry);
        FunctionCounter.builder("ferry_log_entries_trimmed", store, s -> s.logEntriesTrimmed.sum()).description("partition-log entries trimmed by retention").register(registry);
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ferry-purger");
            t.setDaemon(true);
            return t;
        });
        executor.scheduleWithFixedDelay(this::runOnce, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
    }

    /**
     * In a cluster only a partition's master expires its records, and the EXPIRE entries
     * go to its mirrors like any change (a mirror purging by itself would fork its log
     * from the master's).
     */
    public void cluster(java.util.function.BiPredicate<String, Integer> mayExpire, io.ferrydb.server.mirror.Replication mirroring) {
        this.mirroring = mirroring;
        this.mayExpire = mayExpire;
    }

    private int expire(String ns, int p) {
        java.util.function.BiPredicate<String, Integer> gate = mayExpire;
        if (gate == null) {
            return store.purgeExpired(ns, p, MAX_PER_PARTITION_PASS);
        }
        if (!gate.test(ns, p)) {
            return 0;
        }
        io.ferrydb.server.mirror.Replication m = mirroring;
        List<io.ferrydb.server.mirror.Replication.Registered> registered = new java.util.ArrayList<>();
        int n = store.purgeExpired(ns, p, MAX_PER_PARTITION_PASS, e -> {
            io.ferrydb.server.mirror.Replication.Registered r = m.register(ns, p, e, io.ferrydb.api.CommitLevel.MASTER,
                    io.ferrydb.api.Durability.ASYNC);
            if (r != null) {
                registered.add(r);
            }
        });
        registered.forEach(m::afterRegister);
        return n;
    }

    /** One full pass over every partition of every namespace. */
    public void runOnce() {
        long start = System.nanoTime();
        try {
            int total = store.namespaces().size() * Limits.PARTITION_COUNT;
            int done = 0;
            long expired = 0;
            long tombs = 0;
            long trimmed = 0;
            for (NamespaceConfig ns : store.namespaces()) {
                for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                    if (Thread.currentThread().isInterrupted()) {
                        return;
                    }
                    expired += expire(ns.name(), p);
                    tombs += store.purgeTombstones(ns.name(), p, MAX_PER_PARTITION_PASS);
                    trimmed += store.trimLog(ns.name(), p);
                    progress = (double) ++done / total;
                }
            }
            cycles++;
            if (expired + tombs + trimmed > 0) {
                LOG.info("purge pass: {} expired records, {} tombstones, {} log entries trimmed", expired, tombs, trimmed);
            }
        } catch (RuntimeException e) {
            LOG.error("purge pass failed; will retry next interval", e);
        } finally {
            cycleTimer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        }
    }

    public long cycles() {
        return cycles;
    }

    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
