package io.ferrydb.core.record;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.Key;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.namespace.NamespaceConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WritePlannerTest {
    private static final long NOW_MS = 1_700_000_000_000L;
    private static final long HLC = 0x0123_4567_89AB_0001L;
    private static final Key KEY = Key.of("test", "users", "alice");
    private static final NamespaceConfig NS = ns(0, 1024 * 1024);
    private static final NamespaceConfig NS_TTL_1H = ns(3600, 1024 * 1024);

    static NamespaceConfig ns(long defaultTtlSeconds, int maxRecordSizeBytes) {
        return new NamespaceConfig("test", 2, defaultTtlSeconds, maxRecordSizeBytes, 1000, 1 << 20, 1000,
                Durability.SYNC, CommitLevel.ALL);
    }

    static List<BinValidator.NamedValue> bins(Object... nameValue) {
        List<BinValidator.NamedValue> out = new ArrayList<>();
        for (int i = 0; i < nameValue.length; i += 2) {
            out.add(new BinValidator.NamedValue((String) nameValue[i], Value.from(nameValue[i + 1])));
        }
        return out;
    }

    static Map<String, Value> binMap(Object... nameValue) {
        Map<String, Value> out = new LinkedHashMap<>();
        for (BinValidator.NamedValue b : bins(nameValue)) {
            out.put(b.name(), b.value());
        }
        return out;
    }

    static StoredRecord stored(Map<String, Value> bins, int generation, long expiresAtMs, boolean tombstone) {
        return new StoredRecord(KEY.set(), KEY.type(), KEY.userKeyBytes(), tombstone ? Map.of() : bins, generation,
                HLC - 100, expiresAtMs, 0, tombstone);
    }

    static StoredRecord live(int generation) {
        return stored(binMap("a", 1L, "b", 2L), generation, 0, false);
    }

    static WritePlan put(StoredRecord current, RecordExistsAction exists, List<BinValidator.NamedValue> bins) {
        return WritePlanner.planPut(NS, KEY, current, bins, WritePolicy.DEFAULT.withExists(exists), NOW_MS, HLC);
    }

    static StoredRecord applied(WritePlan plan) {
        WritePlan.Apply apply = assertInstanceOf(WritePlan.Apply.class, plan);
        assertArrayEquals(RecordCodec.encode(apply.record()), apply.encoded(), "encoded must be the record's encoding");
        return apply.record();
    }

    static WritePlan.Refuse refused(WritePlan plan, ErrorCode code) {
        WritePlan.Refuse r = assertInstanceOf(WritePlan.Refuse.class, plan);
        assertEquals(code, r.code(), r.message());
        return r;
    }

    /** States in which a record counts as missing: never written, deleted, or expired (also exactly now). */
    static Stream<Arguments> missing() {
        return Stream.of(
                Arguments.of("absent", null),
                Arguments.of("tombstone", stored(Map.of(), 4, 0, true)),
                Arguments.of("expired", stored(binMap("a", 1L, "b", 2L), 4, NOW_MS - 1, false)),
                Arguments.of("expiring now", stored(binMap("a", 1L, "b", 2L), 4, NOW_MS, false)));
    }

    // ---- RecordExistsAction ----------------------------------------------------------

    @Test
    void upsertOnAMissingRecordCreatesItAtGenerationOne() {
        StoredRecord r = applied(put(null, RecordExistsAction.UPSERT, bins("a", 10L)));
        assertEquals(binMap("a", 10L), r.bins());
        assertEquals(1, r.generation());
        assertEquals(HLC, r.lastUpdateHlc());
        assertEquals(KEY.set(), r.set());
        assertEquals(KEY.type(), r.keyType());
        assertArrayEquals(KEY.userKeyBytes(), r.keyBytes());
        assertEquals(0, r.expiresAtMs());
        assertEquals(0, r.originCluster());
        assertFalse(r.tombstone());
    }

    @Test
    void upsertMergesBinsIntoALiveRecord() {
        StoredRecord r = applied(put(live(3), RecordExistsAction.UPSERT, bins("b", 20L, "c", 30L)));
        assertEquals(binMap("a", 1L, "b", 20L, "c", 30L), r.bins());
        assertEquals(4, r.generation());
    }

    @Test
    void updateOnlyMergesBinsIntoALiveRecord() {
        StoredRecord r = applied(put(live(3), RecordExistsAction.UPDATE_ONLY, bins("b", 20L)));
        assertEquals(binMap("a", 1L, "b", 20L), r.bins());
        assertEquals(4, r.generation());
    }

    @Test
    void replaceReplacesAllBins() {
        StoredRecord r = applied(put(live(3), RecordExistsAction.REPLACE, bins("c", 30L)));
        assertEquals(binMap("c", 30L), r.bins());
        assertEquals(4, r.generation());
    }

    @Test
    void replaceOnlyReplacesAllBinsOfALiveRecord() {
        StoredRecord r = applied(put(live(3), RecordExistsAction.REPLACE_ONLY, bins("c", 30L)));
        assertEquals(binMap("c", 30L), r.bins());
        assertEquals(4, r.generation());
    }

    @Test
    void createOnlyOnALiveRecordIsAlreadyExists() {
        WritePlan.Refuse r = refused(put(live(3), RecordExistsAction.CREATE_ONLY, bins("c", 30L)), ErrorCode.ALREADY_EXISTS);
        assertTrue(r.message().contains("CREATE_ONLY"), r.message());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("missing")
    void createOnlyCreatesWhenMissing(String state, StoredRecord current) {
        StoredRecord r = applied(put(current, RecordExistsAction.CREATE_ONLY, bins("c", 30L)));
        assertEquals(binMap("c", 30L), r.bins());
        assertEquals(1, r.generation());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("missing")
    void updateOnlyAndReplaceOnlyAreNotFoundWhenMissing(String state, StoredRecord current) {
        WritePlan.Refuse u = refused(put(current, RecordExistsAction.UPDATE_ONLY, bins("c", 30L)), ErrorCode.NOT_FOUND);
        assertTrue(u.message().contains("UPDATE_ONLY"), u.message());
        WritePlan.Refuse r = refused(put(current, RecordExistsAction.REPLACE_ONLY, bins("c", 30L)), ErrorCode.NOT_FOUND);
        assertTrue(r.message().contains("REPLACE_ONLY"), r.message());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("missing")
    void upsertAndReplaceStartOverWhenMissing(String state, StoredRecord current) {
        for (RecordExistsAction exists : new RecordExistsAction[] {RecordExistsAction.UPSERT, RecordExistsAction.REPLACE}) {
            StoredRecord r = applied(put(current, exists, bins("c", 30L)));
            // Bins of a deleted or expired record must not come back.
            assertEquals(binMap("c", 30L), r.bins(), exists.toString());
            assertEquals(1, r.generation(), exists.toString());
        }
    }

    // ---- generation ------------------------------------------------------------------

    @Test
    void generationCountsWritesAndWrapsToOne() {
        StoredRecord r = applied(put(null, RecordExistsAction.UPSERT, bins("a", 1L)));
        for (int expected = 2; expected <= 5; expected++) {
            r = applied(WritePlanner.planPut(NS, KEY, r, bins("a", (long) expected), WritePolicy.DEFAULT, NOW_MS, HLC));
            assertEquals(expected, r.generation());
        }
        assertEquals(1, applied(put(live(Integer.MAX_VALUE), RecordExistsAction.UPSERT, bins("a", 1L))).generation());
    }

    @Test
    void expectedGenerationMismatchIsFailedPreconditionNamingBoth() {
        WritePolicy policy = WritePolicy.DEFAULT.withExpectedGeneration(17);
        WritePlan.Refuse r = refused(WritePlanner.planPut(NS, KEY, live(42), bins("a", 1L), policy, NOW_MS, HLC),
                ErrorCode.FAILED_PRECONDITION);
        assertTrue(r.message().contains("17"), r.message());
        assertTrue(r.message().contains("42"), r.message());
        assertTrue(r.message().contains("policy.expected_generation"), r.message());
    }

    @Test
    void expectedGenerationMatchApplies() {
        WritePolicy policy = WritePolicy.DEFAULT.withExpectedGeneration(42);
        assertEquals(43, applied(WritePlanner.planPut(NS, KEY, live(42), bins("a", 1L), policy, NOW_MS, HLC)).generation());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("missing")
    void expectedGenerationOnAMissingRecordFailsWithGenerationZero(String state, StoredRecord current) {
        WritePolicy policy = WritePolicy.DEFAULT.withExpectedGeneration(4);
        WritePlan.Refuse r = refused(WritePlanner.planPut(NS, KEY, current, bins("a", 1L), policy, NOW_MS, HLC),
                ErrorCode.FAILED_PRECONDITION);
        assertTrue(r.message().contains("is 4 but the record's generation is 0"), r.message());
        refused(WritePlanner.planDelete(current, policy, NOW_MS, HLC), ErrorCode.FAILED_PRECONDITION);
    }

    @Test
    void existsActionIsCheckedBeforeGeneration() {
        WritePolicy policy = WritePolicy.DEFAULT.withExists(RecordExistsAction.CREATE_ONLY).withExpectedGeneration(1);
        refused(WritePlanner.planPut(NS, KEY, live(3), bins("a", 1L), policy, NOW_MS, HLC), ErrorCode.ALREADY_EXISTS);
    }

    // ---- delete ----------------------------------------------------------------------

    @Test
    void deleteOfALiveRecordWritesATombstoneAtTheNextGeneration() {
        WritePlan.Apply apply = assertInstanceOf(WritePlan.Apply.class, WritePlanner.planDelete(live(7), WritePolicy.DEFAULT, NOW_MS, HLC));
        StoredRecord t = apply.record();
        assertTrue(t.tombstone());
        assertTrue(t.bins().isEmpty());
        assertEquals(8, t.generation());
        assertEquals(HLC, t.lastUpdateHlc());
        assertEquals(0, t.expiresAtMs());
        assertArrayEquals(KEY.userKeyBytes(), t.keyBytes());
        assertArrayEquals(RecordCodec.encode(t), apply.encoded());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("missing")
    void deleteOfAMissingRecordPlansNothing(String state, StoredRecord current) {
        assertNull(WritePlanner.planDelete(current, WritePolicy.DEFAULT, NOW_MS, HLC));
    }

    @Test
    void deleteWithAWrongGenerationIsRefusedNamingBoth() {
        WritePlan.Refuse r = refused(WritePlanner.planDelete(live(42), WritePolicy.DEFAULT.withExpectedGeneration(17), NOW_MS, HLC),
                ErrorCode.FAILED_PRECONDITION);
        assertTrue(r.message().contains("17") && r.message().contains("42"), r.message());
    }

    // ---- TTL -------------------------------------------------------------------------

    private static long expiryOf(NamespaceConfig ns, StoredRecord current, long ttlSeconds) {
        WritePolicy policy = WritePolicy.DEFAULT.withTtlSeconds(ttlSeconds);
        return applied(WritePlanner.planPut(ns, KEY, current, bins("a", 1L), policy, NOW_MS, HLC)).expiresAtMs();
    }

    @Test
    void ttlZeroMeansTheNamespaceDefault() {
        assertEquals(NOW_MS + 3_600_000, expiryOf(NS_TTL_1H, null, 0));
        assertEquals(NOW_MS + 3_600_000, expiryOf(NS_TTL_1H, live(1), 0));
        assertEquals(0, expiryOf(NS, null, 0), "namespace default 0 means never expire");
    }

    @Test
    void ttlMinusOneMeansNeverExpire() {
        assertEquals(0, expiryOf(NS_TTL_1H, null, -1));
        assertEquals(0, expiryOf(NS_TTL_1H, stored(binMap("a", 1L), 2, NOW_MS + 5000, false), -1));
    }

    @Test
    void ttlMinusTwoKeepsTheCurrentExpiry() {
        long expiry = NOW_MS + 5000;
        assertEquals(expiry, expiryOf(NS_TTL_1H, stored(binMap("a", 1L), 2, expiry, false), -2));
        assertEquals(expiry, expiryOf(NS, stored(binMap("a", 1L), 2, expiry, false), -2));
    }

    @Test
    void ttlMinusTwoOnANewOrExpiredRecordUsesTheNamespaceDefault() {
        assertEquals(NOW_MS + 3_600_000, expiryOf(NS_TTL_1H, null, -2));
        assertEquals(NOW_MS + 3_600_000, expiryOf(NS_TTL_1H, stored(binMap("a", 1L), 2, NOW_MS - 1, false), -2));
        assertEquals(0, expiryOf(NS, null, -2));
    }

    /** Aerospike's -2 means "do not change the TTL": a never-expiring record must stay that way. */
    @Test
    void ttlMinusTwoKeepsANeverExpiringRecordNeverExpiring() {
        assertEquals(0, expiryOf(NS_TTL_1H, stored(binMap("a", 1L), 2, 0, false), -2));
    }

    @Test
    void positiveTtlIsSecondsFromNow() {
        assertEquals(NOW_MS + 1000, expiryOf(NS, null, 1));
        assertEquals(NOW_MS + 86_400_000L * 365, expiryOf(NS_TTL_1H, live(1), 86_400L * 365));
    }

    /** A huge TTL overflows {@code ttl * 1000} and the record is written already expired. */
    @Test
    void hugeTtlDoesNotWriteAnAlreadyExpiredRecord() {
        StoredRecord r = applied(WritePlanner.planPut(NS, KEY, null, bins("a", 1L), WritePolicy.DEFAULT.withTtlSeconds(Long.MAX_VALUE), NOW_MS, HLC));
        assertTrue(r.isLive(NOW_MS + 1), "expiresAtMs=" + r.expiresAtMs());
    }

    // ---- size ------------------------------------------------------------------------

    @Test
    void recordsAboveMaxRecordSizeAreRefusedAndAtTheLimitAccepted() {
        NamespaceConfig small = ns(0, 64);
        // The encoded size grows one byte per ASCII character of the bin value.
        int base = RecordCodec.encode(new StoredRecord(KEY.set(), KEY.type(), KEY.userKeyBytes(), binMap("a", ""), 1, HLC, 0, 0, false)).length;
        String fits = "x".repeat(64 - base);
        StoredRecord r = applied(WritePlanner.planPut(small, KEY, null, bins("a", fits), WritePolicy.DEFAULT, NOW_MS, HLC));
        assertEquals(64, RecordCodec.encode(r).length);

        WritePlan.Refuse refuse = refused(WritePlanner.planPut(small, KEY, null, bins("a", fits + "x"), WritePolicy.DEFAULT, NOW_MS, HLC),
                ErrorCode.INVALID_ARGUMENT);
        assertTrue(refuse.message().contains("max-record-size-bytes"), refuse.message());
        assertTrue(refuse.message().contains("65 bytes"), refuse.message());
        assertTrue(refuse.message().contains("is 64"), refuse.message());
    }

    @Test
    void mergedBinsCountTowardsTheSize() {
        NamespaceConfig small = ns(0, 64);
        StoredRecord current = stored(binMap("a", "y".repeat(20)), 1, 0, false);
        applied(WritePlanner.planPut(small, KEY, current, bins("b", "z".repeat(10)), WritePolicy.DEFAULT.withExists(RecordExistsAction.REPLACE), NOW_MS, HLC));
        refused(WritePlanner.planPut(small, KEY, current, bins("b", "z".repeat(10)), WritePolicy.DEFAULT, NOW_MS, HLC), ErrorCode.INVALID_ARGUMENT);
    }
}
