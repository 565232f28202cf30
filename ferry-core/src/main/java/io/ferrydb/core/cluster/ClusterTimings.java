package io.ferrydb.core.cluster;

import io.ferrydb.core.Verify;

/**
 * The control plane's timings. A master serves only within a lease measured on its
 * own clock from when it sent an acknowledged heartbeat; the controller declares a
 * node failed only after {@code failureTimeoutMs} without heartbeats on its clock.
 * With clock rates within ±{@code maxDriftRatio}, requiring
 * {@code failureTimeoutMs * (1 - drift) > leaseMs * (1 + drift)} makes an old master's
 * lease run out before a new master is promoted.
 */
public record ClusterTimings(long heartbeatIntervalMs, long leaseMs, long failureTimeoutMs, long proposalRetryMs,
                             double maxDriftRatio) {
    /** Defaults: a dead node is noticed within failureTimeout + one tick, under 2 s. */
    public static final ClusterTimings DEFAULTS = new ClusterTimings(250, 1000, 1500, 1000, 0.1);

    public ClusterTimings {
        Verify.that(heartbeatIntervalMs > 0, "heartbeat-interval-ms must be > 0, got %d", heartbeatIntervalMs);
        Verify.that(leaseMs > heartbeatIntervalMs * 2, "lease-ms (%d) must exceed two heartbeat intervals (%d)", leaseMs, heartbeatIntervalMs);
        Verify.that(failureTimeoutMs * (1 - maxDriftRatio) > leaseMs * (1 + maxDriftRatio),
                "failure-timeout-ms (%d) must exceed lease-ms (%d) with drift %.2f on both sides", failureTimeoutMs, leaseMs, maxDriftRatio);
        Verify.that(proposalRetryMs > 0, "proposal retry must be > 0");
    }
}
