package io.ferrydb.bench;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.PartitionEntry;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Planned master handoffs measured as a client sees them: a 3-node cluster of real
 * processes ({@code ferry cluster start-local}), one key in each of up to 64 partitions
 * mastered by a node that is not the control-plane leader, written over and over with
 * ALL+SYNC by a thread per key, then {@code ferry node decommission} of that node: each of
 * its partitions is handed off (the master stops, brings the target level, the target
 * takes over). Per partition the stall is the longest time between two acknowledged
 * writes of its key from the decommission until its new master serves; the same
 * measure over the quiet second before is the baseline. At the end every key must hold
 * its last acknowledged value (a handoff loses nothing). Prints the stalls' median,
 * 90th percentile and maximum. Optional arguments: seconds of writing before the quiet
 * second (default 2: the cluster is fresh and its JIT still busy) and a write rate per
 * key (default: each writer as fast as its writes are acknowledged).
 *
 * <pre>mvn -B -ntp -q -DskipTests package
 * java -cp "ferry-bench/target/ferry-bench.jar:ferry-bench/target/lib/*" io.ferrydb.bench.HandoffBenchmark [WARMUP_S [WRITES_PER_S_PER_KEY]]</pre>
 */
public final class HandoffBenchmark {
    private static final String NS = "test";
    private static final WritePolicy ALL_SYNC = WritePolicy.DEFAULT.withCommitLevel(CommitLevel.ALL).withDurability(Durability.SYNC);
    private static final int KEYS = 64;

    public static void main(String[] args) throws Exception {
        long warmupMs = args.length > 0 ? parse("warm-up seconds", args[0], 0, 3_600) * 1_000 : 2_000;
        long paceNs = args.length > 1 ? 1_000_000_000L / parse("writes per second per key", args[1], 1, 100_000) : 0;
        Path base = Files.createTempDirectory("ferry-handoff-bench");
        int basePort = 7850;
        List<Long> pids = LocalProcesses.startLocal(3, base, basePort);
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", basePort, 10_000, 64))) {
            ClusterView v = LocalProcesses.await(basePort, 120_000, HandoffBenchmark::settled);
            String leader = LocalProcesses.status(basePort).getLeaderId();
            String victim = List.of("n3", "n2", "n1").stream().filter(n -> !n.equals(leader)).findFirst().orElseThrow();
            Map<Integer, Key> keys = new LinkedHashMap<>();
            for (int i = 0; keys.size() < KEYS; i++) {
                Key k = Key.of(NS, "handoff", "k" + i);
                if (victim.equals(v.entry(NS, k.partition()).master())) {
                    keys.putIfAbsent(k.partition(), k);
                }
            }
            List<Key> list = new ArrayList<>(keys.values());
            long[] lastAckNs = new long[list.size()];
            long[] maxGapNs = new long[list.size()];
            long[] lastValue = new long[list.size()];
            Arrays.fill(lastValue, -1);
            AtomicBoolean stop = new AtomicBoolean();
            java.util.concurrent.atomic.AtomicLong acks = new java.util.concurrent.atomic.AtomicLong();
            Map<String, Integer> errors = new java.util.concurrent.ConcurrentHashMap<>();
            List<Thread> writers = new ArrayList<>();
            long[] gapEndMs = new long[list.size()];
            // Every attempt per key: start (wall ms), duration, outcome; printed for the longest stall.
            List<List<Attempt>> attempts = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                attempts.add(java.util.Collections.synchronizedList(new ArrayList<>()));
            }
            // One writer per key: with a writer for several keys, one key's refused write held up
            // the others, and their "stalls" were the writer's (the first version had 4 writers for 64 keys).
            for (int t = 0; t < list.size(); t++) {
                int first = t;
                Thread w = new Thread(() -> {
                    long nextNs = System.nanoTime();
                    for (long round = 0; !stop.get(); round++) {
                        if (paceNs > 0) {
                            nextNs += paceNs;
                            long waitNs = nextNs - System.nanoTime();
                            if (waitNs > 0) {
                                java.util.concurrent.locks.LockSupport.parkNanos(waitNs);
                            } else {
                                nextNs = System.nanoTime();
                            }
                        }
                        for (int i = first; i < list.size(); i += list.size()) {
                            long t0 = System.currentTimeMillis();
                            try {
                                c.put(ALL_SYNC, list.get(i), Map.of("v", round));
                                attempts.get(i).add(new Attempt(t0, System.currentTimeMillis() - t0, "ok"));
                                acks.incrementAndGet();
                                long now = System.nanoTime();
                                synchronized (lastAckNs) {
                                    if (lastAckNs[i] != 0 && now - lastAckNs[i] > maxGapNs[i]) {
                                        maxGapNs[i] = now - lastAckNs[i];
                                        gapEndMs[i] = System.currentTimeMillis();
                                    }
                                    lastAckNs[i] = now;
                                    lastValue[i] = round;
                                }
                            } catch (RuntimeException e) {
                                // refused while its partition changes hands: the next round tries again
                                attempts.get(i).add(new Attempt(t0, System.currentTimeMillis() - t0, String.valueOf(e.getMessage())));
                                errors.merge(String.valueOf(e.getMessage()).replaceAll("[0-9]+", "N"), 1, Integer::sum);
                            }
                        }
                    }
                }, "handoff-writer-" + t);
                w.start();
                writers.add(w);
            }
            System.out.printf("writing for %d ms before the quiet second%n", warmupMs);
            Thread.sleep(warmupMs);
            long[] baseline;
            synchronized (lastAckNs) {
                Arrays.fill(maxGapNs, 0);
            }
            long acksBefore = acks.get();
            Thread.sleep(1_000);
            long quietAcks = acks.get() - acksBefore;
            synchronized (lastAckNs) {
                baseline = maxGapNs.clone();
                Arrays.fill(maxGapNs, 0);
            }
            long startNs = System.nanoTime();
            Process decommission = new ProcessBuilder("bin/ferry", "node", "decommission", victim, "--host", "127.0.0.1:" + basePort)
                    .redirectErrorStream(true).start();
            String said = new String(decommission.getInputStream().readAllBytes()).trim();
            if (decommission.waitFor() != 0) {
                throw new IllegalStateException("decommission failed: " + said);
            }
            // When each sampled partition's handoff and switch were first seen in the views polled
            // here (every ~100 ms), to tell a stall around the handoff from one during the clone.
            long[] handoffSeenMs = new long[list.size()];
            long[] switchSeenMs = new long[list.size()];
            LocalProcesses.await(basePort, 120_000, view -> {
                long now = System.currentTimeMillis();
                boolean done = true;
                for (int i = 0; i < list.size(); i++) {
                    PartitionEntry e = view.entry(NS, list.get(i).partition());
                    if (e.handoffTo() != null && handoffSeenMs[i] == 0) {
                        handoffSeenMs[i] = now;
                    }
                    if (!victim.equals(e.master()) && switchSeenMs[i] == 0) {
                        switchSeenMs[i] = now;
                    }
                    done &= !victim.equals(e.master()) && e.handoffTo() == null;
                }
                return done;
            });
            long movedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNs);
            Thread.sleep(1_000);
            stop.set(true);
            for (Thread w : writers) {
                w.join();
            }
            long[] stalls;
            synchronized (lastAckNs) {
                stalls = maxGapNs.clone();
            }
            int lost = 0;
            for (int i = 0; i < list.size(); i++) {
                Record r = c.get(list.get(i));
                long stored = r == null ? -1 : ((Number) r.bins().get("v").toJava()).longValue();
                if (stored != lastValue[i]) {
                    lost++;
                    System.out.printf("%s: last acknowledged %d, stored %d%n", list.get(i), lastValue[i], stored);
                }
            }
            System.out.printf("failed attempts by message: %s%n", errors);
            System.out.printf("decommission of %s (%s): its %d sampled partitions handed off within %d ms; %s%n", victim, said, list.size(),
                    movedMs, lost == 0 ? "every key holds its last acknowledged value" : lost + " keys lost their last acknowledged write");
            System.out.printf("longest gap between acknowledged ALL+SYNC writes per partition, ms: quiet second before %s "
                    + "(%d writes acknowledged in it); during the handoffs %s%n", summary(baseline), quietAcks, summary(stalls));
            // The stall of each partition's handoff: the gap between acknowledgements that spans the
            // moment its switch to the new master was seen.
            long[] handoffStalls = new long[list.size()];
            for (int i = 0; i < list.size(); i++) {
                long before = 0;
                long after = Long.MAX_VALUE;
                synchronized (attempts.get(i)) {
                    for (Attempt a : attempts.get(i)) {
                        long ackMs = a.startMs() + a.ms();
                        if (!a.outcome().equals("ok")) {
                            continue;
                        }
                        if (ackMs <= switchSeenMs[i]) {
                            before = Math.max(before, ackMs);
                        } else {
                            after = Math.min(after, ackMs);
                        }
                    }
                }
                handoffStalls[i] = TimeUnit.MILLISECONDS.toNanos(before == 0 || after == Long.MAX_VALUE ? 0 : after - before);
            }
            System.out.printf("stall around each partition's handoff (the gap between acknowledgements spanning its switch), ms: %s%n",
                    summary(handoffStalls));
            // Where the longest stall happened in its partition's history (epochs with their times).
            int worst = 0;
            for (int i = 1; i < stalls.length; i++) {
                worst = stalls[i] > stalls[worst] ? i : worst;
            }
            long endMs = gapEndMs[worst];
            System.out.printf("longest stall: partition %d, %d ms, ended at %tT.%<tL; its history:%n", list.get(worst).partition(),
                    TimeUnit.NANOSECONDS.toMillis(stalls[worst]), endMs);
            Process history = new ProcessBuilder("bin/ferry", "cluster", "history", "--ns", NS, "--partition",
                    String.valueOf(list.get(worst).partition()), "--host", "127.0.0.1:" + basePort).redirectErrorStream(true).start();
            System.out.println(new String(history.getInputStream().readAllBytes()).trim());
            history.waitFor();
            long fromMs = endMs - TimeUnit.NANOSECONDS.toMillis(stalls[worst]) - 500;
            System.out.println("its writes around the stall:");
            synchronized (attempts.get(worst)) {
                for (Attempt a : attempts.get(worst)) {
                    if (a.startMs() >= fromMs && a.startMs() <= endMs + 1_000) {
                        System.out.printf("  %tT.%<tL +%d ms %s%n", a.startMs(), a.ms(), a.outcome());
                    }
                }
            }
        } finally {
            LocalProcesses.stop(pids);
        }
    }

    /** One write attempt of a key: when it started (wall ms), how long it took, what came back. */
    private record Attempt(long startMs, long ms, String outcome) {}

    private static String summary(long[] ns) {
        long[] ms = Arrays.stream(ns).map(TimeUnit.NANOSECONDS::toMillis).sorted().toArray();
        return String.format("median %d, p90 %d, max %d", ms[ms.length / 2], ms[(int) (ms.length * 0.9)], ms[ms.length - 1]);
    }

    private static boolean settled(ClusterView v) {
        if (v.members().size() != 3 || v.table(NS) == null) {
            return false;
        }
        for (int p = 0; p < v.table(NS).size(); p++) {
            PartitionEntry e = v.table(NS).entry(p);
            if (e.handoffTo() != null || e.replicas().size() != 2
                    || e.replicas().stream().anyMatch(r -> r.state() != io.ferrydb.core.cluster.ReplicaState.IN_SYNC)) {
                return false;
            }
        }
        return true;
    }

    /** A whole-number argument within bounds, or an error naming it. */
    private static long parse(String what, String arg, long min, long max) {
        try {
            long v = Long.parseLong(arg);
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException e) {
            // falls through to the error below
        }
        throw new IllegalArgumentException(what + " must be a whole number from " + min + " to " + max + ", got '" + arg + "'");
    }
}
