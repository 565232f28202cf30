package io.ferrydb.core.cluster;

/** A replica of one partition in one epoch, e.g. one that has caught up. */
public record PartitionRef(String namespace, int partition, String node, long epoch) {
}
