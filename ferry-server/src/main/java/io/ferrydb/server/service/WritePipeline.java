package io.ferrydb.server.service;

import io.ferrydb.proto.FlushScope;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The storage stage of the request path: a few threads apply write jobs handed over
 * by the transport threads. Jobs are sharded by partition ({@code partition % shards}),
 * so a key is always written by the same thread, in submission order, and partition
 * locks of different shards never meet. Transport threads keep decoding,
 * validating and serving reads while this thread writes, so the two stages use two
 * cores. All jobs taken in one round run inside one {@link FlushScope}, so each
 * session's answers from a round leave as one message.
 *
 * <p>The queue is bounded ({@code write-queue-capacity}); a full queue refuses the job
 * and the session answers RESOURCE_EXHAUSTED.
 *
 * <p>A caller may instead run a job itself when its shard is idle ({@link #runIfIdle}):
 * each shard has a gate that its thread holds for a whole round, and a count of jobs
 * submitted and not yet run. A job runs on the caller only with the gate held and nothing
 * pending, so a shard's jobs still run one at a time, in order, and a partition's
 * commits (LSN order, the order mirroring streams them) stay serial. The Redis endpoint
 * uses it: a job handed over costs two thread wake-ups (there and back), and with one
 * command in flight per client that was about a seventh of a SET's server time. Native
 * sessions do not: their gRPC transport threads writing themselves halved puts and gets
 * (docs/BENCHMARKS.md), the two stages no longer overlapping.
 */
public final class WritePipeline implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WritePipeline.class);
    private static final Runnable STOP = () -> { };

    private final ArrayBlockingQueue<Runnable>[] queues;
    private final Thread[] threads;
    private final ReentrantLock[] gates;
    private final AtomicInteger[] pending;
    private final LongAdder ranInline = new LongAdder();
    private final LongAdder jobs = new LongAdder();
    private final LongAdder rounds = new LongAdder();
    private final LongAdder refused = new LongAdder();

    @SuppressWarnings("unchecked")
    public WritePipeline(int shards, int capacity, MeterRegistry registry) {
        this.queues = new ArrayBlockingQueue[shards];
        this.threads = new Thread[shards];
        this.gates = new ReentrantLock[shards];
        this.pending = new AtomicInteger[shards];
        for (int i = 0; i < shards; i++) {
            queues[i] = new ArrayBlockingQueue<>(capacity);
            gates[i] = new ReentrantLock();
            pending[i] = new AtomicInteger();
        }
        Gauge.builder("ferry_write_queue_depth", queues, qs -> {
            int n = 0;
            for (ArrayBlockingQueue<Runnable> q : qs) {
                n += q.size();
            }
            return n;
        }).description("write jobs waiting for the storage threads").register(registry);
        FunctionCounter.builder("ferry_write_jobs", jobs, LongAdder::sum).description("write jobs applied").register(registry);
        FunctionCounter.builder("ferry_write_rounds", rounds, LongAdder::sum).description("rounds of the storage thread (jobs per round = batching)").register(registry);
        FunctionCounter.builder("ferry_write_jobs_inline", ranInline, LongAdder::sum)
                .description("write jobs run by the submitting thread because their shard was idle").register(registry);
        FunctionCounter.builder("ferry_write_jobs_refused", refused, LongAdder::sum).description("write jobs refused because the queue was full").register(registry);
        for (int i = 0; i < shards; i++) {
            int shard = i;
            threads[i] = new Thread(() -> run(shard), "ferry-storage-" + i);
            threads[i].setDaemon(true);
            threads[i].start();
        }
    }

    public int shards() {
        return queues.length;
    }

    public int shardOf(int partition) {
        return partition % queues.length;
    }

    /** Queues a job on a shard; false when its queue is full. */
    public boolean submit(int shard, Runnable job) {
        pending[shard].incrementAndGet();
        boolean ok = queues[shard].offer(job);
        if (!ok) {
            pending[shard].decrementAndGet();
            refused.increment();
        }
        return ok;
    }

    /**
     * Runs a job on the calling thread, inside a {@link FlushScope}, when its shard has
     * nothing queued or running; false (and nothing run) otherwise, and the caller
     * submits it. Never waits: the gate is only tried.
     */
    public boolean runIfIdle(int shard, Runnable job) {
        ReentrantLock gate = gates[shard];
        if (pending[shard].get() != 0 || !gate.tryLock()) {
            return false;
        }
        try {
            if (pending[shard].get() != 0) {
                return false;   // submitted between the check and the gate: it runs first
            }
            FlushScope.run(() -> runJob(job));
            ranInline.increment();
            return true;
        } finally {
            gate.unlock();
        }
    }

    private void runJob(Runnable job) {
        try {
            job.run();
        } catch (RuntimeException e) {
            LOG.error("write job failed", e);
        }
        jobs.increment();
    }

    private void run(int shard) {
        ArrayBlockingQueue<Runnable> queue = queues[shard];
        ReentrantLock gate = gates[shard];
        List<Runnable> round = new ArrayList<>();
        while (true) {
            try {
                round.add(queue.take());
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(round);
            rounds.increment();
            boolean stop = round.remove(STOP);
            gate.lock();
            try {
                FlushScope.run(() -> {
                    for (Runnable job : round) {
                        runJob(job);
                    }
                });
            } finally {
                pending[shard].addAndGet(-round.size());
                gate.unlock();
            }
            round.clear();
            if (stop) {
                return;
            }
        }
    }

    /** Runs what is queued, then stops. */
    @Override
    public void close() {
        try {
            for (ArrayBlockingQueue<Runnable> q : queues) {
                q.put(STOP);
            }
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(10));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
