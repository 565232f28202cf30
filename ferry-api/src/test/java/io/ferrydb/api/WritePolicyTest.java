package io.ferrydb.api;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WritePolicyTest {

    @Property(tries = 200)
    void ttlBelowMinusTwoIsRejected(@ForAll @LongRange(min = Long.MIN_VALUE, max = -3) long ttl) {
        FerryException e = assertThrows(FerryException.class, () -> WritePolicy.DEFAULT.withTtlSeconds(ttl));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.reason().contains("policy.ttl_seconds"), e.getMessage());
        assertTrue(e.reason().contains(Long.toString(ttl)), e.getMessage());
    }

    @Property(tries = 200)
    void ttlOfMinusTwoOrMoreIsKept(@ForAll @LongRange(min = -2, max = Long.MAX_VALUE) long ttl) {
        assertEquals(ttl, WritePolicy.DEFAULT.withTtlSeconds(ttl).ttlSeconds());
    }

    @Test
    void ttlBoundaryValues() {
        assertEquals(-2, new WritePolicy(RecordExistsAction.UPSERT, 0, null, null, WritePolicy.TTL_DONT_UPDATE).ttlSeconds());
        assertThrows(FerryException.class, () -> new WritePolicy(RecordExistsAction.UPSERT, 0, null, null, -3));
    }

    @Property(tries = 200)
    void negativeExpectedGenerationIsRejected(@ForAll @IntRange(min = Integer.MIN_VALUE, max = -1) int generation) {
        FerryException e = assertThrows(FerryException.class, () -> WritePolicy.DEFAULT.withExpectedGeneration(generation));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.reason().contains("policy.expected_generation"), e.getMessage());
    }

    @Property(tries = 100)
    void withersChangeOnlyTheirField(@ForAll RecordExistsAction exists, @ForAll @IntRange(min = 0) int generation,
                                     @ForAll Durability durability, @ForAll CommitLevel level,
                                     @ForAll @LongRange(min = -2) long ttl) {
        WritePolicy p = WritePolicy.DEFAULT.withExists(exists).withExpectedGeneration(generation)
                .withDurability(durability).withCommitLevel(level).withTtlSeconds(ttl);
        assertEquals(new WritePolicy(exists, generation, durability, level, ttl), p);
    }

    @Test
    void defaultsMeanUpsertWithoutChecksAndNamespaceDefaults() {
        WritePolicy p = WritePolicy.DEFAULT;
        assertEquals(RecordExistsAction.UPSERT, p.exists());
        assertEquals(0, p.expectedGeneration());
        assertNull(p.durability());
        assertNull(p.commitLevel());
        assertEquals(WritePolicy.TTL_NAMESPACE_DEFAULT, p.ttlSeconds());
        assertEquals(RecordExistsAction.UPSERT, new WritePolicy(null, 0, null, null, 0).exists());
    }
}
