package io.ferrydb.core.log;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;

/**
 * The acknowledgement rule a logged change was written under, kept in its log entry
 * so that whoever later holds the entry without the rest of the partition (the old
 * master's divergent tail after a failover) can tell whether a client was told it was
 * stored. Codes are on disk: never renumber.
 */
public enum AckPolicy {
    /** Not a client's write (an expiry): never acknowledged to anyone. */
    NONE(0, null, null),
    MASTER_ASYNC(1, CommitLevel.MASTER, Durability.ASYNC),
    MASTER_SYNC(2, CommitLevel.MASTER, Durability.SYNC),
    ALL_ASYNC(3, CommitLevel.ALL, Durability.ASYNC),
    ALL_SYNC(4, CommitLevel.ALL, Durability.SYNC);

    private final int code;
    private final CommitLevel commitLevel;
    private final Durability durability;

    AckPolicy(int code, CommitLevel commitLevel, Durability durability) {
        this.code = code;
        this.commitLevel = commitLevel;
        this.durability = durability;
    }

    public int code() {
        return code;
    }

    public CommitLevel commitLevel() {
        return commitLevel;
    }

    public Durability durability() {
        return durability;
    }

    public static AckPolicy of(CommitLevel level, Durability durability) {
        if (level == CommitLevel.MASTER) {
            return durability == Durability.SYNC ? MASTER_SYNC : MASTER_ASYNC;
        }
        return durability == Durability.SYNC ? ALL_SYNC : ALL_ASYNC;
    }

    public static AckPolicy fromCode(int code) {
        for (AckPolicy p : values()) {
            if (p.code == code) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown ack policy " + code);
    }
}
