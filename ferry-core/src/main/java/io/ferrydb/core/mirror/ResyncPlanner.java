package io.ferrydb.core.mirror;

import io.ferrydb.core.Verify;

/**
 * Chooses a resync path by itself: the cheapest one that is sufficient, counted in
 * records to ship. Sans-IO and pure.
 *
 * <ul>
 *   <li>Nothing of the mirror's can be kept unless its last entry is one the master has
 *       (same LSN, same epoch: by the log-matching property its whole log is then a
 *       prefix of the master's); otherwise only a copy (which accounts for the
 *       mirror's divergent tail) will do.</li>
 *   <li>LOG is sufficient when the master's log still reaches back to the mirror's next
 *       LSN; it ships every change since.</li>
 *   <li>TRACKED is sufficient when the master tracked the partition's changed digests
 *       from the mirror's next LSN on and did not give up; it ships each changed key once.</li>
 *   <li>COPY is always sufficient; it ships every record of the partition.</li>
 * </ul>
 * A forced path (for benchmarks and tests) is taken when sufficient, else the planner
 * escalates from it.
 */
public final class ResyncPlanner {
    private ResyncPlanner() {}

    /**
     * @param mirrorLastLsn       the mirror's last durable LSN (0: no position; its records, if any, are of unknown origin)
     * @param mirrorHasRecords    whether the mirror stores any record of the partition
     * @param mirrorLastEpoch     epoch of the mirror's entry at {@code mirrorLastLsn} (0 if unknown)
     * @param masterEpochAtMirror epoch of the master's entry at {@code mirrorLastLsn} (0 if the master cannot tell)
     * @param masterFirstLsn      first LSN still in the master's log
     * @param masterLastLsn       the master's last LSN
     * @param trackedSinceLsn     the master tracks changed digests from this LSN (-1: not tracking or gave up)
     * @param trackedKeys         how many digests it tracked
     * @param partitionRecords    records in the master's partition (what a copy ships)
     * @param forced              a path to try first, or null to choose by cost
     */
    public record Input(long mirrorLastLsn, boolean mirrorHasRecords, long mirrorLastEpoch, long masterEpochAtMirror, long masterFirstLsn, long masterLastLsn,
                        long trackedSinceLsn, long trackedKeys, long partitionRecords, ResyncPath forced) {
        public Input {
            Verify.that(mirrorLastLsn >= 0 && masterLastLsn >= 0, "LSNs must be >= 0: mirror %d master %d", mirrorLastLsn, masterLastLsn);
        }
    }

    /** The path and what it is expected to ship. */
    public record Plan(ResyncPath path, long records, String why) {}

    public static Plan choose(Input in) {
        boolean keepsPrefix = (in.mirrorLastLsn() == 0 && !in.mirrorHasRecords())
                || (in.mirrorLastLsn() <= in.masterLastLsn() && in.masterEpochAtMirror() != 0
                && in.masterEpochAtMirror() == in.mirrorLastEpoch());
        if (!keepsPrefix) {
            return new Plan(ResyncPath.COPY, in.partitionRecords(), in.mirrorLastLsn() > in.masterLastLsn()
                    ? "the mirror's log goes beyond the master's (divergent tail)"
                    : in.mirrorLastLsn() == 0 ? "the mirror holds records but no position (an interrupted sync)"
                    : "the mirror's last entry is not the master's (divergent or unknown history)");
        }
        long next = in.mirrorLastLsn() + 1;
        long logCost = sufficient(ResyncPath.LOG, in) ? in.masterLastLsn() - in.mirrorLastLsn() : -1;
        long trackedCost = sufficient(ResyncPath.TRACKED, in) ? in.trackedKeys() : -1;
        if (in.forced() != null) {
            for (ResyncPath p = in.forced(); ; p = p.next()) {
                long cost = p == ResyncPath.LOG ? logCost : p == ResyncPath.TRACKED ? trackedCost : in.partitionRecords();
                if (cost >= 0) {
                    return new Plan(p, cost, p == in.forced() ? "forced" : "forced " + in.forced() + " is not sufficient, escalated");
                }
            }
        }
        ResyncPath best = ResyncPath.COPY;
        long bestCost = in.partitionRecords();
        String why = "neither the log nor change tracking covers lsn " + next;
        if (trackedCost >= 0 && trackedCost <= bestCost) {
            best = ResyncPath.TRACKED;
            bestCost = trackedCost;
            why = "tracked keys are the fewest records";
        }
        if (logCost >= 0 && logCost <= bestCost) {
            best = ResyncPath.LOG;
            bestCost = logCost;
            why = "the log covers lsn " + next + " with the fewest records";
        }
        return new Plan(best, bestCost, why);
    }

    private static boolean sufficient(ResyncPath p, Input in) {
        long next = in.mirrorLastLsn() + 1;
        return switch (p) {
            case LOG -> in.masterFirstLsn() <= next;
            case TRACKED -> in.trackedSinceLsn() >= 1 && in.trackedSinceLsn() <= next;
            case COPY -> true;
        };
    }
}
