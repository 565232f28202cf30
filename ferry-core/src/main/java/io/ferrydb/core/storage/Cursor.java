package io.ferrydb.core.storage;

/** Forward iteration over a key range; close it to release the snapshot. */
public interface Cursor extends AutoCloseable {
    /** Moves to the next entry; false when the range is exhausted. */
    boolean next();

    byte[] key();

    byte[] value();

    @Override
    void close();
}
