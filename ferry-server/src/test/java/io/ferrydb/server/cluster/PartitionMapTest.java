package io.ferrydb.server.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ClusterCommand;
import io.ferrydb.core.cluster.ClusterState;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.NamespaceSpec;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.proto.NamespaceRouting;
import io.ferrydb.proto.PartitionMapResponse;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The routing map clients fetch: each partition's serving master and epoch, from the node's view. */
class PartitionMapTest {
    private static ClusterCommand.Join join(String node) {
        return new ClusterCommand.Join(node, "127.0.0.1:7" + node.substring(1) + "00", "127.0.0.1:7" + node.substring(1) + "01", true,
                List.of(new NamespaceSpec("test", 2)), 0, List.of());
    }

    @Test
    void mapNamesTheServingMasterOfEveryPartitionAndNoneWhileItIsUnavailable() {
        ClusterState s = new ClusterState(8);
        s.apply(join("n1"));
        s.apply(join("n2"));
        // n2 reports its clones caught up: partitions whose desired master is n2 enter a handoff,
        // during which neither node serves them.
        List<io.ferrydb.core.cluster.PartitionRef> refs = new java.util.ArrayList<>();
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = s.view().entry("test", p);
            refs.add(new io.ferrydb.core.cluster.PartitionRef("test", p, "n2", e.epoch()));
        }
        s.apply(new ClusterCommand.CaughtUp(refs, 0, List.of()));
        ClusterView view = s.view();
        PartitionMapResponse r = ClusterGrpcService.routing("n1", view);
        assertEquals("n1", r.getNodeId());
        assertEquals(view.version(), r.getViewVersion());
        assertEquals(1, r.getNamespacesCount());
        NamespaceRouting ns = r.getNamespaces(0);
        assertEquals("test", ns.getName());
        assertEquals(Limits.PARTITION_COUNT, ns.getMasterCount());
        assertEquals(Limits.PARTITION_COUNT, ns.getEpochCount());
        int served = 0;
        int waiting = 0;
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionEntry e = view.entry("test", p);
            assertEquals(e.epoch(), ns.getEpoch(p), "epoch of partition " + p);
            int m = ns.getMaster(p);
            if (e.available()) {
                served++;
                assertEquals(-1, ns.getNext(p), "partition " + p + " does not move");
                assertEquals(view.member(e.master()).address(), r.getNodes(m).getAddress(), "master address of partition " + p);
                assertEquals(e.master(), r.getNodes(m).getId());
            } else {
                waiting++;
                assertEquals(-1, m, "partition " + p + " has no serving master (handoff pending), so the map names none");
                assertEquals(e.handoffTo(), r.getNodes(ns.getNext(p)).getId(), "partition " + p + " names the node taking it over");
            }
        }
        // n1 masters everything until n2 has caught up; partitions moving to n2 are in handoff or still served by n1.
        assertEquals(Limits.PARTITION_COUNT, served + waiting);
        assertTrue(served > 1000, "n1 keeps serving what it keeps: " + served);
        assertEquals(io.ferrydb.core.cluster.ClusterState.MAX_HANDOFFS_IN_FLIGHT, waiting,
                "about half the partitions move to n2, at most the cap of them at once: " + waiting);
    }
}
