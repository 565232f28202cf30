package io.ferrydb.core.cluster;

/** What a joining node says about a namespace it serves; the first joiner's replication factor wins. */
public record NamespaceSpec(String name, int replicationFactor) {
}
