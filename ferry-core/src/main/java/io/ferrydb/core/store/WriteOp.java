package io.ferrydb.core.store;

import io.ferrydb.api.Key;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.record.BinValidator;

import java.util.List;

/** One write of a {@link RecordStore#writeAll} batch. */
public sealed interface WriteOp permits WriteOp.Put, WriteOp.Delete {
    Key key();

    WritePolicy policy();

    /**
     * @param expiresAtMs 0: expiry from {@code policy.ttlSeconds()}; positive: this absolute expiry in epoch
     *                    milliseconds (millisecond TTLs, e.g. Redis PX/PEXPIREAT)
     */
    record Put(Key key, List<BinValidator.NamedValue> bins, WritePolicy policy, long expiresAtMs) implements WriteOp {
        public Put(Key key, List<BinValidator.NamedValue> bins, WritePolicy policy) {
            this(key, bins, policy, 0);
        }
    }

    record Delete(Key key, WritePolicy policy) implements WriteOp {}
}
