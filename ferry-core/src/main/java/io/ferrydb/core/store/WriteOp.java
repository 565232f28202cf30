package io.ferrydb.core.store;

import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.record.BinValidator;

import java.util.List;

/** One write of a {@link RecordStore#writeAll} batch. */
public sealed interface WriteOp permits WriteOp.Put, WriteOp.Delete {
    Key key();

    WritePolicy policy();

    record Put(Key key, List<BinValidator.NamedValue> bins, WritePolicy policy) implements WriteOp {}

    record Delete(Key key, WritePolicy policy) implements WriteOp {}
}
