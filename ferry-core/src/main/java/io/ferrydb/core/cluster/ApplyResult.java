package io.ferrydb.core.cluster;

/** What applying a command did. A refusal is an expected outcome, not a bug. */
public sealed interface ApplyResult {
    long version();

    /** @param partitionsChanged how many partition entries got a new epoch */
    record Applied(long version, int partitionsChanged) implements ApplyResult {
    }

    record Refused(long version, String reason) implements ApplyResult {
    }
}
