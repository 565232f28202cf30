package io.ferrydb.core.cluster;

import java.util.List;

/**
 * One epoch of one partition in the duplication-schema history: who held it, in
 * which states, from which LSN on, and why it changed.
 *
 * @param startLsn the LSN at which the epoch began (the master's last reported LSN + 1),
 *                 or -1 when no node had reported one
 */
public record HistoryEntry(long epoch, List<Replica> replicas, long startLsn, ChangeReason reason, long timeMs) {
    public HistoryEntry {
        replicas = List.copyOf(replicas);
    }
}
