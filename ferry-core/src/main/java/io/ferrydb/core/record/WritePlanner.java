package io.ferrydb.core.record;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.Key;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.namespace.NamespaceConfig;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Pure decision for a put or delete: given the record as stored (or null), the
 * request and the time, decide the new record or the refusal. No I/O, so the same
 * decision runs on the server and in the simulator.
 */
public final class WritePlanner {
    private WritePlanner() {}

    public static WritePlan planPut(NamespaceConfig ns, Key key, StoredRecord current, List<BinValidator.NamedValue> bins,
                                    WritePolicy policy, long nowMs, long hlc) {
        return planPut(ns, key, current, bins, policy, 0, nowMs, hlc);
    }

    /** A put whose expiry is {@code expiresAtMs} (epoch ms) when positive, else from the policy's TTL. */
    public static WritePlan planPut(NamespaceConfig ns, Key key, StoredRecord current, List<BinValidator.NamedValue> bins,
                                    WritePolicy policy, long expiresAtMs, long nowMs, long hlc) {
        boolean live = current != null && current.isLive(nowMs);
        WritePlan.Refuse refused = checkPolicy(policy, live, current);
        if (refused != null) {
            return refused;
        }
        RecordExistsAction exists = policy.exists();
        boolean merge = live && (exists == RecordExistsAction.UPSERT || exists == RecordExistsAction.UPDATE_ONLY);
        Map<String, Value> newBins = new LinkedHashMap<>(merge ? current.bins() : Map.of());
        for (BinValidator.NamedValue bin : bins) {
            newBins.put(bin.name(), bin.value());
        }
        int generation = live ? StoredRecord.nextGeneration(current.generation()) : 1;
        long expiresAt = expiresAtMs > 0 ? expiresAtMs
                : live && policy.ttlSeconds() == WritePolicy.TTL_DONT_UPDATE ? current.expiresAtMs()
                : expiresAt(ns, policy.ttlSeconds(), nowMs);
        StoredRecord record = new StoredRecord(key.set(), key.type(), key.userKeyBytes(), newBins, generation, hlc,
                expiresAt, 0, false);
        byte[] encoded = RecordCodec.encode(record);
        if (encoded.length > ns.maxRecordSizeBytes()) {
            return new WritePlan.Refuse(ErrorCode.INVALID_ARGUMENT, String.format(
                    "bins: record is %d bytes encoded; namespace '%s' max-record-size-bytes is %d",
                    encoded.length, ns.name(), ns.maxRecordSizeBytes()));
        }
        return new WritePlan.Apply(record, encoded);
    }

    /** Plans a delete; null means there is no live record to delete. */
    public static WritePlan planDelete(StoredRecord current, WritePolicy policy, long nowMs, long hlc) {
        boolean live = current != null && current.isLive(nowMs);
        if (policy.expectedGeneration() != 0) {
            WritePlan.Refuse refused = checkGeneration(policy, live, current);
            if (refused != null) {
                return refused;
            }
        }
        if (!live) {
            return null;
        }
        StoredRecord tomb = StoredRecord.tombstone(current, hlc);
        return new WritePlan.Apply(tomb, RecordCodec.encode(tomb));
    }

    private static WritePlan.Refuse checkPolicy(WritePolicy policy, boolean live, StoredRecord current) {
        switch (policy.exists()) {
            case CREATE_ONLY:
                if (live) {
                    return new WritePlan.Refuse(ErrorCode.ALREADY_EXISTS, "record exists and policy.exists is CREATE_ONLY");
                }
                break;
            case UPDATE_ONLY:
            case REPLACE_ONLY:
                if (!live) {
                    return new WritePlan.Refuse(ErrorCode.NOT_FOUND, "record does not exist and policy.exists is " + policy.exists());
                }
                break;
            default:
                break;
        }
        return policy.expectedGeneration() == 0 ? null : checkGeneration(policy, live, current);
    }

    private static WritePlan.Refuse checkGeneration(WritePolicy policy, boolean live, StoredRecord current) {
        int actual = live ? current.generation() : 0;
        if (actual != policy.expectedGeneration()) {
            return new WritePlan.Refuse(ErrorCode.FAILED_PRECONDITION, String.format(
                    "policy.expected_generation is %d but the record's generation is %d%s",
                    policy.expectedGeneration(), actual, live ? "" : " (no record)"));
        }
        return null;
    }

    /**
     * Expiry for a TTL on a new record or a rewrite: Aerospike's meanings (0 namespace
     * default, -1 never, n seconds). -2 (keep) is resolved by the caller; on a record
     * that does not exist yet it means the namespace default.
     */
    public static long expiresAt(NamespaceConfig ns, long ttlSeconds, long nowMs) {
        if (ttlSeconds == WritePolicy.TTL_NEVER_EXPIRE) {
            return 0;
        }
        long ttl = ttlSeconds > 0 ? ttlSeconds : ns.defaultTtlSeconds();
        if (ttl == 0) {
            return 0;
        }
        // Saturate instead of wrapping: a huge TTL must not produce an already-expired record.
        return ttl > (Long.MAX_VALUE - nowMs) / 1000 ? Long.MAX_VALUE : nowMs + ttl * 1000;
    }
}
