package io.ferrydb.core.cluster;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterCodecTest {
    @Test
    void aHeartbeatKeepsItsProcessIncarnationAndAnOlderNodesHeartbeatHasNone() {
        HeartbeatRequest hb = new HeartbeatRequest("n2", "h:7400", "h:7401", true, List.of(new NamespaceSpec("test", 2)), 17,
                Map.of("test", new long[] {3, 0, 9}), List.of(new PartitionRef("test", 1, "n3", 4)), 0x5eed_f00dL);
        byte[] bytes = ClusterCodec.encodeHeartbeat(hb);
        HeartbeatRequest back = ClusterCodec.decodeHeartbeat(bytes);
        assertEquals(0x5eed_f00dL, back.incarnation());
        assertEquals(hb.node(), back.node());
        assertEquals(hb.knownVersion(), back.knownVersion());
        assertEquals(hb.caughtUp(), back.caughtUp());
        assertArrayEquals(hb.lsns().get("test"), back.lsns().get("test"));
        assertEquals(List.of(), back.behind());
        // The format before the incarnation ended right after the caught-up replicas (then came the
        // incarnation, 8 bytes, then the mirrors behind, a 4-byte count of none here).
        HeartbeatRequest old = ClusterCodec.decodeHeartbeat(Arrays.copyOf(bytes, bytes.length - 12));
        assertEquals(0, old.incarnation());
        assertEquals(hb.caughtUp(), old.caughtUp());
        HeartbeatRequest beforeBehind = ClusterCodec.decodeHeartbeat(Arrays.copyOf(bytes, bytes.length - 4));
        assertEquals(0x5eed_f00dL, beforeBehind.incarnation());
        assertEquals(List.of(), beforeBehind.behind());
    }

    @Test
    void aHeartbeatCarriesTheMirrorsItsNodeReportsBehindAndTheBehindCommandRoundTrips() {
        List<PartitionRef> behind = List.of(new PartitionRef("test", 5, "n3", 9), new PartitionRef("other", 4095, "n1", 2));
        HeartbeatRequest hb = new HeartbeatRequest("n2", "h:7400", "h:7401", true, List.of(new NamespaceSpec("test", 2)), 17,
                Map.of("test", new long[] {3}), List.of(), 42, behind);
        HeartbeatRequest back = ClusterCodec.decodeHeartbeat(ClusterCodec.encodeHeartbeat(hb));
        assertEquals(behind, back.behind());
        assertEquals(42, back.incarnation());
        ClusterCommand c = new ClusterCommand.Behind(behind, 11, List.of(new LsnReport("test", 5, "n2", 99)));
        assertEquals(c, ClusterCodec.decodeCommand(ClusterCodec.encodeCommand(c)));
    }

    @Test
    void aHeartbeatNamingAPartitionThatDoesNotExistIsRefusedNamingTheField() {
        HeartbeatRequest bad = new HeartbeatRequest("n2", "h:7400", "h:7401", true, List.of(new NamespaceSpec("test", 2)), 17,
                Map.of("test", new long[] {3}), List.of(), 42, List.of(new PartitionRef("test", 4096, "n3", 9)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterCodec.decodeHeartbeat(ClusterCodec.encodeHeartbeat(bad)));
        assertTrue(e.getMessage().startsWith("behind.partition"), e.getMessage());
        HeartbeatRequest badCaughtUp = new HeartbeatRequest("n2", "h:7400", "h:7401", true, List.of(new NamespaceSpec("test", 2)), 17,
                Map.of("test", new long[] {3}), List.of(new PartitionRef("test", 5000, "n3", 9)), 42);
        e = assertThrows(IllegalArgumentException.class, () -> ClusterCodec.decodeHeartbeat(ClusterCodec.encodeHeartbeat(badCaughtUp)));
        assertTrue(e.getMessage().startsWith("caughtUp.partition"), e.getMessage());
    }
}
