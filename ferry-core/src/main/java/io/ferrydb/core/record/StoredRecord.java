package io.ferrydb.core.record;

import io.ferrydb.api.Digest;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.Value;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A record as storage holds it: user key and set (so a digest can be turned back
 * into a key), bins, and metadata. A tombstone has no bins and marks a delete long
 * enough for replication and change streams to see it.
 */
public record StoredRecord(String set, Key.KeyType keyType, byte[] keyBytes, Map<String, Value> bins,
                           int generation, long lastUpdateHlc, long expiresAtMs, int originCluster,
                           boolean tombstone) {

    public StoredRecord {
        bins = Collections.unmodifiableMap(new LinkedHashMap<>(bins));
    }

    public static StoredRecord tombstone(StoredRecord previous, long hlc) {
        return new StoredRecord(previous.set, previous.keyType, previous.keyBytes, Map.of(),
                nextGeneration(previous.generation), hlc, 0, 0, true);
    }

    public static int nextGeneration(int generation) {
        return generation == Integer.MAX_VALUE ? 1 : generation + 1;
    }

    /** Live: not a tombstone and not expired at {@code nowMs}. */
    public boolean isLive(long nowMs) {
        return !tombstone && (expiresAtMs == 0 || expiresAtMs > nowMs);
    }

    public Digest digest() {
        return Digest.of(set, keyType, keyBytes);
    }

    public Key key(String namespace) {
        return Key.fromBytes(namespace, set, keyType, keyBytes);
    }

    public Record toRecord(String namespace) {
        return new Record(key(namespace), bins, generation, lastUpdateHlc, expiresAtMs, originCluster);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StoredRecord r && set.equals(r.set) && keyType == r.keyType
                && Arrays.equals(keyBytes, r.keyBytes) && bins.equals(r.bins) && generation == r.generation
                && lastUpdateHlc == r.lastUpdateHlc && expiresAtMs == r.expiresAtMs
                && originCluster == r.originCluster && tombstone == r.tombstone;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keyBytes) * 31 + generation;
    }
}
