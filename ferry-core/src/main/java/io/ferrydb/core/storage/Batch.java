package io.ferrydb.core.storage;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** An atomic group of writes across column families: all or none survive a crash. */
public final class Batch {
    public enum Kind { PUT, DELETE, DELETE_RANGE }

    public record Op(Kind kind, Column column, byte[] key, byte[] value) {}

    private final List<Op> ops = new ArrayList<>(4);
    private long bytes;

    public Batch put(Column c, byte[] key, byte[] value) {
        ops.add(new Op(Kind.PUT, c, key, value));
        bytes += key.length + value.length;
        return this;
    }

    public Batch delete(Column c, byte[] key) {
        ops.add(new Op(Kind.DELETE, c, key, null));
        bytes += key.length;
        return this;
    }

    /** Deletes keys in [fromInclusive, toExclusive). */
    public Batch deleteRange(Column c, byte[] fromInclusive, byte[] toExclusive) {
        ops.add(new Op(Kind.DELETE_RANGE, c, fromInclusive, toExclusive));
        bytes += fromInclusive.length + toExclusive.length;
        return this;
    }

    public List<Op> ops() {
        return Collections.unmodifiableList(ops);
    }

    public boolean isEmpty() {
        return ops.isEmpty();
    }

    public long bytes() {
        return bytes;
    }
}
