package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.BatchResult;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.ScanListener;
import io.ferrydb.client.ScanOptions;
import io.ferrydb.client.WriteResult;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.server.FerryNode;
import io.ferrydb.server.config.NodeConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * The main job: starts an embedded node on its defaults, runs a short mixed workload
 * through the client, restarts the node to show recovery, and prints what it stored
 * and measured. Later issues extend it to clusters and replication.
 */
@Command(name = "demo", description = "Start an embedded node, run a short mixed workload, restart it, and report what was stored and measured.")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--data-dir", defaultValue = "./ferry-demo-data", description = "Data directory, wiped at start (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--port", defaultValue = "0", description = "gRPC port (default: a free port).")
    int port;

    @Option(names = "--http-port", defaultValue = "0", description = "Admin HTTP port (default: a free port).")
    int httpPort;

    @Option(names = "--seconds", defaultValue = "5", description = "Length of the mixed workload (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Object> report = new LinkedHashMap<>();
        wipe(dataDir);
        NodeConfig config = new NodeConfig();
        config.dataDir = dataDir.toString();
        config.port = port;
        config.httpPort = httpPort;
        config.controlPort = 0;
        say(out, "starting an embedded FerryDB node (data dir %s)", dataDir.toAbsolutePath().normalize());
        FerryNode node = FerryNode.start(config);
        List<Key> syncKeys = new ArrayList<>();
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", node.grpcPort(), 10_000, 512))) {
            say(out, "node %s serving gRPC on 127.0.0.1:%d, metrics on http://127.0.0.1:%d/metrics", config.nodeId, node.grpcPort(), node.httpPort());

            // 1. Records of every bin type, SYNC.
            Key ada = Key.of("test", "people", "ada");
            WriteResult w = c.put(ada, Map.of("name", "Ada Lovelace", "born", 1815, "height_m", 1.65, "poet", false,
                    "languages", List.of("English", "French"), "notes", Map.of("engine", "analytical"), "sig", new byte[] {1, 2, 3}));
            say(out, "put %s -> generation %d at partition %d lsn %d", ada, w.generation(), ada.partition(), w.lsn());
            Record r = c.get(ada);
            say(out, "get %s -> %s", ada, Output.text(r));
            report.put("typed_record", Output.record(r));

            // 2. Write policies: create-only, generation check.
            expectFailure(out, "create-only on an existing record", () -> c.put(WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY), ada, Map.of("x", 1)));
            expectFailure(out, "stale expected generation", () -> c.put(WritePolicy.DEFAULT.withExpectedGeneration(99), ada, Map.of("x", 1)));
            c.put(WritePolicy.DEFAULT.withExpectedGeneration(r.generation()), ada, Map.of("visits", 1));
            say(out, "generation-checked update accepted: generation now %d", c.get(ada).generation());

            // 3. SYNC writes acknowledged only after fsync (group commit).
            long t0 = System.nanoTime();
            List<java.util.concurrent.CompletableFuture<WriteResult>> fs = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                Key k = Key.of("test", "orders", "order-" + i);
                syncKeys.add(k);
                fs.add(c.async().put(WritePolicy.DEFAULT.withDurability(Durability.SYNC), k, Map.of("amount", i * 10, "status", "paid")));
            }
            for (var f : fs) {
                f.join();
            }
            double syncMs = (System.nanoTime() - t0) / 1e6;
            say(out, "2000 SYNC puts issued at once through the async client, all acknowledged after fsync, in %.0f ms", syncMs);
            report.put("sync_puts_2000_ms", Math.round(syncMs));

            // 4. Batch get, delete with tombstone, TTL.
            List<BatchResult> batch = c.batchGet(List.of(syncKeys.get(0), syncKeys.get(1), Key.of("test", "orders", "missing")));
            say(out, "batch get of 3 keys -> %s found, %s", batch.stream().filter(BatchResult::ok).count(), batch.get(2).error());
            c.delete(syncKeys.get(1999));
            say(out, "deleted %s -> exists=%s (a tombstone stays for change streams)", syncKeys.get(1999), c.exists(syncKeys.get(1999)));
            syncKeys.remove(1999);
            Key temp = Key.of("test", "sessions", "s-1");
            c.put(WritePolicy.DEFAULT.withTtlSeconds(1), temp, Map.of("user", "ada"));
            Thread.sleep(1100);
            say(out, "record with ttl=1s after 1.1 s -> exists=%s", c.exists(temp));

            // 5. Mixed workload.
            say(out, "running a %d s mixed workload (50%% reads, ASYNC writes, 100-byte values, 64 in flight; a cold JVM,"
                    + " see docs/BENCHMARKS.md for warmed-up figures)...", seconds);
            LoadGenerator.Settings s = new LoadGenerator.Settings("test", "demo", 2, 64, 10_000, LoadGenerator.Distribution.UNIFORM,
                    0, 100, 0.5, seconds * 1000L, 500, Durability.ASYNC, 7);
            LoadGenerator.preload(c, s, line -> { });
            Map<String, Object> bench = new LoadGenerator(c, s).run(i -> { });
            if (!json) {
                BenchCommand.printText(out, bench);
            }
            report.put("workload", bench);

            // 6. Scan with progress.
            long[] lastProgress = new long[1];
            long scanned = c.scan(ScanOptions.of("test", "orders"), new ScanListener() {
                public boolean onRecord(Record rec) {
                    return true;
                }

                public void onProgress(int done, int total, long sent) {
                    lastProgress[0] = done;
                }
            });
            say(out, "scan of set 'orders' -> %d records (%d/4096 partitions reported)", scanned, lastProgress[0]);
            report.put("scan_orders", scanned);
        }
        PartitionInfo before = node.store().partitionInfo("test", syncKeys.get(0).partition());
        node.close();
        say(out, "node stopped; restarting on the same data dir to show recovery...");
        FerryNode again = FerryNode.start(config);
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", again.grpcPort(), 10_000, 512))) {
            long present = 0;
            for (Key k : syncKeys) {
                if (c.exists(k)) {
                    present++;
                }
            }
            PartitionInfo after = again.store().partitionInfo("test", syncKeys.get(0).partition());
            WriteResult next = c.put(syncKeys.get(0), Map.of("status", "refunded"));
            say(out, "after restart: %d/%d SYNC records present; partition %d log %d..%d, next write got lsn %d",
                    present, syncKeys.size(), after.partition(), after.firstLsn(), after.lastLsn(), next.lsn());
            report.put("sync_records_after_restart", present);
            report.put("sync_records_written", syncKeys.size());
            report.put("lsn_before_restart", before.lastLsn());
            report.put("lsn_after_restart_next_write", next.lsn());
            if (present != syncKeys.size() || next.lsn() != before.lastLsn() + 1) {
                throw new FerryException(io.ferrydb.api.ErrorCode.INTERNAL, "recovery check failed: " + report);
            }
        } finally {
            again.close();
        }
        if (json) {
            out.println(Output.json(report));
        } else {
            say(out, "demo done: every SYNC write survived the restart and the partition log continued without a gap.");
        }
        return 0;
    }

    private void say(PrintWriter out, String format, Object... args) {
        if (!json) {
            out.printf("• " + format + "%n", args);
            out.flush();
        }
    }

    private void expectFailure(PrintWriter out, String what, Runnable r) {
        try {
            r.run();
            throw new IllegalStateException(what + " unexpectedly succeeded");
        } catch (FerryException e) {
            say(out, "%s -> refused: %s", what, e.getMessage());
        }
    }

    private static void wipe(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
