package io.ferrydb.server.storage;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.storage.Storage;
import io.ferrydb.proto.FlushScope;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Group commit: SYNC writers register after their write has completed; one thread
 * syncs the WAL and completes every writer registered before the sync began, so
 * concurrent writers share one fsync. The same thread flushes ASYNC writes at least
 * every {@code asyncFlushMs}.
 *
 * <p>The pending queue is bounded: past {@code maxPending} a writer gets
 * RESOURCE_EXHAUSTED (its write is applied but not acknowledged as durable; it is
 * flushed with the next sync like any ASYNC write).
 */
public final class GroupCommitter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GroupCommitter.class);

    private final Storage storage;
    private final long asyncFlushNs;
    private final int maxPending;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition hasWork = lock.newCondition();
    private List<CompletableFuture<Void>> pending = new ArrayList<>();
    private volatile boolean asyncDirty;
    private volatile boolean running = true;
    private final Thread thread;
    private final Timer syncTimer;
    private final DistributionSummary batchSize;

    public GroupCommitter(Storage storage, long asyncFlushMs, int maxPending, MeterRegistry registry) {
        this.storage = storage;
        this.asyncFlushNs = TimeUnit.MILLISECONDS.toNanos(asyncFlushMs);
        this.maxPending = maxPending;
        this.syncTimer = Timer.builder("ferry_wal_sync").description("WAL fsyncs and their duration").register(registry);
        this.batchSize = DistributionSummary.builder("ferry_group_commit_batch").description("SYNC writes acknowledged per fsync").register(registry);
        Gauge.builder("ferry_group_commit_pending", this, GroupCommitter::pendingCount).description("SYNC writes waiting for fsync").register(registry);
        this.thread = new Thread(this::run, "ferry-group-commit");
        thread.setDaemon(true);
        thread.start();
    }

    /** Completes when every write completed before this call is durable. */
    public CompletableFuture<Void> awaitDurable() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        lock.lock();
        try {
            if (!running) {
                f.completeExceptionally(new FerryException(ErrorCode.UNAVAILABLE, "server is shutting down", null, false));
            } else if (pending.size() >= maxPending) {
                f.completeExceptionally(new FerryException(ErrorCode.RESOURCE_EXHAUSTED,
                        "too many writes waiting for fsync (max-pending-syncs=" + maxPending + ")", null, false));
            } else {
                pending.add(f);
                if (pending.size() == 1) {
                    hasWork.signal();
                }
            }
        } finally {
            lock.unlock();
        }
        return f;
    }

    /** Notes an ASYNC write, to be flushed within {@code asyncFlushMs}. */
    public void asyncWritten() {
        if (!asyncDirty) {
            asyncDirty = true;
        }
    }

    private int pendingCount() {
        lock.lock();
        try {
            return pending.size();
        } finally {
            lock.unlock();
        }
    }

    private void run() {
        long lastSyncNs = System.nanoTime();
        while (true) {
            List<CompletableFuture<Void>> batch;
            lock.lock();
            try {
                long waitNs = asyncFlushNs - (System.nanoTime() - lastSyncNs);
                while (pending.isEmpty() && running && waitNs > 0) {
                    try {
                        waitNs = hasWork.awaitNanos(waitNs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        running = false;
                    }
                }
                batch = pending;
                pending = new ArrayList<>();
            } finally {
                lock.unlock();
            }
            if (!batch.isEmpty() || asyncDirty) {
                asyncDirty = false;
                syncAndComplete(batch);
                lastSyncNs = System.nanoTime();
            } else {
                lastSyncNs = System.nanoTime();
            }
            if (!running) {
                lock.lock();
                try {
                    if (pending.isEmpty()) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    private void syncAndComplete(List<CompletableFuture<Void>> batch) {
        long start = System.nanoTime();
        try {
            storage.sync();
        } catch (RuntimeException e) {
            LOG.error("WAL sync failed; failing {} writers", batch.size(), e);
            for (CompletableFuture<Void> f : batch) {
                f.completeExceptionally(e);
            }
            return;
        }
        syncTimer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        if (!batch.isEmpty()) {
            batchSize.record(batch.size());
        }
        // One scope for the whole batch: each session sends its answers in one message.
        FlushScope.run(() -> {
            for (CompletableFuture<Void> f : batch) {
                f.complete(null);
            }
        });
    }

    /** Syncs what is pending and stops. */
    @Override
    public void close() {
        lock.lock();
        try {
            running = false;
            hasWork.signal();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
