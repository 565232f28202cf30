package io.ferrydb.server.cluster;

import io.ferrydb.api.FerryException;
import io.ferrydb.core.cluster.ClusterTimings;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * How one node takes part in the control plane. Validated on construction; every error
 * names the configuration field (kebab-case, as in the node's YAML) so an operator can
 * fix it without reading code.
 *
 * @param nodeId                   this node's id; also its Raft peer id when it is a voter
 * @param voter                    whether this node runs a Raft server (its id must then be in {@code voters})
 * @param voters                   Raft voters, id to {@code host:ratisPort}; 1, 3 or 5 entries (a majority of
 *                                 an even count tolerates no more failures than the odd count below it)
 * @param storageDir               Raft log, metadata and snapshots (e.g. {@code <data-dir>/control})
 * @param clusterName              names the Raft group, so two clusters sharing hosts cannot join each other
 * @param timings                  the controller's heartbeat, lease and failure timings
 * @param electionTimeoutMinMs     Raft election timeout range; a dead leader is replaced after about
 * @param electionTimeoutMaxMs     the maximum plus one election round
 * @param requestTimeoutMs         total time a read (heartbeat, view, history) may retry before failing
 * @param writeTimeoutMs           total time a submitted command may retry before failing
 * @param historyLimitPerPartition duplication-schema history entries kept per partition
 * @param snapshotThresholdEntries log entries applied after the last snapshot that trigger the next one
 * @param proposalQueueCapacity    controller proposals waiting to be sent; more are dropped (and retried by
 *                                 the controller after its proposal-retry interval)
 */
public record ControlPlaneConfig(String nodeId, boolean voter, Map<String, String> voters, Path storageDir,
                                 String clusterName, ClusterTimings timings, long electionTimeoutMinMs,
                                 long electionTimeoutMaxMs, long requestTimeoutMs, long writeTimeoutMs,
                                 int historyLimitPerPartition, long snapshotThresholdEntries,
                                 int proposalQueueCapacity) {
    public static final String DEFAULT_CLUSTER_NAME = "ferry";
    public static final long DEFAULT_ELECTION_TIMEOUT_MIN_MS = 500;
    public static final long DEFAULT_ELECTION_TIMEOUT_MAX_MS = 1000;
    public static final long DEFAULT_REQUEST_TIMEOUT_MS = 3000;
    public static final long DEFAULT_WRITE_TIMEOUT_MS = 10_000;
    public static final int DEFAULT_HISTORY_LIMIT_PER_PARTITION = 100;
    public static final long DEFAULT_SNAPSHOT_THRESHOLD_ENTRIES = 1000;
    public static final int DEFAULT_PROPOSAL_QUEUE_CAPACITY = 1024;
    /**
     * A cluster forming for the first time waits up to this long (after its first leader's
     * election) for every voter before it creates the namespace tables, so they are laid out
     * once over all voters instead of rebalanced on every join (ClusterController.formWith).
     */
    public static final long FORMATION_WAIT_MS = 10_000;

    public ControlPlaneConfig {
        require(nodeId != null && !nodeId.isBlank(), "node-id must not be empty");
        require(voters != null, "control-voters must be set");
        require(voters.size() == 1 || voters.size() == 3 || voters.size() == 5,
                "control-voters must have 1, 3 or 5 entries, got %d", voters.size());
        Set<String> addresses = new HashSet<>();
        for (Map.Entry<String, String> e : voters.entrySet()) {
            require(e.getKey() != null && !e.getKey().isBlank(), "control-voters: a voter id must not be empty");
            parseAddress(e.getKey(), e.getValue());
            require(addresses.add(e.getValue().trim()), "control-voters['%s']: address %s is used by two voters",
                    e.getKey(), e.getValue());
        }
        voters = Collections.unmodifiableMap(new LinkedHashMap<>(voters));
        require(!voter || voters.containsKey(nodeId),
                "control-voters must include this node's id '%s' (node-id) when it is a voter; voters are %s",
                nodeId, voters.keySet());
        require(voter || !voters.containsKey(nodeId),
                "node-id '%s' is listed in control-voters but the node is configured as a non-voter", nodeId);
        require(storageDir != null, "control-dir must be set");
        require(clusterName != null && !clusterName.isBlank(), "cluster-name must not be empty");
        require(timings != null, "control timings must be set");
        require(electionTimeoutMinMs >= 50, "election-timeout-min-ms must be >= 50, got %d", electionTimeoutMinMs);
        require(electionTimeoutMaxMs > electionTimeoutMinMs,
                "election-timeout-max-ms (%d) must exceed election-timeout-min-ms (%d)", electionTimeoutMaxMs,
                electionTimeoutMinMs);
        require(requestTimeoutMs >= 100, "control-request-timeout-ms must be >= 100, got %d", requestTimeoutMs);
        require(writeTimeoutMs >= 100, "control-write-timeout-ms must be >= 100, got %d", writeTimeoutMs);
        require(historyLimitPerPartition >= 1, "history-limit-per-partition must be >= 1, got %d",
                historyLimitPerPartition);
        require(snapshotThresholdEntries >= 1, "control-snapshot-threshold-entries must be >= 1, got %d",
                snapshotThresholdEntries);
        require(proposalQueueCapacity >= 1, "proposal-queue-capacity must be >= 1, got %d", proposalQueueCapacity);
    }

    /** Defaults for everything but identity and placement; the node is a voter iff its id is in {@code voters}. */
    public static ControlPlaneConfig of(String nodeId, Map<String, String> voters, Path storageDir) {
        return new ControlPlaneConfig(nodeId, voters != null && voters.containsKey(nodeId), voters, storageDir,
                DEFAULT_CLUSTER_NAME, ClusterTimings.DEFAULTS, DEFAULT_ELECTION_TIMEOUT_MIN_MS,
                DEFAULT_ELECTION_TIMEOUT_MAX_MS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WRITE_TIMEOUT_MS,
                DEFAULT_HISTORY_LIMIT_PER_PARTITION, DEFAULT_SNAPSHOT_THRESHOLD_ENTRIES,
                DEFAULT_PROPOSAL_QUEUE_CAPACITY);
    }

    public ControlPlaneConfig withVoter(boolean isVoter) {
        return new ControlPlaneConfig(nodeId, isVoter, voters, storageDir, clusterName, timings, electionTimeoutMinMs,
                electionTimeoutMaxMs, requestTimeoutMs, writeTimeoutMs, historyLimitPerPartition,
                snapshotThresholdEntries, proposalQueueCapacity);
    }

    public ControlPlaneConfig withClusterName(String name) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, name, timings, electionTimeoutMinMs,
                electionTimeoutMaxMs, requestTimeoutMs, writeTimeoutMs, historyLimitPerPartition,
                snapshotThresholdEntries, proposalQueueCapacity);
    }

    public ControlPlaneConfig withTimings(ClusterTimings t) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, clusterName, t, electionTimeoutMinMs,
                electionTimeoutMaxMs, requestTimeoutMs, writeTimeoutMs, historyLimitPerPartition,
                snapshotThresholdEntries, proposalQueueCapacity);
    }

    public ControlPlaneConfig withElectionTimeoutMs(long minMs, long maxMs) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, clusterName, timings, minMs, maxMs,
                requestTimeoutMs, writeTimeoutMs, historyLimitPerPartition, snapshotThresholdEntries,
                proposalQueueCapacity);
    }

    public ControlPlaneConfig withRequestTimeoutMs(long readMs, long writeMs) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, clusterName, timings, electionTimeoutMinMs,
                electionTimeoutMaxMs, readMs, writeMs, historyLimitPerPartition, snapshotThresholdEntries,
                proposalQueueCapacity);
    }

    public ControlPlaneConfig withHistoryLimitPerPartition(int limit) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, clusterName, timings, electionTimeoutMinMs,
                electionTimeoutMaxMs, requestTimeoutMs, writeTimeoutMs, limit, snapshotThresholdEntries,
                proposalQueueCapacity);
    }

    public ControlPlaneConfig withSnapshotThresholdEntries(long entries) {
        return new ControlPlaneConfig(nodeId, voter, voters, storageDir, clusterName, timings, electionTimeoutMinMs,
                electionTimeoutMaxMs, requestTimeoutMs, writeTimeoutMs, historyLimitPerPartition, entries,
                proposalQueueCapacity);
    }

    /** The Raft group id: a name-based UUID, so every node derives the same id from the same cluster name. */
    public UUID groupUuid() {
        return UUID.nameUUIDFromBytes(("ferry-cluster:" + clusterName).getBytes(StandardCharsets.UTF_8));
    }

    /** This voter's own Raft address; only for voters. */
    public InetSocketAddress ownRatisAddress() {
        require(voter, "node '%s' is not a control-plane voter", nodeId);
        return parseAddress(nodeId, voters.get(nodeId));
    }

    /** Parses {@code host:port} (port 1..65535; IPv6 hosts in brackets) without resolving the host. */
    static InetSocketAddress parseAddress(String voterId, String address) {
        require(address != null && !address.isBlank(), "control-voters['%s']: address must not be empty", voterId);
        String a = address.trim();
        int colon = a.lastIndexOf(':');
        require(colon > 0 && colon < a.length() - 1,
                "control-voters['%s']: address '%s' must be host:port", voterId, address);
        String host = a.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        require(!host.isBlank() && (host.indexOf(':') < 0 || a.startsWith("[")),
                "control-voters['%s']: address '%s' must be host:port (IPv6 hosts in brackets)", voterId, address);
        int port;
        try {
            port = Integer.parseInt(a.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw FerryException.invalid("config: control-voters['%s']: port of '%s' is not a number", voterId, address);
        }
        require(port >= 1 && port <= 65535, "control-voters['%s']: port of '%s' must be 1..65535, got %d",
                voterId, address, port);
        return InetSocketAddress.createUnresolved(host, port);
    }

    private static void require(boolean ok, String format, Object... args) {
        if (!ok) {
            throw FerryException.invalid("config: " + format, args);
        }
    }
}
