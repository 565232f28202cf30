package io.ferrydb.client;

import io.ferrydb.proto.NamespaceRouting;
import io.ferrydb.proto.PartitionMapResponse;
import io.ferrydb.proto.RoutingNode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class RoutingTest {
    /** Partition 0 mastered by node a in epoch 3, partition 1 with no master in epoch 5. */
    private static Routing map() {
        return Routing.of(PartitionMapResponse.newBuilder().setViewVersion(7)
                .addNodes(RoutingNode.newBuilder().setAddress("127.0.0.1:1"))
                .addNamespaces(NamespaceRouting.newBuilder().setName("ns").addMaster(0).addMaster(-1).addEpoch(3).addEpoch(5))
                .build());
    }

    /** A partition that moves is sent to the node taking it over; one with neither master nor successor to none. */
    @Test
    void aMovingPartitionIsSentToTheNodeTakingItOver() {
        Routing r = Routing.of(PartitionMapResponse.newBuilder().setViewVersion(7)
                .addNodes(RoutingNode.newBuilder().setAddress("127.0.0.1:1"))
                .addNodes(RoutingNode.newBuilder().setAddress("127.0.0.1:2"))
                .addNamespaces(NamespaceRouting.newBuilder().setName("ns").addMaster(0).addMaster(-1).addMaster(-1)
                        .addEpoch(3).addEpoch(5).addEpoch(5).addNext(-1).addNext(1).addNext(-1))
                .build());
        assertEquals("127.0.0.1:1", r.master("ns", 0));
        assertEquals("127.0.0.1:2", r.master("ns", 1), "moving to node 2: it serves from the switch on");
        assertNull(r.master("ns", 2), "no master and no handoff (a failover in progress)");
        assertNull(map().master("ns", 1), "a map from an older node has no successors");
    }

    /**
     * A NOT_MASTER answer's hint moves one partition to the named master when its epoch is
     * newer than the map's; an older or equal epoch, or an unknown namespace, changes nothing.
     */
    @Test
    void aNotMasterHintOfANewerEpochRoutesThatPartitionOnly() {
        Routing r = map();
        assertNull(r.master("ns", 1), "moving: no master");
        Routing hinted = r.withMaster("ns", 1, "127.0.0.1:2", 6);
        assertEquals("127.0.0.1:2", hinted.master("ns", 1));
        assertEquals(6, hinted.epoch("ns", 1));
        assertEquals("127.0.0.1:1", hinted.master("ns", 0), "the other partitions keep their masters");
        assertEquals(7, hinted.version(), "a fetched map of the same version replaces the hint");
        assertNull(r.master("ns", 1), "the map it came from is unchanged");

        Routing known = hinted.withMaster("ns", 0, "127.0.0.1:2", 4);
        assertEquals("127.0.0.1:2", known.master("ns", 0), "an address the map already has is reused");
        assertSame(hinted, hinted.withMaster("ns", 1, "127.0.0.1:1", 6), "same epoch: stale or no news");
        assertSame(hinted, hinted.withMaster("ns", 0, "127.0.0.1:2", 2), "older epoch: stale");
        assertSame(hinted, hinted.withMaster("other", 0, "127.0.0.1:2", 9), "unknown namespace");
        assertSame(hinted, hinted.withMaster("ns", 4095, "127.0.0.1:2", 9), "a partition the map does not have");
    }
}
