package io.ferrydb.server.mirror;

import io.ferrydb.api.Digest;
import io.ferrydb.core.loss.FailoverCheck;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.proto.FerryMirrorGrpc;
import io.ferrydb.proto.HoldsAnswer;
import io.ferrydb.proto.HoldsQuery;
import io.ferrydb.proto.HoldsRequest;
import io.ferrydb.proto.HoldsResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The I/O of the failover check ({@link FailoverCheck}): a node just promoted to master
 * of partitions whose master failed asks the old epochs' other replicas, one call per
 * node and namespace and all nodes at once, what they hold of those partitions and which
 * entries they hold above its own end. A replica that is not ALIVE, or does not answer
 * within the timeout, is reported as not reached. Runs before the partitions serve, so
 * it costs a failover one round trip (none with RF 2, where the failed master was the
 * only other replica).
 */
public final class FailoverSurvey {
    private static final Logger LOG = LoggerFactory.getLogger(FailoverSurvey.class);

    private FailoverSurvey() {}

    /** One partition to check: where the asker's log ends, and the other replicas to ask. */
    public record Query(String namespace, int partition, long aboveLsn, long epoch, List<String> replicas) {}

    /** What the replicas of one partition said, and which were not reached. */
    public record Outcome(List<FailoverCheck.Survivor> survivors, List<String> unreached) {}

    /**
     * @param addressOf a replica's address, or null when it is not ALIVE (it is not asked)
     */
    public static Map<Query, Outcome> ask(String self, List<Query> queries, Function<String, String> addressOf, long timeoutMs) {
        Map<Query, Outcome> out = new LinkedHashMap<>();
        // node -> namespace -> queries
        Map<String, Map<String, List<Query>>> byNode = new LinkedHashMap<>();
        for (Query q : queries) {
            out.put(q, new Outcome(new ArrayList<>(), new ArrayList<>()));
            for (String r : q.replicas()) {
                byNode.computeIfAbsent(r, x -> new LinkedHashMap<>()).computeIfAbsent(q.namespace(), x -> new ArrayList<>()).add(q);
            }
        }
        record Call(String node, String namespace, List<Query> queries, com.google.common.util.concurrent.ListenableFuture<HoldsResponse> answer) {}
        List<Call> calls = new ArrayList<>();
        List<ManagedChannel> channels = new ArrayList<>();
        try {
            for (Map.Entry<String, Map<String, List<Query>>> n : byNode.entrySet()) {
                String address = addressOf.apply(n.getKey());
                if (address == null) {
                    for (List<Query> qs : n.getValue().values()) {
                        qs.forEach(q -> out.get(q).unreached().add(n.getKey()));
                    }
                    continue;
                }
                ManagedChannel ch = NettyChannelBuilder.forTarget(address).usePlaintext().build();
                channels.add(ch);
                for (Map.Entry<String, List<Query>> ns : n.getValue().entrySet()) {
                    HoldsRequest.Builder req = HoldsRequest.newBuilder().setNamespace(ns.getKey()).setFromNode(self);
                    for (Query q : ns.getValue()) {
                        req.addPartitions(HoldsQuery.newBuilder().setPartition(q.partition()).setAboveLsn(q.aboveLsn()).setEpoch(q.epoch()));
                    }
                    calls.add(new Call(n.getKey(), ns.getKey(), ns.getValue(),
                            FerryMirrorGrpc.newFutureStub(ch).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS).holds(req.build())));
                }
            }
            for (Call c : calls) {
                Map<Integer, HoldsAnswer> answers = new HashMap<>();
                try {
                    for (HoldsAnswer a : c.answer().get().getPartitionsList()) {
                        answers.put(a.getPartition(), a);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (java.util.concurrent.ExecutionException e) {
                    LOG.warn("failover check: {} did not answer for {} partitions of {}: {}", c.node(), c.queries().size(), c.namespace(),
                            e.getCause().toString());
                }
                for (Query q : c.queries()) {
                    HoldsAnswer a = answers.get(q.partition());
                    if (a == null) {
                        out.get(q).unreached().add(c.node());
                    } else {
                        out.get(q).survivors().add(survivor(c.node(), a));
                    }
                }
            }
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
        }
        return out;
    }

    static FailoverCheck.Survivor survivor(String node, HoldsAnswer a) {
        List<FailoverCheck.HeldEntry> above = new ArrayList<>(a.getAboveCount());
        for (io.ferrydb.proto.HeldEntry e : a.getAboveList()) {
            above.add(new FailoverCheck.HeldEntry(e.getLsn(), e.getEpoch(), Digest.wrap(e.getDigest().toByteArray())));
        }
        return new FailoverCheck.Survivor(node, new AckTriplet(a.getCacheStartLsn(), a.getCacheEndLsn(), a.getCommittedLsn()), above);
    }
}
