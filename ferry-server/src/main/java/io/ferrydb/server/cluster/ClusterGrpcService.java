package io.ferrydb.server.cluster;

import com.google.protobuf.ByteString;
import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ApplyResult;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterCommand;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.proto.ClusterHistoryRequest;
import io.ferrydb.proto.ClusterHistoryResponse;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.DecommissionRequest;
import io.ferrydb.proto.DecommissionResponse;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.FerryClusterGrpc;
import io.ferrydb.proto.LossEntry;
import io.ferrydb.proto.LossesRequest;
import io.ferrydb.proto.LossesResponse;
import io.ferrydb.proto.SyncInfo;
import io.ferrydb.proto.SyncTotals;
import io.ferrydb.proto.SyncsRequest;
import io.ferrydb.proto.SyncsResponse;
import io.ferrydb.server.mirror.Replication;
import io.ferrydb.server.mirror.Resyncer;
import io.ferrydb.proto.NamespaceRouting;
import io.ferrydb.proto.PartitionMapRequest;
import io.ferrydb.proto.PartitionMapResponse;
import io.ferrydb.proto.RoutingNode;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The operators' side of the control plane over gRPC: status (with the encoded view
 * clients route by), a partition's duplication-schema history, and decommission.
 * Answers UNAVAILABLE until the node has joined. Bad input names the field.
 */
public final class ClusterGrpcService extends FerryClusterGrpc.FerryClusterImplBase {
    private static final long CONTROL_TIMEOUT_MS = 10_000;

    private final Supplier<NodeCluster> cluster;
    private final String nodeId;
    private final RecordStore store;

    private final Replication replication;

    public ClusterGrpcService(Supplier<NodeCluster> cluster, String nodeId, RecordStore store, Replication replication) {
        this.cluster = cluster;
        this.nodeId = nodeId;
        this.store = store;
        this.replication = replication;
    }

    /** The syncs this node ran as a master: in progress, the latest finished, totals per path. */
    @Override
    public void syncs(SyncsRequest request, StreamObserver<SyncsResponse> out) {
        SyncsResponse.Builder r = SyncsResponse.newBuilder().setNodeId(nodeId);
        for (Resyncer.Progress p : replication.syncsInProgress()) {
            r.addInProgress(SyncInfo.newBuilder().setNamespace(p.namespace()).setPartition(p.partition()).setMirror(p.mirror())
                    .setPath(p.phase()).setRecords(p.shipped()).setTotal(p.total()).setBytes(p.bytes()).setMillis(p.millis()));
        }
        for (Resyncer.Result x : replication.recentSyncs()) {
            r.addRecent(SyncInfo.newBuilder().setNamespace(x.namespace()).setPartition(x.partition()).setMirror(x.mirror())
                    .setPath(x.path().name()).setRecords(x.records()).setTotal(x.records()).setBytes(x.bytes()).setMillis(x.millis())
                    .setWhy(x.why()).setFinishedAtMs(x.finishedAtMs()));
        }
        for (Resyncer.Totals t : replication.syncTotals()) {
            r.addTotals(SyncTotals.newBuilder().setPath(t.path().name()).setSyncs(t.syncs()).setRecords(t.records()).setBytes(t.bytes())
                    .setSeconds(t.seconds()));
        }
        out.onNext(r.build());
        out.onCompleted();
    }

    /** This node's loss ledger (answered before the node has joined, too). */
    @Override
    public void losses(LossesRequest request, StreamObserver<LossesResponse> out) {
        if (request.getSinceMs() < 0) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("since_ms must be >= 0, got " + request.getSinceMs()).asRuntimeException());
            return;
        }
        LossesResponse.Builder r = LossesResponse.newBuilder().setNodeId(nodeId);
        for (LossRecord l : store.losses()) {
            if ((!request.getNamespace().isEmpty() && !request.getNamespace().equals(l.namespace())) || l.detectedAtMs() < request.getSinceMs()) {
                continue;
            }
            LossEntry.Builder e = LossEntry.newBuilder().setId(l.id()).setNamespace(l.namespace()).setPartition(l.partition())
                    .setEpoch(l.epoch()).setNewEpoch(l.newEpoch()).setFromLsn(l.fromLsn()).setToLsn(l.toLsn()).setCount(l.count())
                    .setCertainty(l.certainty().name()).setKind(l.kind().name()).setDetectedBy(l.detectedBy())
                    .setDetectedAtMs(l.detectedAtMs()).setDetail(l.detail());
            for (io.ferrydb.api.Digest d : l.digests()) {
                e.addDigests(ByteString.copyFrom(d.toBytes()));
            }
            r.addLosses(e);
        }
        out.onNext(r.build());
        out.onCompleted();
    }

    private NodeCluster joined(StreamObserver<?> out) {
        NodeCluster c = cluster.get();
        if (c == null) {
            out.onError(Status.UNAVAILABLE.withDescription("node is starting and has not joined the cluster yet").asRuntimeException());
        }
        return c;
    }

    @Override
    public void status(ClusterStatusRequest request, StreamObserver<ClusterStatusResponse> out) {
        NodeCluster c = joined(out);
        if (c == null) {
            return;
        }
        // Asynchronous throughout: this runs on a transport thread, and a blocking call from
        // it to another node could wait on this very event loop.
        ClusterView own = c.view();
        c.controlPlane().view()
                .orTimeout(2, TimeUnit.SECONDS)
                // Prefer the control plane's current view; fall back to what this node acts on.
                .handle((fresh, e) -> fresh != null && fresh.version() > own.version() ? fresh : own)
                .thenCompose(view -> heartbeatAges(c, view, request.getLocal()).thenApply(ages -> ClusterStatusResponse.newBuilder()
                        .setNodeId(c.nodeId())
                        .setLeaderId(c.controlPlane().leaderId().orElse(""))
                        .addAllControlVoters(c.votersList())
                        .setView(ByteString.copyFrom(ClusterCodec.encodeView(view)))
                        .putAllHeartbeatAgeMs(ages)
                        .build()))
                .whenComplete((response, error) -> {
                    if (error != null) {
                        out.onError(unavailable(error));
                    } else {
                        out.onNext(response);
                        out.onCompleted();
                    }
                });
    }

    /** Heartbeat ages are known to the leader only: a follower asks it (once, briefly), else has none. */
    private static CompletableFuture<Map<String, Long>> heartbeatAges(NodeCluster c, ClusterView view, boolean local) {
        if (local || c.controlPlane().isLeader()) {
            return CompletableFuture.completedFuture(c.controlPlane().heartbeatAgesMs());
        }
        String leader = c.controlPlane().leaderId().orElse(null);
        Member m = leader == null ? null : view.member(leader);
        if (m == null) {
            return CompletableFuture.completedFuture(Map.of());
        }
        io.grpc.ManagedChannel ch = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forTarget(m.address()).usePlaintext().build();
        CompletableFuture<Map<String, Long>> ages = new CompletableFuture<>();
        FerryClusterGrpc.newStub(ch).withDeadlineAfter(1, TimeUnit.SECONDS).status(ClusterStatusRequest.newBuilder().setLocal(true).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(ClusterStatusResponse r) {
                        ages.complete(r.getHeartbeatAgeMsMap());
                    }

                    @Override
                    public void onError(Throwable t) {
                        ages.complete(Map.of());
                    }

                    @Override
                    public void onCompleted() {
                        ages.complete(Map.of());
                    }
                });
        return ages.whenComplete((r, e) -> ch.shutdown());
    }

    /**
     * The routing map from the view this node acts on: a client that was refused by
     * this node learns here the master this node believes in, which is at most one
     * heartbeat behind the control plane.
     */
    @Override
    public void partitionMap(PartitionMapRequest request, StreamObserver<PartitionMapResponse> out) {
        NodeCluster c = joined(out);
        if (c == null) {
            return;
        }
        out.onNext(routing(c.nodeId(), c.view()));
        out.onCompleted();
    }

    static PartitionMapResponse routing(String nodeId, ClusterView view) {
        PartitionMapResponse.Builder b = PartitionMapResponse.newBuilder().setNodeId(nodeId).setViewVersion(view.version());
        Map<String, Integer> index = new HashMap<>();
        for (Member m : view.members().values()) {
            index.put(m.id(), index.size());
            b.addNodes(RoutingNode.newBuilder().setId(m.id()).setAddress(m.address()));
        }
        for (NamespaceTable t : view.tables().values()) {
            NamespaceRouting.Builder nb = NamespaceRouting.newBuilder().setName(t.namespace());
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                Integer master = e.available() ? index.get(e.master()) : null;
                nb.addMaster(master == null ? -1 : master);
                nb.addEpoch(e.epoch());
                Integer next = e.handoffTo() == null ? null : index.get(e.handoffTo());
                nb.addNext(next == null ? -1 : next);
            }
            b.addNamespaces(nb);
        }
        return b.build();
    }

    @Override
    public void history(ClusterHistoryRequest request, StreamObserver<ClusterHistoryResponse> out) {
        NodeCluster c = joined(out);
        if (c == null) {
            return;
        }
        if (request.getNamespace().isEmpty()) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("namespace: must not be empty").asRuntimeException());
            return;
        }
        if (request.getPartition() >= Limits.PARTITION_COUNT) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("partition: must be 0.." + (Limits.PARTITION_COUNT - 1)
                    + ", got " + Integer.toUnsignedString(request.getPartition())).asRuntimeException());
            return;
        }
        if (c.view().table(request.getNamespace()) == null) {
            out.onError(Status.NOT_FOUND.withDescription("namespace: '" + request.getNamespace() + "' is not in the cluster").asRuntimeException());
            return;
        }
        c.controlPlane().history(request.getNamespace(), request.getPartition())
                .orTimeout(CONTROL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
                .whenComplete((entries, error) -> {
                    if (error != null) {
                        out.onError(unavailable(error));
                    } else {
                        out.onNext(ClusterHistoryResponse.newBuilder().setEntries(ByteString.copyFrom(ClusterCodec.encodeHistory(entries))).build());
                        out.onCompleted();
                    }
                });
    }

    @Override
    public void decommission(DecommissionRequest request, StreamObserver<DecommissionResponse> out) {
        NodeCluster c = joined(out);
        if (c == null) {
            return;
        }
        String node = request.getNodeId();
        if (node.isBlank()) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("node_id: must not be empty").asRuntimeException());
            return;
        }
        if (c.view().member(node) == null) {
            out.onError(Status.NOT_FOUND.withDescription("node_id: no member '" + node + "' in the cluster").asRuntimeException());
            return;
        }
        CompletableFuture<ApplyResult> f = c.controlPlane().submit(new ClusterCommand.Decommission(node, System.currentTimeMillis(), List.of()));
        f.orTimeout(CONTROL_TIMEOUT_MS, TimeUnit.MILLISECONDS).whenComplete((result, error) -> {
            if (error != null) {
                out.onError(unavailable(error));
            } else if (result instanceof ApplyResult.Refused) {
                out.onError(Status.FAILED_PRECONDITION.withDescription(((ApplyResult.Refused) result).reason()).asRuntimeException());
            } else {
                ApplyResult.Applied a = (ApplyResult.Applied) result;
                out.onNext(DecommissionResponse.newBuilder().setMessage("node " + node + " is leaving: "
                        + a.partitionsChanged() + " partition entries changed; it becomes LEFT once its replicas have moved").build());
                out.onCompleted();
            }
        });
    }

    private static RuntimeException unavailable(Throwable error) {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null ? error.getCause() : error;
        return Status.UNAVAILABLE.withDescription("control plane: " + cause).asRuntimeException();
    }
}
