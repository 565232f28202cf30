package io.ferrydb.api;

/**
 * Per-write options. A null durability or commit level means the namespace default.
 *
 * @param expectedGeneration 0 for no check; otherwise the write fails with
 *                           FAILED_PRECONDITION unless the record's generation equals it
 * @param ttlSeconds         0 namespace default, -1 never expire, -2 keep the record's
 *                           current expiry, positive: seconds from now (Aerospike's meanings)
 */
public record WritePolicy(RecordExistsAction exists, int expectedGeneration, Durability durability,
                          CommitLevel commitLevel, long ttlSeconds) {

    public static final long TTL_NAMESPACE_DEFAULT = 0;
    public static final long TTL_NEVER_EXPIRE = -1;
    public static final long TTL_DONT_UPDATE = -2;

    public static final WritePolicy DEFAULT = new WritePolicy(RecordExistsAction.UPSERT, 0, null, null, 0);

    public WritePolicy {
        if (exists == null) {
            exists = RecordExistsAction.UPSERT;
        }
        if (expectedGeneration < 0) {
            throw FerryException.invalid("policy.expected_generation must be >= 0, got %d", expectedGeneration);
        }
        if (ttlSeconds < TTL_DONT_UPDATE) {
            throw FerryException.invalid("policy.ttl_seconds must be >= -2, got %d", ttlSeconds);
        }
    }

    public WritePolicy withExists(RecordExistsAction e) {
        return new WritePolicy(e, expectedGeneration, durability, commitLevel, ttlSeconds);
    }

    public WritePolicy withExpectedGeneration(int g) {
        return new WritePolicy(exists, g, durability, commitLevel, ttlSeconds);
    }

    public WritePolicy withDurability(Durability d) {
        return new WritePolicy(exists, expectedGeneration, d, commitLevel, ttlSeconds);
    }

    public WritePolicy withCommitLevel(CommitLevel c) {
        return new WritePolicy(exists, expectedGeneration, durability, c, ttlSeconds);
    }

    public WritePolicy withTtlSeconds(long ttl) {
        return new WritePolicy(exists, expectedGeneration, durability, commitLevel, ttl);
    }
}
