package io.ferrydb.core.log;

/** What a partition-log entry records. Codes are on disk: never renumber. */
public enum LogOp {
    PUT(1), DELETE(2), EXPIRE(3),
    /** A bulk load's boundary: its records were ingested without log entries (image: count, load id). */
    BULK_LOAD(4);

    private final int code;

    LogOp(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static LogOp fromCode(int code) {
        for (LogOp op : values()) {
            if (op.code == code) {
                return op;
            }
        }
        throw new IllegalArgumentException("unknown log op " + code);
    }
}
