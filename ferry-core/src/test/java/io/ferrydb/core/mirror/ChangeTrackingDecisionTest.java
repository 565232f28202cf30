package io.ferrydb.core.mirror;

import io.ferrydb.core.cluster.ReplicaState;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ChangeTrackingDecisionTest {
    @Test
    void anAbsentMirrorIsTrackedFromWhatItLacksAndAllInSyncStops() {
        assertEquals(ChangeTracking.STOP, ChangeTracking.decide(Map.of("a", ReplicaState.IN_SYNC, "b", ReplicaState.IN_SYNC), Map.of()));
        assertEquals(ChangeTracking.KEEP, ChangeTracking.decide(Map.of("a", ReplicaState.IN_SYNC, "b", ReplicaState.RESYNCING), Map.of()),
                "a mirror catching up neither starts nor stops tracking");
        assertEquals(8, ChangeTracking.decide(Map.of("a", ReplicaState.ABSENT, "b", ReplicaState.ABSENT),
                Map.of("a", AckTriplet.durable(7), "b", AckTriplet.durable(12))), "from the first LSN the furthest-behind mirror lacks");
        assertEquals(1, ChangeTracking.decide(Map.of("a", ReplicaState.ABSENT), Map.of()), "nothing known of it: from the start");
    }
}
