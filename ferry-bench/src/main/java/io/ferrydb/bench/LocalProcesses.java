package io.ferrydb.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.FerryClusterGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** Node processes started by {@code ferry cluster start-local}, and questions to them, for the cluster benchmarks. */
final class LocalProcesses {
    private LocalProcesses() {}

    /** Starts {@code nodes} node processes under {@code base}; returns their pids, node 1 first. */
    static List<Long> startLocal(int nodes, Path base, int basePort) throws IOException, InterruptedException {
        Process starter = new ProcessBuilder("bin/ferry", "cluster", "start-local", "--nodes", Integer.toString(nodes), "--base-dir",
                base.toString(), "--base-port", Integer.toString(basePort), "--json").redirectErrorStream(true).start();
        String started = new String(starter.getInputStream().readAllBytes());
        if (starter.waitFor() != 0) {
            throw new IllegalStateException("start-local failed: " + started);
        }
        List<Long> pids = new ArrayList<>();
        for (JsonNode n : new ObjectMapper().readTree(started.substring(started.indexOf('{'))).get("nodes")) {
            pids.add(n.get("pid").asLong());
        }
        return pids;
    }

    static void stop(List<Long> pids) {
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
        }
    }

    static ClusterStatusResponse status(int port) {
        ManagedChannel ch = NettyChannelBuilder.forTarget("127.0.0.1:" + port).usePlaintext().build();
        try {
            return FerryClusterGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS).status(ClusterStatusRequest.getDefaultInstance());
        } finally {
            ch.shutdownNow();
        }
    }

    /** Polls the node at {@code port} until its view passes {@code done}. */
    static ClusterView await(int port, long timeoutMs, Predicate<ClusterView> done) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            try {
                ClusterView v = ClusterCodec.decodeView(status(port).getView().toByteArray());
                if (done.test(v)) {
                    return v;
                }
            } catch (RuntimeException e) {
                // not up yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("not reached in " + timeoutMs + " ms");
    }
}
