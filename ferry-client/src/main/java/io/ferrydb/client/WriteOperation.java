package io.ferrydb.client;

import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;

import java.util.Map;

/** A put or delete inside a batch write. */
public record WriteOperation(Kind kind, Key key, Map<String, ?> bins, WritePolicy policy) {
    public enum Kind { PUT, DELETE }

    public static WriteOperation put(Key key, Map<String, ?> bins) {
        return new WriteOperation(Kind.PUT, key, bins, WritePolicy.DEFAULT);
    }

    public static WriteOperation put(WritePolicy policy, Key key, Map<String, ?> bins) {
        return new WriteOperation(Kind.PUT, key, bins, policy);
    }

    public static WriteOperation delete(Key key) {
        return new WriteOperation(Kind.DELETE, key, Map.of(), WritePolicy.DEFAULT);
    }
}
