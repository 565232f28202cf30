package io.ferrydb.core.loss;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.mirror.AckTriplet;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The check a promoted replica runs before it serves a partition whose master failed.
 * It has written its own cache, so it holds the partition's log through {@code heldLsn}
 * and continues the new epoch from there. It asked every other reachable replica of
 * the old epoch for its triplet {@code (cacheStart, cacheEnd, committed)} and for the
 * entries it holds above {@code heldLsn}; the failed master had reported
 * {@code reportedLsn} in its last heartbeat.
 *
 * <ul>
 *   <li>The maximum committed LSN over the answers is what some survivor holds durably.
 *   <li>Each replica's gap: what it holds above {@code heldLsn} (in its cache from its
 *       cache start, or durably) is an old-epoch tail the new epoch replaces.
 *   <li>The highest LSN anyone knows was written is the largest of the failed master's
 *       report and every answer's cache end. Everything in {@code (heldLsn, that]} was
 *       written by the failed master and will not be in the partition's history: it is
 *       recorded as lost, with the digests the survivors' tails name (the rest of the
 *       range has digests only on the failed master, which records its divergent tail
 *       if it returns).
 * </ul>
 * Pure: no I/O, same code in the server and in the node simulation.
 */
public final class FailoverCheck {
    private FailoverCheck() {}

    /** An old-epoch entry a survivor holds: its LSN, the epoch it was written in, its record's digest. */
    public record HeldEntry(long lsn, long epoch, Digest digest) {}

    /** One reachable replica's answer: its triplet, and the entries it holds above the asker's end. */
    public record Survivor(String node, AckTriplet holds, List<HeldEntry> above) {
        public Survivor {
            above = List.copyOf(above);
        }

        /** What a replica answers, from its cached entries and its stored log above {@code aboveLsn}. */
        public static Survivor of(String node, AckTriplet holds, List<LogEntry> logged, List<LogEntry> cached, long aboveLsn) {
            List<HeldEntry> above = new ArrayList<>();
            for (List<LogEntry> part : List.of(logged, cached)) {
                for (LogEntry e : part) {
                    if (e.lsn() > aboveLsn) {
                        above.add(new HeldEntry(e.lsn(), e.epoch(), e.digest()));
                    }
                }
            }
            return new Survivor(node, holds, above);
        }
    }

    /**
     * The outcome. {@code lostFromLsn..lostToLsn} is empty when {@code lostToLsn < lostFromLsn}.
     *
     * @param maxCommittedLsn the highest LSN some reachable replica (the promoted one included) holds durably
     * @param survivorsEndLsn the highest LSN some reachable replica holds, cached or durable
     * @param digests         digests of lost writes of the failed master's epoch named by survivors, in LSN order
     */
    public record Finding(long heldLsn, long maxCommittedLsn, long survivorsEndLsn, long lostFromLsn, long lostToLsn,
                          List<Digest> digests, String detail) {
        public boolean lost() {
            return lostToLsn >= lostFromLsn;
        }

        public long count() {
            return lost() ? lostToLsn - lostFromLsn + 1 : 0;
        }
    }

    /**
     * @param heldLsn     the promoted replica's last LSN, its cache written
     * @param lostEpoch   the failed master's epoch
     * @param reportedLsn the failed master's LSN in its last heartbeat (-1: unknown)
     * @param survivors   answers of the other reachable replicas of the old epoch
     * @param unreached   replicas asked that did not answer
     */
    public static Finding check(String promoted, long heldLsn, long lostEpoch, String failedMaster, long reportedLsn,
                                List<Survivor> survivors, List<String> unreached) {
        Verify.that(heldLsn >= 0, "heldLsn must be >= 0, got %d", heldLsn);
        long maxCommitted = heldLsn;
        long survivorsEnd = heldLsn;
        StringBuilder replicas = new StringBuilder(promoted + " holds through " + heldLsn);
        TreeMap<Long, Digest> named = new TreeMap<>();
        for (Survivor s : survivors) {
            AckTriplet t = s.holds();
            maxCommitted = Math.max(maxCommitted, t.committedLsn());
            survivorsEnd = Math.max(survivorsEnd, t.receivedLsn());
            replicas.append("; ").append(s.node()).append(" committed ").append(t.committedLsn());
            if (t.cachedCount() > 0) {
                replicas.append(", cache ").append(t.cacheStartLsn()).append("..").append(t.cacheEndLsn());
            }
            if (t.receivedLsn() > heldLsn) {
                replicas.append(" (gap: ").append(t.receivedLsn() - heldLsn).append(" beyond ").append(promoted).append(')');
            }
            for (HeldEntry e : s.above()) {
                if (e.lsn() > heldLsn && e.epoch() == lostEpoch) {
                    named.putIfAbsent(e.lsn(), e.digest());
                }
            }
        }
        for (String u : unreached) {
            replicas.append("; ").append(u).append(" did not answer");
        }
        long known = Math.max(reportedLsn, survivorsEnd);
        long from = heldLsn + 1;
        List<Digest> digests = known < from ? new ArrayList<>() : new ArrayList<>(named.subMap(from, true, known, true).values());
        if (digests.size() > LossRecord.MAX_DIGESTS) {
            digests = digests.subList(0, LossRecord.MAX_DIGESTS);
        }
        String detail = "failed master " + failedMaster + (reportedLsn > 0 ? " reported lsn " + reportedLsn + " in its last heartbeat" : " had reported no write")
                + "; max committed lsn over reachable replicas " + maxCommitted + " (" + replicas + ")"
                + (known > heldLsn ? "; " + (known - heldLsn - digests.size()) + " of the lost writes have digests only on "
                + failedMaster + ", known if it returns with its log" : "");
        return new Finding(heldLsn, maxCommitted, survivorsEnd, from, known, digests, detail);
    }
}
