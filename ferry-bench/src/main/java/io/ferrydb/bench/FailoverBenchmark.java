package io.ferrydb.bench;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Failover with default settings, measured as a client sees it: a 3-node cluster of
 * real processes ({@code ferry cluster start-local}), a writer putting one key with
 * ALL+SYNC in a loop, SIGKILL of that key's master (a node that is not the
 * control-plane leader), and the time from the kill to the first write acknowledged
 * afterwards (by the new master). The node is restarted and the cluster allowed to
 * settle between runs. Prints each run and the median.
 *
 * <pre>mvn -B -ntp -q -DskipTests package
 * java -cp "ferry-bench/target/ferry-bench.jar:ferry-bench/target/lib/*" io.ferrydb.bench.FailoverBenchmark [runs]</pre>
 */
public final class FailoverBenchmark {
    private static final String NS = "test";
    private static final WritePolicy ALL_SYNC = WritePolicy.DEFAULT.withCommitLevel(CommitLevel.ALL).withDurability(Durability.SYNC);

    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        Path base = Files.createTempDirectory("ferry-failover-bench");
        int basePort = 7950;
        List<Long> pids = LocalProcesses.startLocal(3, base, basePort);
        String voters = "n1@127.0.0.1:" + (basePort + 2) + ",n2@127.0.0.1:" + (basePort + 12) + ",n3@127.0.0.1:" + (basePort + 22);
        long[] ms = new long[runs];
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", basePort, 10_000, 64))) {
            for (int run = 0; run < runs; run++) {
                ClusterView v = awaitSettled(basePort, 180_000);
                String leader = leader(basePort);
                // A key mastered by a node that is not the control-plane leader.
                Key key = null;
                for (int i = 0; key == null; i++) {
                    Key k = Key.of(NS, "failover", "k" + run + "-" + i);
                    if (!v.entry(NS, k.partition()).master().equals(leader)) {
                        key = k;
                    }
                }
                String victim = v.entry(NS, key.partition()).master();
                int vi = Integer.parseInt(victim.substring(1)) - 1;
                AtomicBoolean stop = new AtomicBoolean();
                AtomicLong killedAt = new AtomicLong(Long.MAX_VALUE);
                AtomicLong firstAfter = new AtomicLong();
                Key k = key;
                Thread writer = new Thread(() -> {
                    for (int i = 0; !stop.get(); i++) {
                        try {
                            c.put(ALL_SYNC, k, Map.of("i", i));
                            long now = System.nanoTime();
                            if (now > killedAt.get() && firstAfter.get() == 0) {
                                firstAfter.set(now);
                            }
                        } catch (RuntimeException e) {
                            // refused or timed out during the failover: try again
                        }
                    }
                });
                writer.start();
                Thread.sleep(1_000);
                ProcessHandle.of(pids.get(vi)).ifPresent(ProcessHandle::destroyForcibly);
                killedAt.set(System.nanoTime());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (firstAfter.get() == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                stop.set(true);
                writer.join();
                ms[run] = firstAfter.get() == 0 ? -1 : TimeUnit.NANOSECONDS.toMillis(firstAfter.get() - killedAt.get());
                System.out.printf("run %d: SIGKILL of %s (master of %s, not the control-plane leader %s): first acknowledged write %d ms later%n",
                        run + 1, victim, key, leader, ms[run]);
                // Bring it back on its data dir, as start-local started it.
                Path dir = base.resolve(victim).toAbsolutePath();
                int port = basePort + 10 * vi;
                Process p = new ProcessBuilder("bin/ferry", "server", "--node-id", victim, "--bind", "127.0.0.1", "--port", Integer.toString(port),
                        "--http-port", Integer.toString(port + 1), "--control-port", Integer.toString(port + 2), "--data-dir", dir.toString(),
                        "--control-voters", voters).redirectOutput(base.resolve(victim + ".restart.out").toFile())
                        .redirectError(base.resolve(victim + ".restart.log").toFile()).start();
                pids.set(vi, p.pid());
            }
            awaitSettled(basePort, 180_000);
        } finally {
            LocalProcesses.stop(pids);
        }
        long[] sorted = ms.clone();
        Arrays.sort(sorted);
        System.out.printf("failover, SIGKILL to first acknowledged write (ALL+SYNC), %d runs: %s ms; median %d ms%n", runs,
                Arrays.toString(ms), sorted[runs / 2]);
    }

    private static String leader(int port) {
        return LocalProcesses.status(port).getLeaderId();
    }

    /** Every member alive and every replica IN_SYNC, with no handoff pending. */
    private static ClusterView awaitSettled(int port, long timeoutMs) throws InterruptedException {
        return LocalProcesses.await(port, timeoutMs, FailoverBenchmark::settled);
    }

    private static boolean settled(ClusterView v) {
        if (v.members().size() != 3 || v.members().values().stream().anyMatch(m -> m.liveness() != Liveness.ALIVE)) {
            return false;
        }
        NamespaceTable t = v.table(NS);
        if (t == null) {
            return false;
        }
        for (int p = 0; p < t.size(); p++) {
            PartitionEntry e = t.entry(p);
            if (e.handoffTo() != null || e.replicas().size() != 2) {
                return false;
            }
            for (Replica r : e.replicas()) {
                if (r.state() != ReplicaState.IN_SYNC) {
                    return false;
                }
            }
        }
        return true;
    }
}
