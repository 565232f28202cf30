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
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;
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
 * The main job: starts a local 3-node cluster in this process (embedded defaults,
 * free ports), runs typed writes, policies, SYNC writes and a short mixed workload
 * through a routing client, stops a node to show failover and rejoin, restarts every
 * node to show recovery, and prints what it stored and measured. Later issues add
 * mirroring of the data, shipping and change streams.
 */
@Command(name = "demo", description = "Start a local 3-node cluster, run a short workload, show failover and recovery, and report what was stored and measured.")
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

    @Option(names = "--nodes", defaultValue = "3", description = "Nodes of the local cluster, all control voters: 1 or 3 (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Override
    public Integer call() throws Exception {
        if (nodes != 1 && nodes != 3) {
            throw FerryException.invalid("--nodes must be 1 or 3, got %d", nodes);
        }
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Object> report = new LinkedHashMap<>();
        wipe(dataDir);
        List<NodeConfig> configs = configs();
        say(out, "starting a local %d-node FerryDB cluster in this process (data dirs under %s)", nodes, dataDir.toAbsolutePath().normalize());
        List<FerryNode> running = startAll(configs);
        FerryNode first = running.get(0);
        long settleMs = awaitSettled(running, null);
        ClusterView view = first.cluster().view();
        say(out, "cluster settled in %d ms: control-plane leader %s, partition masters per node %s (RF %d)", settleMs,
                leader(running), view.mastersPerNode("test"), first.store().namespace("namespace", "test").replicationFactor());
        report.put("nodes", nodes);
        report.put("masters_per_node", view.mastersPerNode("test"));
        List<Key> syncKeys = new ArrayList<>();
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", first.grpcPort(), 10_000, 512))) {
            say(out, "client seeded with node %s (gRPC 127.0.0.1:%d, metrics http://127.0.0.1:%d/metrics); it routes each key to its partition's master",
                    first.config().nodeId, first.grpcPort(), first.httpPort());

            // 1. Records of every bin type, SYNC.
            Key ada = Key.of("test", "people", "ada");
            WriteResult w = c.put(ada, Map.of("name", "Ada Lovelace", "born", 1815, "height_m", 1.65, "poet", false,
                    "languages", List.of("English", "French"), "notes", Map.of("engine", "analytical"), "sig", new byte[] {1, 2, 3}));
            say(out, "put %s -> generation %d at partition %d (master %s) lsn %d", ada, w.generation(), ada.partition(),
                    view.entry("test", ada.partition()).master(), w.lsn());
            Record r = c.get(ada);
            say(out, "get %s -> %s", ada, Output.text(r));
            report.put("typed_record", Output.record(r));

            // 2. Write policies: create-only, generation check.
            expectFailure(out, "create-only on an existing record", () -> c.put(WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY), ada, Map.of("x", 1)));
            expectFailure(out, "stale expected generation", () -> c.put(WritePolicy.DEFAULT.withExpectedGeneration(99), ada, Map.of("x", 1)));
            c.put(WritePolicy.DEFAULT.withExpectedGeneration(r.generation()), ada, Map.of("visits", 1));
            say(out, "generation-checked update accepted: generation now %d", c.get(ada).generation());

            // 3. SYNC writes acknowledged only after fsync (group commit), spread over every master.
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
            say(out, "2000 SYNC puts issued at once through the async client, each to its master, all acknowledged after fsync, in %.0f ms", syncMs);
            report.put("sync_puts_2000_ms", Math.round(syncMs));

            // 4. Batch get, delete with tombstone, TTL.
            List<BatchResult> batch = c.batchGet(List.of(syncKeys.get(0), syncKeys.get(1), Key.of("test", "orders", "missing")));
            say(out, "batch get of 3 keys (split by master) -> %s found, %s", batch.stream().filter(BatchResult::ok).count(), batch.get(2).error());
            c.delete(syncKeys.get(1999));
            say(out, "deleted %s -> exists=%s (a tombstone stays for change streams)", syncKeys.get(1999), c.exists(syncKeys.get(1999)));
            syncKeys.remove(1999);
            Key temp = Key.of("test", "sessions", "s-1");
            c.put(WritePolicy.DEFAULT.withTtlSeconds(1), temp, Map.of("user", "ada"));
            Thread.sleep(1100);
            say(out, "record with ttl=1s after 1.1 s -> exists=%s", c.exists(temp));

            // 5. Mixed workload.
            say(out, "running a %d s mixed workload (50%% reads, ASYNC writes, 100-byte values, 64 in flight; a cold JVM"
                    + " hosting %d nodes, see docs/BENCHMARKS.md for warmed-up figures)...", seconds, nodes);
            LoadGenerator.Settings s = new LoadGenerator.Settings("test", "demo", 2, 64, 10_000, LoadGenerator.Distribution.UNIFORM,
                    0, 100, 0.5, seconds * 1000L, 500, Durability.ASYNC, null, 7);
            LoadGenerator.preload(c, s, line -> { });
            Map<String, Object> bench = new LoadGenerator(c, s).run(i -> { });
            if (!json) {
                BenchCommand.printText(out, bench);
            }
            report.put("workload", bench);

            // 6. Scan with progress: each master scans exactly its own partitions.
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

        // 6b. The same cluster through the Redis protocol.
        report.putAll(RedisDemo.run(first, (format, args) -> say(out, format, args)));

        // 7. Failover: a node stops; the control plane notices and publishes new epochs.
        if (nodes == 3) {
            // Not the control-plane leader, so this shows failure detection itself (losing the
            // leader adds an election and the new leader's full failure timeout).
            int vi = running.get(2).cluster().controlPlane().isLeader() ? 1 : 2;
            FerryNode victim = running.get(vi);
            String victimId = victim.config().nodeId;
            int held = first.cluster().view().mastersPerNode("test").getOrDefault(victimId, 0);
            long t0 = System.nanoTime();
            victim.close();
            running.set(vi, null);
            awaitSettledWithout(running, victimId);
            long failoverMs = (System.nanoTime() - t0) / 1_000_000; // from the moment the node began to stop
            ClusterView after = first.cluster().view();
            say(out, "node %s stopped: declared failed and its %d partitions moved to new masters in %d ms (failure timeout %d ms); masters now %s",
                    victimId, held, failoverMs, configs.get(vi).failureTimeoutMs, after.mastersPerNode("test"));
            report.put("failover_ms", failoverMs);
            // Every SYNC write was acknowledged with commit level ALL: the promoted mirrors have them.
            try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", first.grpcPort(), 10_000, 512))) {
                long readable = 0;
                for (Key k : syncKeys) {
                    if (c.exists(k)) {
                        readable++;
                    }
                }
                say(out, "while %s is away: %d/%d SYNC records readable from the promoted mirrors (commit level ALL)",
                        victimId, readable, syncKeys.size());
                report.put("sync_records_during_failover", readable);
                if (readable != syncKeys.size()) {
                    throw new FerryException(io.ferrydb.api.ErrorCode.INTERNAL, "acknowledged writes missing after failover: " + report);
                }
                // Changes while it is away: the masters track the changed keys for its resync.
                List<java.util.concurrent.CompletableFuture<WriteResult>> updates = new ArrayList<>();
                for (int round = 0; round < 5; round++) {
                    for (Key k : syncKeys.subList(0, 200)) {
                        updates.add(c.async().put(WritePolicy.DEFAULT.withDurability(Durability.SYNC), k, Map.of("round", round)));
                    }
                }
                java.util.concurrent.CompletableFuture.allOf(updates.toArray(new java.util.concurrent.CompletableFuture[0])).join();
                say(out, "while %s is away: 1000 more SYNC writes (5 rounds over 200 keys); the masters track the changed keys",
                        victimId);
            }
            Map<String, long[]> syncsBefore = syncTotals(running);
            long t1 = System.nanoTime();
            running.set(vi, FerryNode.start(configs.get(vi)));
            awaitSettled(running, victimId);
            long rejoinMs = (System.nanoTime() - t1) / 1_000_000;
            say(out, "node %s restarted on its data dir, was resynced, rejoined and took its partitions back %d ms after its start began (%d ms from stop to settled)",
                    victimId, rejoinMs, (System.nanoTime() - t0) / 1_000_000);
            Map<String, long[]> syncsAfter = syncTotals(running);
            StringBuilder paths = new StringBuilder();
            Map<String, Object> resync = new LinkedHashMap<>();
            for (Map.Entry<String, long[]> e : syncsAfter.entrySet()) {
                long[] b = syncsBefore.getOrDefault(e.getKey(), new long[3]);
                long[] a = e.getValue();
                paths.append(String.format("%s%s %d partitions (%d records, %d bytes)", paths.length() == 0 ? "" : ", ", e.getKey(),
                        a[0] - b[0], a[1] - b[1], a[2] - b[2]));
                resync.put(e.getKey(), Map.of("syncs", a[0] - b[0], "records", a[1] - b[1], "bytes", a[2] - b[2]));
            }
            say(out, "resync paths taken (chosen per partition: the cheapest sufficient): %s", paths);
            report.put("resync", resync);
            long lost = 0;
            for (FerryNode n : running) {
                for (io.ferrydb.core.loss.LossRecord l : n.store().losses()) {
                    lost += l.count();
                    say(out, "loss ledger: %s/%d epoch %d lsn %d..%d, %d write(s) %s", l.namespace(), l.partition(), l.epoch(), l.fromLsn(),
                            l.toLsn(), l.count(), l.certainty());
                }
            }
            say(out, "loss report (what `ferry losses` lists): %d lost writes%s", lost, lost == 0
                    ? " - every write was acknowledged with ALL+SYNC and the stopped node left no divergent tail" : "");
            report.put("lost_writes", lost);
            report.put("rejoin_ms", rejoinMs);
        }

        // 8. Recovery: stop every node, start them again on the same data dirs.
        int p0 = syncKeys.get(0).partition();
        String p0Master = first.cluster().view().entry("test", p0).master();
        PartitionInfo before = node(running, p0Master).store().partitionInfo("test", p0);
        for (FerryNode n : running) {
            n.close();
        }
        say(out, "all nodes stopped; starting them again on the same data dirs to show recovery...");
        running = startAll(configs);
        try {
            awaitSettled(running, null);
            try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", running.get(0).grpcPort(), 10_000, 512))) {
                long present = 0;
                for (Key k : syncKeys) {
                    if (c.exists(k)) {
                        present++;
                    }
                }
                PartitionInfo after = node(running, p0Master).store().partitionInfo("test", p0);
                WriteResult next = c.put(syncKeys.get(0), Map.of("status", "refunded"));
                say(out, "after restart: %d/%d SYNC records present; partition %d (master %s) log %d..%d, next write got lsn %d",
                        present, syncKeys.size(), after.partition(), p0Master, after.firstLsn(), after.lastLsn(), next.lsn());
                report.put("sync_records_after_restart", present);
                report.put("sync_records_written", syncKeys.size());
                report.put("lsn_before_restart", before.lastLsn());
                report.put("lsn_after_restart_next_write", next.lsn());
                if (present != syncKeys.size() || next.lsn() != before.lastLsn() + 1) {
                    throw new FerryException(io.ferrydb.api.ErrorCode.INTERNAL, "recovery check failed: " + report);
                }
            }
        } finally {
            for (FerryNode n : running) {
                n.close();
            }
        }
        if (json) {
            out.println(Output.json(report));
        } else {
            say(out, "demo done: every SYNC write survived the restart and the partition log continued without a gap.");
        }
        return 0;
    }

    /** One config per node: node 1 takes --port/--http-port, all are voters on free control ports. */
    private List<NodeConfig> configs() throws IOException {
        List<NodeConfig> out = new ArrayList<>();
        List<String> voters = new ArrayList<>();
        for (int i = 1; i <= nodes; i++) {
            NodeConfig c = new NodeConfig();
            c.nodeId = "n" + i;
            c.dataDir = (nodes == 1 ? dataDir : dataDir.resolve("n" + i)).toString();
            c.port = i == 1 ? port : 0;
            c.httpPort = i == 1 ? httpPort : 0;
            c.controlPort = freePort();
            // The Redis step uses the demo's namespace: a second namespace would double what the cluster copies while it forms.
            c.redis.namespace = "test";
            c.withRedis(0);
            voters.add(c.nodeId + "@127.0.0.1:" + c.controlPort);
            out.add(c);
        }
        for (NodeConfig c : out) {
            c.controlVoters = new ArrayList<>(voters);
        }
        return out;
    }

    /** Finished syncs per path over all running nodes: syncs, records, bytes. */
    private static Map<String, long[]> syncTotals(List<FerryNode> running) {
        Map<String, long[]> out = new java.util.TreeMap<>();
        for (FerryNode n : running) {
            if (n == null) {
                continue;
            }
            for (io.ferrydb.server.mirror.Resyncer.Totals t : n.replication().syncTotals()) {
                long[] x = out.computeIfAbsent(t.path().name(), k -> new long[3]);
                x[0] += t.syncs();
                x[1] += t.records();
                x[2] += t.bytes();
            }
        }
        return out;
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            return s.getLocalPort();
        }
    }

    /** Starts the nodes at once: a voter is ready only when a quorum of them is up. */
    private static List<FerryNode> startAll(List<NodeConfig> configs) throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(configs.size());
        try {
            List<java.util.concurrent.Future<FerryNode>> fs = new ArrayList<>();
            for (NodeConfig c : configs) {
                fs.add(pool.submit(() -> FerryNode.start(c)));
            }
            List<FerryNode> out = new ArrayList<>();
            Exception failed = null;
            for (var f : fs) {
                try {
                    out.add(f.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    failed = e.getCause() instanceof Exception ex ? ex : e;
                }
            }
            if (failed != null) {
                for (FerryNode n : out) {
                    n.close();
                }
                throw failed;
            }
            return out;
        } finally {
            pool.shutdown();
        }
    }

    private static FerryNode node(List<FerryNode> running, String id) {
        for (FerryNode n : running) {
            if (n != null && n.config().nodeId.equals(id)) {
                return n;
            }
        }
        throw new IllegalStateException("no running node " + id);
    }

    private static String leader(List<FerryNode> running) {
        for (FerryNode n : running) {
            if (n != null && n.cluster().controlPlane().isLeader()) {
                return n.config().nodeId;
            }
        }
        return "unknown";
    }

    private static final long SETTLE_TIMEOUT_MS = 60_000;

    /** Waits until every running node sees every partition with all replicas IN_SYNC (and, if named, {@code mustMaster} mastering some). */
    private static long awaitSettled(List<FerryNode> running, String mustMaster) throws InterruptedException {
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < SETTLE_TIMEOUT_MS * 1_000_000) {
            boolean all = true;
            for (FerryNode n : running) {
                ClusterView v = n.cluster().view();
                all &= settled(v, null) && (mustMaster == null || v.mastersPerNode("test").getOrDefault(mustMaster, 0) > 0);
            }
            if (all) {
                return (System.nanoTime() - t0) / 1_000_000;
            }
            Thread.sleep(20);
        }
        throw new FerryException(io.ferrydb.api.ErrorCode.UNAVAILABLE, "the cluster did not settle within " + SETTLE_TIMEOUT_MS + " ms");
    }

    /** Waits until the live nodes see {@code gone} DEAD and every partition served by a live master. */
    private static long awaitSettledWithout(List<FerryNode> running, String gone) throws InterruptedException {
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < SETTLE_TIMEOUT_MS * 1_000_000) {
            boolean all = true;
            for (FerryNode n : running) {
                if (n != null) {
                    all &= settled(n.cluster().view(), gone);
                }
            }
            if (all) {
                return (System.nanoTime() - t0) / 1_000_000;
            }
            Thread.sleep(20);
        }
        throw new FerryException(io.ferrydb.api.ErrorCode.UNAVAILABLE, "no failover of " + gone + " within " + SETTLE_TIMEOUT_MS + " ms");
    }

    private static boolean settled(ClusterView v, String gone) {
        NamespaceTable t = v.table("test");
        if (t == null) {
            return false;
        }
        for (Member m : v.members().values()) {
            if ((m.liveness() == Liveness.ALIVE) == m.id().equals(gone)) {
                return false;
            }
        }
        for (int p = 0; p < t.size(); p++) {
            PartitionEntry e = t.entry(p);
            if (!e.available() || e.handoffTo() != null || e.master().equals(gone)) {
                return false;
            }
            if (gone == null) {
                for (Replica r : e.replicas()) {
                    if (r.state() != ReplicaState.IN_SYNC) {
                        return false;
                    }
                }
            }
        }
        return true;
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
