package io.ferrydb.api;

/** Fixed limits of the data model. Changing any of them changes the on-disk format. */
public final class Limits {
    private Limits() {}

    /** Partitions per namespace: the low 12 bits of the digest's first two bytes. */
    public static final int PARTITION_COUNT = 4096;
    public static final int DIGEST_LENGTH_BYTES = 20;
    public static final int NAMESPACE_NAME_MAX_BYTES = 31;
    public static final int SET_NAME_MAX_BYTES = 63;
    public static final int BIN_NAME_MAX_BYTES = 15;
    public static final int BINS_PER_RECORD_MAX = 32_767;
    public static final int KEY_BYTES_MAX = 1024;
    /** Nesting depth of lists and maps inside a bin. */
    public static final int VALUE_DEPTH_MAX = 32;
}
