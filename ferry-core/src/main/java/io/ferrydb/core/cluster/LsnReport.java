package io.ferrydb.core.cluster;

/** A node's last committed LSN of one partition, as reported with its heartbeats. */
public record LsnReport(String namespace, int partition, String node, long lsn) {
}
