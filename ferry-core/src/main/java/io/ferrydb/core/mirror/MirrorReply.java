package io.ferrydb.core.mirror;

/** Mirror to master, for one partition. Expected outcomes are types; bugs throw. */
public sealed interface MirrorReply permits MirrorReply.Acked, MirrorReply.Refused {
    String namespace();

    int partition();

    /** The mirror's epoch for the partition after handling the batch. */
    long epoch();

    /** What the mirror holds now. */
    record Acked(String namespace, int partition, long epoch, AckTriplet holds) implements MirrorReply {}

    /** Why a batch was not applied; the master resends from {@code expectedLsn} or resyncs the mirror. */
    record Refused(String namespace, int partition, long epoch, Reason reason, long expectedLsn, AckTriplet holds) implements MirrorReply {}

    enum Reason {
        /** The batch comes from an older epoch than the mirror has seen: a deposed master. */
        STALE_EPOCH,
        /** The batch starts after the mirror's last LSN: something between was lost. */
        GAP,
        /**
         * A new epoch's master continues from below what the mirror already made durable:
         * the mirror holds a divergent tail that only a resync can remove.
         */
        DIVERGED
    }
}
