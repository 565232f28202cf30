package io.ferrydb.client;

import java.util.List;

/** What a node says about itself. */
public record NodeInfo(String nodeId, String version, long uptimeMs, String grpcAddress, String httpAddress, long hlc,
                       String dataDir, long recordsEstimate, List<Namespace> namespaces) {

    public record Namespace(String name, int replicationFactor, long defaultTtlSeconds, int maxRecordSizeBytes,
                            long logEntries, long logBytes, long lastLsnSum, String defaultDurability,
                            String defaultCommitLevel) {}
}
