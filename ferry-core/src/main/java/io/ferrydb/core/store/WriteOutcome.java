package io.ferrydb.core.store;

import io.ferrydb.api.ErrorCode;

/** What a write did. Refusals are expected outcomes, not exceptions. */
public sealed interface WriteOutcome permits WriteOutcome.Written, WriteOutcome.Refused, WriteOutcome.Absent {

    /**
     * The change is applied and logged at {@code (epoch, lsn)}; not yet durable.
     * {@code entry} is the log entry as written, which the master streams to its mirrors.
     */
    record Written(int epoch, long lsn, int generation, long hlc, io.ferrydb.core.log.LogOp op,
                   io.ferrydb.core.log.LogEntry entry) implements WriteOutcome {}

    record Refused(ErrorCode code, String message) implements WriteOutcome {}

    /** A delete found no live record; nothing was logged. */
    record Absent() implements WriteOutcome {}
}
