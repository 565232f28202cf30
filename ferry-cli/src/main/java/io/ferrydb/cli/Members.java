package io.ferrydb.cli;

import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.proto.FerryClusterGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** Asks every member of a view (not LEFT) the same admin question; names those that did not answer. */
final class Members {
    private Members() {}

    record Answers<T>(Map<String, T> byNode, List<String> unreachable) {}

    static <T> Answers<T> ask(ClusterView view, long timeoutMs, Function<FerryClusterGrpc.FerryClusterBlockingStub, T> question) {
        Map<String, T> answers = new TreeMap<>();
        List<String> unreachable = new java.util.ArrayList<>();
        for (Member m : view.members().values()) {
            if (m.liveness() == Liveness.LEFT) {
                continue;
            }
            ManagedChannel ch = NettyChannelBuilder.forTarget(m.address()).usePlaintext().build();
            try {
                answers.put(m.id(), question.apply(FerryClusterGrpc.newBlockingStub(ch).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS)));
            } catch (StatusRuntimeException e) {
                unreachable.add(m.id() + " (" + e.getStatus().getCode() + ")");
            } finally {
                ch.shutdownNow();
            }
        }
        return new Answers<>(answers, unreachable);
    }
}
