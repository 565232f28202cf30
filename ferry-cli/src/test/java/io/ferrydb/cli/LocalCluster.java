package io.ferrydb.cli;

import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.FerryClusterGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * N node processes on 127.0.0.1 forming one cluster: the first {@code voters} are the
 * control plane's Raft voters (started in parallel, since none is ready before a
 * quorum is up), the rest join through node 1 as seed. For *IT tests.
 */
final class LocalCluster implements AutoCloseable {
    static final String NS = "test";
    /** Several JVMs starting at once on a small machine: more than one node's start-up time. */
    static final long READY_TIMEOUT_MS = 120_000;

    private final List<ServerProcess> nodes = new ArrayList<>();

    private LocalCluster() {
    }

    static LocalCluster start(Path baseDir, int count, int voters) {
        return start(baseDir, count, voters, List.of());
    }

    /** {@code extraArgs} go to every node (e.g. {@code --config FILE}; the flags set here override it). */
    static LocalCluster start(Path baseDir, int count, int voters, List<String> extraArgs) {
        LocalCluster c = new LocalCluster();
        try {
            for (int i = 1; i <= count; i++) {
                c.nodes.add(ServerProcess.prepare("n" + i, baseDir.resolve("n" + i)));
            }
            List<String> voterList = new ArrayList<>();
            for (int i = 0; i < voters; i++) {
                voterList.add(c.nodes.get(i).nodeId() + "@" + c.nodes.get(i).controlAddress());
            }
            List<CompletableFuture<Void>> starting = new ArrayList<>();
            java.util.concurrent.ExecutorService launcher = java.util.concurrent.Executors.newFixedThreadPool(voters);
            try {
                for (int i = 0; i < voters; i++) {
                    ServerProcess n = c.nodes.get(i);
                    List<String> args = new ArrayList<>(extraArgs);
                    args.addAll(List.of("--control-voters", String.join(",", voterList)));
                    starting.add(CompletableFuture.runAsync(() -> n.launch(args, READY_TIMEOUT_MS), launcher));
                }
                CompletableFuture.allOf(starting.toArray(new CompletableFuture[0])).join();
            } finally {
                launcher.shutdown();
            }
            for (int i = voters; i < count; i++) {
                List<String> args = new ArrayList<>(extraArgs);
                args.addAll(List.of("--seeds", c.nodes.get(0).hostPort()));
                c.nodes.get(i).launch(args, READY_TIMEOUT_MS);
            }
            return c;
        } catch (RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    /** Watches nodes started elsewhere (status and await only; closing it stops them). */
    static LocalCluster of(ServerProcess... started) {
        LocalCluster c = new LocalCluster();
        c.nodes.addAll(List.of(started));
        return c;
    }

    /** Starts one more node as a plain member (not a voter) that joins through the given seed. */
    ServerProcess addMember(Path baseDir, String id, ServerProcess seed) {
        ServerProcess n = ServerProcess.prepare(id, baseDir.resolve(id));
        nodes.add(n);
        n.launch(List.of("--seeds", seed.hostPort()), READY_TIMEOUT_MS);
        return n;
    }

    ServerProcess node(String id) {
        for (ServerProcess n : nodes) {
            if (n.nodeId().equals(id)) {
                return n;
            }
        }
        throw new IllegalArgumentException("no node " + id);
    }

    List<ServerProcess> nodes() {
        return nodes;
    }

    /** A live node's answer to cluster status (its leader id and the freshest view it knows). */
    Status status() {
        AssertionError last = null;
        for (ServerProcess n : nodes) {
            if (!n.isAlive()) {
                continue;
            }
            ManagedChannel ch = NettyChannelBuilder.forTarget(n.hostPort()).usePlaintext().build();
            try {
                ClusterStatusResponse r = FerryClusterGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .status(ClusterStatusRequest.getDefaultInstance());
                return new Status(r.getNodeId(), r.getLeaderId(), ClusterCodec.decodeView(r.getView().toByteArray()));
            } catch (RuntimeException e) {
                last = new AssertionError("status from " + n.nodeId() + ": " + e.getMessage(), e);
            } finally {
                ch.shutdownNow();
            }
        }
        throw last != null ? last : new AssertionError("no live node to ask for status");
    }

    record Status(String answeredBy, String leader, ClusterView view) {
        /** Every member ALIVE except the named ones, and every partition served by an IN_SYNC master on a live node. */
        boolean serving(String... downNodes) {
            List<String> down = List.of(downNodes);
            for (Member m : view.members().values()) {
                if (down.contains(m.id()) == (m.liveness() == Liveness.ALIVE)) {
                    return false;
                }
            }
            NamespaceTable t = view.table(NS);
            if (t == null) {
                return false;
            }
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                if (!e.available() || down.contains(e.master())) {
                    return false;
                }
            }
            return true;
        }

        /**
         * The named nodes DEAD, all others ALIVE, and every partition that kept a replica on
         * a live node served by a live master (a partition whose every replica is down waits).
         */
        boolean servingWherePossible(String... downNodes) {
            List<String> down = List.of(downNodes);
            for (Member m : view.members().values()) {
                if (down.contains(m.id()) == (m.liveness() == Liveness.ALIVE)) {
                    return false;
                }
            }
            NamespaceTable t = view.table(NS);
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                boolean anyLive = e.replicas().stream().anyMatch(r -> !down.contains(r.node()));
                if (anyLive && (!e.available() || down.contains(e.master()))) {
                    return false;
                }
            }
            return true;
        }

        /** All members ALIVE and, in every namespace, RF replicas per partition, all IN_SYNC, no handoff. */
        boolean settled(int rf) {
            if (!serving()) {
                return false;
            }
            for (NamespaceTable t : view.tables().values()) {
                for (int p = 0; p < t.size(); p++) {
                    PartitionEntry e = t.entry(p);
                    if (!e.available() || e.handoffTo() != null || e.replicas().size() != rf
                            || e.replicas().stream().anyMatch(r -> r.state() != ReplicaState.IN_SYNC)) {
                        return false;
                    }
                }
            }
            return true;
        }

        /** What the table looks like, for failure messages. */
        String describe() {
            StringBuilder b = new StringBuilder("view ").append(view.version()).append(" leader ").append(leader).append(" members");
            for (Member m : view.members().values()) {
                b.append(' ').append(m.id()).append('=').append(m.liveness());
            }
            NamespaceTable t = view.table(NS);
            if (t == null) {
                return b.append(" no table").toString();
            }
            int unavailable = 0;
            int handoff = 0;
            int notInSync = 0;
            java.util.Map<Integer, Integer> sizes = new java.util.TreeMap<>();
            String example = null;
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                unavailable += e.available() ? 0 : 1;
                handoff += e.handoffTo() != null ? 1 : 0;
                sizes.merge(e.replicas().size(), 1, Integer::sum);
                boolean bad = false;
                for (Replica r : e.replicas()) {
                    if (r.state() != ReplicaState.IN_SYNC) {
                        notInSync++;
                        bad = true;
                    }
                }
                if (example == null && (bad || !e.available() || e.handoffTo() != null || e.replicas().size() != 2)) {
                    example = "partition " + p + " " + e;
                }
            }
            return b.append("; unavailable ").append(unavailable).append(", handoffs ").append(handoff)
                    .append(", replicas not IN_SYNC ").append(notInSync).append(", partitions by replica count ").append(sizes)
                    .append(example == null ? "" : ", e.g. " + example).toString();
        }

        int masters(String node) {
            return view.mastersPerNode(NS).getOrDefault(node, 0);
        }
    }

    /** Polls status until the condition holds; returns the status and how long it took. */
    Timed await(String what, long timeoutMs, Predicate<Status> condition) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        Status s = null;
        RuntimeException lastError = null;
        while (System.nanoTime() < deadline) {
            try {
                s = status();
                if (condition.test(s)) {
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    System.out.printf("LocalCluster: %s after %d ms%n", what, ms);
                    return new Timed(s, ms);
                }
            } catch (AssertionError | RuntimeException e) {
                lastError = e instanceof RuntimeException re ? re : new RuntimeException(e);
            }
            Thread.sleep(50);
        }
        throw new AssertionError(what + ": not reached within " + timeoutMs + " ms; last status "
                + (s == null ? "none" : s.describe()), lastError);
    }

    record Timed(Status status, long ms) {}

    @Override
    public void close() {
        for (ServerProcess n : nodes) {
            n.close();
        }
    }
}
