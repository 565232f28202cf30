package io.ferrydb.core.cluster;

/**
 * A node's last committed LSN of one partition, as reported with its heartbeats: -1
 * when it holds none, {@link #REWRITING} while a sync rewrites its replica.
 */
public record LsnReport(String namespace, int partition, String node, long lsn) {
    /**
     * The replica is being rewritten by a sync (a copy or tracked-keys sync past its first
     * chunk, not yet at its last): it holds neither its old copy nor the master's, so the
     * controller never promotes it. If it is the only replica left, the partition waits
     * for its failed master to return rather than lose what that master had.
     */
    public static final long REWRITING = -2;

    /** What a node reports for a partition in its heartbeats: its last LSN, or {@link #REWRITING} while a sync rewrites it. */
    public static long of(io.ferrydb.core.store.RecordStore store, String namespace, int partition) {
        return store.rewriting(namespace, partition) ? REWRITING : store.lastLsnUnlocked(namespace, partition);
    }

    /** Whether a report says something the controller acts on: an LSN, or that the replica is being rewritten. */
    public static boolean informative(long lsn) {
        return lsn >= 0 || lsn == REWRITING;
    }
}
