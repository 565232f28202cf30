package io.ferrydb.core.cluster;

import java.util.concurrent.CompletionStage;

/**
 * The control plane's replicated store as the cluster logic sees it: commands go in,
 * results come back after the command is committed and applied, in one total order
 * (linearizable). The node runtime implements it with an Apache Ratis group; the
 * simulator with an in-memory store whose commits it delays, loses and reorders only
 * as a real Raft group could (a proposal is either applied once, in order, or not at all).
 */
public interface MetadataStore {
    CompletionStage<ApplyResult> submit(ClusterCommand command);
}
