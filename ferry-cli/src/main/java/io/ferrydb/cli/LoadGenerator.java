package io.ferrydb.cli;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.FerryClient;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * A closed-loop load generator: {@code threads} threads keep {@code inflight}
 * requests outstanding in total through the async client, pick keys from a uniform,
 * zipfian or hot-key distribution, and record latencies in HdrHistograms (reads and
 * writes apart). A progress line is reported every second.
 */
final class LoadGenerator {

    enum Distribution { UNIFORM, ZIPF, HOT }

    record Settings(String namespace, String set, int threads, int inflight, long keys, Distribution distribution,
                    double hotKeyRatio, int valueSize, double readRatio, long durationMs, long warmupMs,
                    Durability durability, CommitLevel commitLevel, long seed) {
        Settings {
            require(threads >= 1, "--threads must be >= 1, got %d", threads);
            require(inflight >= threads, "--inflight must be >= --threads (%d), got %d", threads, inflight);
            require(keys >= 1, "--keys must be >= 1, got %d", keys);
            require(hotKeyRatio >= 0 && hotKeyRatio <= 1, "--hot-key-ratio must be 0..1, got %s", hotKeyRatio);
            require(distribution != Distribution.HOT || hotKeyRatio > 0,
                    "--distribution HOT needs --hot-key-ratio above 0 (the share of operations on the hot key)");
            require(valueSize >= 0 && valueSize <= 8 * 1024 * 1024, "--value-size must be 0..8388608, got %d", valueSize);
            require(readRatio >= 0 && readRatio <= 1, "--read-ratio must be 0..1, got %s", readRatio);
            require(durationMs >= 1, "--duration must be positive, got %dms", durationMs);
            require(warmupMs >= 0, "--warmup must be >= 0, got %dms", warmupMs);
        }

        private static void require(boolean ok, String format, Object... args) {
            if (!ok) {
                throw FerryException.invalid(format, args);
            }
        }
    }

    record Interval(double elapsedS, double opsPerS, double p99Ms, long errors) {}

    private final FerryClient client;
    private final Settings s;
    private final Recorder reads = new Recorder(3);
    private final Recorder writes = new Recorder(3);
    private final LongAdder errors = new LongAdder();
    private final Map<ErrorCode, LongAdder> errorsByCode = new EnumMap<>(ErrorCode.class);
    private final AtomicBoolean measuring = new AtomicBoolean();
    private final byte[] value;

    LoadGenerator(FerryClient client, Settings settings) {
        this.client = client;
        this.s = settings;
        for (ErrorCode c : ErrorCode.values()) {
            errorsByCode.put(c, new LongAdder());
        }
        value = new byte[settings.valueSize()];
        new SplittableRandom(settings.seed()).nextBytes(value);
    }

    /** Writes every key once (ASYNC), so reads find records; reports progress. */
    static void preload(FerryClient client, Settings s, Consumer<String> progress) {
        byte[] value = new byte[s.valueSize()];
        new SplittableRandom(s.seed()).nextBytes(value);
        Semaphore permits = new Semaphore(s.inflight());
        LongAdder failed = new LongAdder();
        WritePolicy policy = WritePolicy.DEFAULT.withDurability(Durability.ASYNC);
        long step = Math.max(1, s.keys() / 10);
        for (long k = 0; k < s.keys(); k++) {
            permits.acquireUninterruptibly();
            client.async().put(policy, Key.of(s.namespace(), s.set(), k), Map.of("v", value)).whenComplete((r, t) -> {
                if (t != null) {
                    failed.increment();
                }
                permits.release();
            });
            if ((k + 1) % step == 0) {
                progress.accept(String.format("preload: %d/%d keys", k + 1, s.keys()));
            }
        }
        permits.acquireUninterruptibly(s.inflight());
        if (failed.sum() > 0) {
            throw new FerryException(ErrorCode.INTERNAL, "preload: " + failed.sum() + " writes failed");
        }
    }

    /** Runs warmup then the measured duration; returns the summary. */
    Map<String, Object> run(Consumer<Interval> onInterval) throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(s.inflight());
        Thread[] workers = new Thread[s.threads()];
        int perThread = s.inflight() / s.threads();
        for (int t = 0; t < workers.length; t++) {
            int chains = perThread + (t < s.inflight() % s.threads() ? 1 : 0);
            long seed = s.seed() * 31 + t;
            workers[t] = new Thread(() -> work(chains, seed, stop, finished), "bench-" + t);
            workers[t].setDaemon(true);
            workers[t].start();
        }
        Thread.sleep(s.warmupMs());
        reads.reset();
        writes.reset();
        errors.reset();
        measuring.set(true);
        Histogram readTotal = new Histogram(3);
        Histogram writeTotal = new Histogram(3);
        long start = System.nanoTime();
        long end = start + TimeUnit.MILLISECONDS.toNanos(s.durationMs());
        long lastErrors = 0;
        Histogram r = null;
        Histogram w = null;
        while (System.nanoTime() < end) {
            long sleepMs = Math.min(1000, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime()));
            if (sleepMs > 0) {
                Thread.sleep(sleepMs);
            }
            r = reads.getIntervalHistogram(r);
            w = writes.getIntervalHistogram(w);
            readTotal.add(r);
            writeTotal.add(w);
            long ops = r.getTotalCount() + w.getTotalCount();
            Histogram both = r.copy();
            both.add(w);
            long errs = errors.sum();
            onInterval.accept(new Interval((System.nanoTime() - start) / 1e9, ops / (Math.max(1, sleepMs) / 1000.0),
                    both.getValueAtPercentile(99) / 1e6, errs - lastErrors));
            lastErrors = errs;
        }
        double elapsedS = (System.nanoTime() - start) / 1e9;
        measuring.set(false);
        stop.set(true);
        for (Thread t : workers) {
            t.join(10_000);
        }
        finished.await(30, TimeUnit.SECONDS);
        r = reads.getIntervalHistogram(r);
        w = writes.getIntervalHistogram(w);
        readTotal.add(r);
        writeTotal.add(w);
        return summary(readTotal, writeTotal, elapsedS);
    }

    /**
     * Starts {@code chains} request chains: each issues its next request from the
     * completion of the previous one (as Aerospike's async benchmark does), so the
     * number in flight stays fixed without a thread hand-off per request.
     */
    private void work(int chains, long seed, AtomicBoolean stop, CountDownLatch finished) {
        SplittableRandom threadRnd = new SplittableRandom(seed);
        for (int i = 0; i < chains; i++) {
            new Chain(threadRnd.split(), stop, finished).next();
        }
    }

    private final class Chain {
        private final SplittableRandom rnd;
        private final KeyChooser keys;
        private final AtomicBoolean stop;
        private final CountDownLatch finished;
        private final WritePolicy policy = WritePolicy.DEFAULT.withDurability(s.durability()).withCommitLevel(s.commitLevel());
        private final Map<String, Object> bins = Map.of("v", value);
        private long t0;
        private boolean read;

        Chain(SplittableRandom rnd, AtomicBoolean stop, CountDownLatch finished) {
            this.rnd = rnd;
            this.keys = new KeyChooser(s, rnd);
            this.stop = stop;
            this.finished = finished;
        }

        void next() {
            while (!stop.get()) {
                Key key = Key.of(s.namespace(), s.set(), keys.next());
                read = rnd.nextDouble() < s.readRatio();
                t0 = System.nanoTime();
                CompletableFuture<?> f = read ? client.async().get(key) : client.async().put(policy, key, bins);
                if (!f.isDone()) {
                    f.whenComplete((x, t) -> {
                        done(t);
                        next();
                    });
                    return;
                }
                // Completed at once (e.g. refused locally): loop instead of recursing.
                done(f.handle((x, t) -> t).join());
            }
            finished.countDown();
        }

        private void done(Throwable t) {
            long ns = System.nanoTime() - t0;
            if (t != null) {
                errors.increment();
                errorsByCode.get(io.ferrydb.proto.Convert.toFerryException(t).code()).increment();
            } else if (measuring.get()) {
                (read ? reads : writes).recordValue(Math.max(1, ns));
            }
        }
    }

    private Map<String, Object> summary(Histogram r, Histogram w, double elapsedS) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("settings", s);
        m.put("elapsed_s", round(elapsedS));
        long ops = r.getTotalCount() + w.getTotalCount();
        m.put("ops", ops);
        m.put("ops_per_s", round(ops / elapsedS));
        m.put("reads", latency(r, elapsedS));
        m.put("writes", latency(w, elapsedS));
        Map<String, Long> errs = new LinkedHashMap<>();
        for (Map.Entry<ErrorCode, LongAdder> e : errorsByCode.entrySet()) {
            if (e.getValue().sum() > 0) {
                errs.put(e.getKey().name(), e.getValue().sum());
            }
        }
        m.put("errors", errs);
        return m;
    }

    private static Map<String, Object> latency(Histogram h, double elapsedS) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ops", h.getTotalCount());
        m.put("ops_per_s", round(h.getTotalCount() / elapsedS));
        m.put("p50_ms", round(h.getValueAtPercentile(50) / 1e6));
        m.put("p99_ms", round(h.getValueAtPercentile(99) / 1e6));
        m.put("p999_ms", round(h.getValueAtPercentile(99.9) / 1e6));
        m.put("max_ms", round(h.getMaxValue() / 1e6));
        return m;
    }

    private static double round(double d) {
        return Math.round(d * 1000) / 1000.0;
    }

    /** Picks keys 0..keys-1: uniform, zipfian (YCSB's theta 0.99), or one hot key with a given share. */
    static final class KeyChooser {
        private final Settings s;
        private final SplittableRandom rnd;
        private final double zetan;
        private final double theta = 0.99;
        private final double alpha;
        private final double eta;

        KeyChooser(Settings s, SplittableRandom rnd) {
            this.s = s;
            this.rnd = rnd;
            if (s.distribution() == Distribution.ZIPF) {
                double z = 0;
                long n = Math.min(s.keys(), 10_000_000);
                for (long i = 1; i <= n; i++) {
                    z += 1.0 / Math.pow(i, theta);
                }
                zetan = z;
                double zeta2 = 1 + 1.0 / Math.pow(2, theta);
                alpha = 1.0 / (1.0 - theta);
                eta = (1 - Math.pow(2.0 / n, 1 - theta)) / (1 - zeta2 / zetan);
            } else {
                zetan = alpha = eta = 0;
            }
        }

        long next() {
            if (s.hotKeyRatio() > 0 && rnd.nextDouble() < s.hotKeyRatio()) {
                return 0;
            }
            return switch (s.distribution()) {
                case UNIFORM, HOT -> rnd.nextLong(s.keys());
                case ZIPF -> zipf();
            };
        }

        private long zipf() {
            double u = rnd.nextDouble();
            double uz = u * zetan;
            if (uz < 1.0) {
                return 0;
            }
            if (uz < 1.0 + Math.pow(0.5, theta)) {
                return 1;
            }
            long n = Math.min(s.keys(), 10_000_000);
            return Math.min(s.keys() - 1, (long) (n * Math.pow(eta * u - eta + 1, alpha)));
        }
    }
}
