package io.ferrydb.core.mirror;

import io.ferrydb.api.Digest;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.core.store.RecordStore;

import java.util.List;

/**
 * The master's start of a sync, shared by the server's {@code Resyncer} and the node
 * simulation: from the mirror's answer to the probe, choose the path
 * ({@link ResyncPlanner}) and take what it ships: nothing yet for a log replay (the
 * entries are read chunk by chunk), the tracked keys' records and the digests gone since
 * the mirror's LSN, or the whole partition. Call it where the replicator cannot take new
 * changes (under its lock), so the sync's point is exact and the stream resumes after it.
 *
 * @param plan     the path taken and why
 * @param epoch    the master's epoch of what is shipped
 * @param through  the LSN the sync brings the mirror to
 * @param lastHlc  the master's last HLC (copies and tracked syncs)
 * @param starts   the master's epoch starts (copies and tracked syncs: the mirror judges its divergent tail by them)
 * @param records  stored record encodings to ship (copies and tracked syncs)
 * @param gone     digests deleted since the mirror's LSN (tracked syncs)
 * @param nextLsn  the first LSN a log replay ships
 */
public record SyncStart(ResyncPlanner.Plan plan, int epoch, long through, long lastHlc, List<EpochStart> starts, List<byte[]> records,
                        List<Digest> gone, long nextLsn) {

    /**
     * @param mirrorLsn            the mirror's last stored LSN (its probe answer)
     * @param mirrorHasRecords     whether the mirror stores records of the partition
     * @param mirrorLastEntryEpoch epoch of the mirror's entry at {@code mirrorLsn}
     * @param records              records in the partition (what a copy ships; counted by the caller, outside any lock)
     * @param first                a path to try first (forced), or null to choose by cost
     * @param floor                a path that failed below this one (escalation), or null
     */
    public static SyncStart prepare(RecordStore store, String ns, int p, long mirrorLsn, boolean mirrorHasRecords, long mirrorLastEntryEpoch,
                                    long records, ResyncPath first, ResyncPath floor) {
        PartitionInfo info = store.partitionInfo(ns, p);
        RecordStore.TrackingInfo t = store.tracking(ns, p);
        ResyncPlanner.Plan plan = ResyncPlanner.choose(new ResyncPlanner.Input(mirrorLsn, mirrorHasRecords, mirrorLastEntryEpoch,
                mirrorLsn == 0 ? 0 : store.epochAt(ns, p, mirrorLsn), info.firstLsn(), info.lastLsn(),
                t == null || t.overflowed() ? -1 : t.sinceLsn(), t == null ? 0 : t.keys(), records, floor != null ? floor : first));
        if (floor != null && plan.path().ordinal() < floor.ordinal()) {
            plan = new ResyncPlanner.Plan(floor, plan.records(), "escalated");
        }
        RecordStore.PartitionSnapshot snap = null;
        List<Digest> gone = List.of();
        switch (plan.path()) {
            case LOG -> { }
            case TRACKED -> {
                RecordStore.TrackedSnapshot ts = store.snapshotTracked(ns, p, mirrorLsn + 1);
                if (ts == null) {
                    plan = new ResyncPlanner.Plan(ResyncPath.COPY, records, "tracking gave up");
                    snap = store.snapshotPartition(ns, p);
                } else {
                    snap = ts.snapshot();
                    gone = ts.gone();
                }
            }
            case COPY -> snap = store.snapshotPartition(ns, p);
        }
        if (snap == null) {
            return new SyncStart(plan, info.epoch(), info.lastLsn(), 0, List.of(), List.of(), List.of(), mirrorLsn + 1);
        }
        return new SyncStart(plan, snap.epoch(), snap.lastLsn(), snap.lastHlc(), snap.epochStarts(), snap.records(), gone, mirrorLsn + 1);
    }
}
