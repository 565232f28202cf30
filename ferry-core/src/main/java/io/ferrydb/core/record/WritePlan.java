package io.ferrydb.core.record;

import io.ferrydb.api.ErrorCode;

/** The decision for one write: apply this record, or refuse with a status. */
public sealed interface WritePlan permits WritePlan.Apply, WritePlan.Refuse {

    record Apply(StoredRecord record, byte[] encoded) implements WritePlan {}

    record Refuse(ErrorCode code, String message) implements WritePlan {}
}
