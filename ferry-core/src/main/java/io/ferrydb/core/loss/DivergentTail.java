package io.ferrydb.core.loss;

import io.ferrydb.api.Digest;
import io.ferrydb.core.log.AckPolicy;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.log.LogEntry;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Decides which entries of a replica's divergent tail (its entries of an old epoch at
 * LSNs a newer epoch's master has taken over) had been acknowledged to clients, from
 * the rule each was written under ({@link AckPolicy}) and how the new epoch began:
 *
 * <ul>
 *   <li>MASTER+ASYNC: acknowledged as soon as the master stored it, so it was
 *       ({@link LossRecord.Certainty#ACKNOWLEDGED}).</li>
 *   <li>MASTER+SYNC: acknowledged after the master's fsync; a killed process can leave
 *       an entry on disk whose fsync never completed, so only possibly.</li>
 *   <li>ALL+SYNC: never. Its acknowledgement waited for every IN_SYNC mirror's disk, and
 *       the new master was such a mirror: had it been acknowledged, the new master
 *       would hold it and it would not be divergent.</li>
 *   <li>ALL+ASYNC: only if the new master lost it from its cache, which requires a
 *       restart during the old epoch ({@link EpochStart#cacheLost}): then possibly.</li>
 *   <li>Expiries ({@link AckPolicy#NONE}) were never acknowledged to anyone.</li>
 * </ul>
 * Entries that were not acknowledged are dropped without a ledger entry (and reported
 * as such): the ledger holds no write that no client was told about. Sans-IO, pure.
 */
public final class DivergentTail {
    private DivergentTail() {}

    /**
     * The ledger entries for {@code tail} (the replica's divergent entries, ascending) and how many were never
     * acknowledged. Each record takes its id from {@code nextId}, which must never hand out an id twice: syncs of
     * different partitions account concurrently, and two records with one id would be one ledger key.
     */
    public record Accounting(List<LossRecord> records, long notAcknowledged) {
        public long lost() {
            long n = 0;
            for (LossRecord r : records) {
                n += r.count();
            }
            return n;
        }
    }

    public static Accounting account(String ns, int partition, List<LogEntry> tail, EpochStart replacedBy, String node,
                                     long nowMs, java.util.function.LongSupplier nextId) {
        // One record per epoch and certainty: a tail can span epochs (a master deposed after
        // serving several in a row), and a record names the epoch its writes were made in (the
        // first version put a tail of epochs 3 and 4 under epoch 3: NodeSimulationTest).
        Map<Long, Map<LossRecord.Certainty, List<LogEntry>>> lost = new java.util.TreeMap<>();
        long dropped = 0;
        for (LogEntry e : tail) {
            LossRecord.Certainty c = certainty(e.ack(), replacedBy.cacheLost());
            if (c == null) {
                dropped++;
            } else {
                lost.computeIfAbsent((long) e.epoch(), k -> new EnumMap<>(LossRecord.Certainty.class))
                        .computeIfAbsent(c, k -> new ArrayList<>()).add(e);
            }
        }
        List<LossRecord> records = new ArrayList<>();
        for (Map.Entry<LossRecord.Certainty, List<LogEntry>> m : lost.values().stream().flatMap(x -> x.entrySet().stream()).toList()) {
            List<LogEntry> entries = m.getValue();
            List<Digest> digests = new ArrayList<>(Math.min(entries.size(), LossRecord.MAX_DIGESTS));
            for (LogEntry e : entries) {
                if (digests.size() < LossRecord.MAX_DIGESTS) {
                    digests.add(e.digest());
                }
            }
            LogEntry first = entries.get(0);
            LogEntry last = entries.get(entries.size() - 1);
            String detail = String.format("divergent tail of epoch %d truncated: epoch %d began at lsn %d%s",
                    first.epoch(), replacedBy.epoch(), replacedBy.startLsn(),
                    replacedBy.cacheLost() ? " on a replica that had restarted during the old epoch" : "");
            records.add(new LossRecord(nextId.getAsLong(), ns, partition, first.epoch(), replacedBy.epoch(), first.lsn(), last.lsn(), entries.size(),
                    digests, m.getKey(), LossRecord.Kind.DIVERGENT_TAIL, node, nowMs, detail));
        }
        return new Accounting(records, dropped);
    }

    /** Null: never acknowledged. */
    static LossRecord.Certainty certainty(AckPolicy ack, boolean newMasterLostCache) {
        return switch (ack) {
            case NONE, ALL_SYNC -> null;
            case MASTER_ASYNC -> LossRecord.Certainty.ACKNOWLEDGED;
            case MASTER_SYNC -> LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED;
            case ALL_ASYNC -> newMasterLostCache ? LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED : null;
        };
    }
}
