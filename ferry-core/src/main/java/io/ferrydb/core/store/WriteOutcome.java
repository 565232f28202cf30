package io.ferrydb.core.store;

import io.ferrydb.api.ErrorCode;

/** What a write did. Refusals are expected outcomes, not exceptions. */
public sealed interface WriteOutcome permits WriteOutcome.Written, WriteOutcome.Refused, WriteOutcome.Absent {

    /** The change is applied and logged at {@code (epoch, lsn)}; not yet durable. */
    record Written(int epoch, long lsn, int generation, long hlc, io.ferrydb.core.log.LogOp op) implements WriteOutcome {}

    record Refused(ErrorCode code, String message) implements WriteOutcome {}

    /** A delete found no live record; nothing was logged. */
    record Absent() implements WriteOutcome {}
}
