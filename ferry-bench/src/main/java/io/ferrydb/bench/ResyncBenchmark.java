package io.ferrydb.bench;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.core.store.WriteOp;
import io.ferrydb.api.Limits;
import io.ferrydb.server.SystemClock;
import io.ferrydb.server.storage.RocksStorage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Resync after a mirror was away during {@code writes} writes over {@code keys} hot keys:
 * the work of the LOG path (replay every change) against the TRACKED path (ship each
 * changed key's current record once), each on RocksDB as the nodes run them: the
 * master reads in chunks of 2,048 (log entries encoded as on the wire, records as
 * stored) and the mirror applies them (RecordStore.applyReplicated, resp.
 * beginSync/applySyncRecords/finishSync) and fsyncs at the end. No network hop: what is
 * compared is what each path has to read, ship and write. Both mirrors are checked to
 * end equal to the master. Prints each run and the medians.
 *
 * <pre>java -cp "ferry-bench/target/ferry-bench.jar:ferry-bench/target/lib/*" io.ferrydb.bench.ResyncBenchmark [runs] [writes] [keys]</pre>
 */
public final class ResyncBenchmark {
    private static final String NS = "test";
    private static final int CHUNK = 2_048;

    public static void main(String[] args) throws IOException {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int writes = args.length > 1 ? Integer.parseInt(args[1]) : 1_000_000;
        int keys = args.length > 2 ? Integer.parseInt(args[2]) : 10_000;
        double[] logMs = new double[runs];
        double[] trackedMs = new double[runs];
        for (int run = 0; run < runs; run++) {
            double[] r = run(writes, keys, run);
            logMs[run] = r[0];
            trackedMs[run] = r[1];
        }
        Arrays.sort(logMs);
        Arrays.sort(trackedMs);
        double log = logMs[runs / 2];
        double tracked = trackedMs[runs / 2];
        System.out.printf("median of %d runs: LOG %.0f ms, TRACKED %.0f ms: tracked keys %.1fx faster%n", runs, log, tracked, log / tracked);
    }

    private static double[] run(int writes, int keys, int run) throws IOException {
        Path dir = Files.createTempDirectory("ferry-resync-bench");
        NamespaceConfig cfg = new NamespaceConfig(NS, 2, 0, 1024 * 1024, 24L * 3600 * 1000, 1L << 40, 24L * 3600 * 1000,
                Durability.ASYNC, CommitLevel.MASTER);
        try (RocksStorage masterDisk = new RocksStorage(dir.resolve("master"), 64L << 20);
             RocksStorage logDisk = new RocksStorage(dir.resolve("mirror-log"), 64L << 20);
             RocksStorage trackedDisk = new RocksStorage(dir.resolve("mirror-tracked"), 64L << 20)) {
            RecordStore master = open(masterDisk, cfg);
            RecordStore viaLog = open(logDisk, cfg);
            RecordStore viaTracked = open(trackedDisk, cfg);
            SplittableRandom random = new SplittableRandom(run);
            byte[] value = new byte[100];
            // Every key written once and mirrored: the mirrors are in sync.
            write(master, keys, keys, false, random, value);
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                List<LogEntry> all = master.readLog(NS, p, 1, Integer.MAX_VALUE);
                if (!all.isEmpty()) {
                    viaLog.applyReplicated(NS, p, all);
                    viaTracked.applyReplicated(NS, p, all);
                }
                master.startTracking(NS, p, master.partitionInfo(NS, p).lastLsn() + 1, 100_000);
            }
            // The mirrors are away while the master takes the writes.
            long t0 = System.nanoTime();
            write(master, writes, keys, true, random, value);
            System.out.printf("run %d: %,d writes over %,d keys while the mirror was away (%.1f s)%n", run + 1, writes, keys,
                    (System.nanoTime() - t0) / 1e9);

            long shippedLog = 0;
            long bytesLog = 0;
            t0 = System.nanoTime();
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                long next = viaLog.partitionInfo(NS, p).lastLsn() + 1;
                long through = master.partitionInfo(NS, p).lastLsn();
                while (next <= through) {
                    List<LogEntry> chunk = master.readLog(NS, p, next, (int) Math.min(CHUNK, through - next + 1));
                    List<LogEntry> received = new ArrayList<>(chunk.size());
                    for (LogEntry e : chunk) {
                        byte[] wire = e.encode();
                        bytesLog += wire.length;
                        received.add(LogEntry.decode(wire));
                    }
                    viaLog.applyReplicated(NS, p, received);
                    next += chunk.size();
                    shippedLog += chunk.size();
                }
            }
            logDisk.sync();
            double logMs = (System.nanoTime() - t0) / 1e6;

            long shippedTracked = 0;
            long bytesTracked = 0;
            t0 = System.nanoTime();
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                long next = viaTracked.partitionInfo(NS, p).lastLsn() + 1;
                RecordStore.TrackedSnapshot ts = master.snapshotTracked(NS, p, next);
                if (ts == null) {
                    throw new IllegalStateException("partition " + p + " is not tracked from lsn " + next);
                }
                RecordStore.PartitionSnapshot s = ts.snapshot();
                viaTracked.beginSync(NS, p, false, s.epoch(), s.lastLsn(), s.epochStarts(), "bench");
                for (int from = 0; from < s.records().size(); from += CHUNK) {
                    List<byte[]> chunk = new ArrayList<>();
                    for (byte[] r : s.records().subList(from, Math.min(s.records().size(), from + CHUNK))) {
                        chunk.add(r.clone());
                        bytesTracked += r.length;
                    }
                    viaTracked.applySyncRecords(NS, p, chunk, from == 0 ? ts.gone() : List.of());
                    shippedTracked += chunk.size();
                }
                viaTracked.finishSync(NS, p, s.epoch(), s.lastLsn(), s.lastHlc(), s.epochStarts());
            }
            trackedDisk.sync();
            double trackedMs = (System.nanoTime() - t0) / 1e6;

            for (int k = 0; k < keys; k++) {
                Key key = Key.of(NS, "hot", k);
                if (!master.get(key).equals(viaLog.get(key)) || !master.get(key).equals(viaTracked.get(key))) {
                    throw new IllegalStateException("mirror differs from the master at " + key);
                }
            }
            System.out.printf("run %d: LOG shipped %,d entries (%,d bytes) in %.0f ms; TRACKED shipped %,d records (%,d bytes) in %.0f ms;"
                    + " %.1fx; both mirrors equal the master%n", run + 1, shippedLog, bytesLog, logMs, shippedTracked, bytesTracked,
                    trackedMs, logMs / trackedMs);
            return new double[] {logMs, trackedMs};
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    private static RecordStore open(RocksStorage disk, NamespaceConfig cfg) {
        return RecordStore.open(disk, SystemClock.INSTANCE, new HybridLogicalClock(SystemClock.INSTANCE), List.of(cfg), n -> { });
    }

    private static void write(RecordStore store, int count, int keys, boolean randomKeys, SplittableRandom random, byte[] value) {
        List<WriteOp> batch = new ArrayList<>(1_000);
        for (int i = 0; i < count; i++) {
            random.nextBytes(value);
            long k = randomKeys ? random.nextInt(keys) : i;
            batch.add(new WriteOp.Put(Key.of(NS, "hot", k), List.of(new BinValidator.NamedValue("v", Value.of(value.clone()))),
                    WritePolicy.DEFAULT));
            if (batch.size() == 1_000) {
                store.writeAll(batch);
                batch.clear();
            }
        }
        if (!batch.isEmpty()) {
            store.writeAll(batch);
        }
    }
}
