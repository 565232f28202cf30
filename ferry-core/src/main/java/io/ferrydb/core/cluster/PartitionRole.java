package io.ferrydb.core.cluster;

/** What a node is for one partition, per its current view. */
public enum PartitionRole {
    MASTER,
    MIRROR,
    NONE
}
