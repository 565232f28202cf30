package io.ferrydb.core.record;

import io.ferrydb.core.Verify;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growable big-endian byte buffer for the on-disk codecs. */
public final class ByteWriter {
    private byte[] buf;
    private int pos;
    private boolean done;

    public ByteWriter(int initialCapacity) {
        buf = new byte[Math.max(16, initialCapacity)];
    }

    private void ensure(int n) {
        Verify.that(!done, "ByteWriter used after toByteArray");
        if (pos + n > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + n));
        }
    }

    public ByteWriter u8(int v) {
        ensure(1);
        buf[pos++] = (byte) v;
        return this;
    }

    public ByteWriter u16(int v) {
        ensure(2);
        buf[pos++] = (byte) (v >>> 8);
        buf[pos++] = (byte) v;
        return this;
    }

    public ByteWriter i32(int v) {
        ensure(4);
        for (int s = 24; s >= 0; s -= 8) {
            buf[pos++] = (byte) (v >>> s);
        }
        return this;
    }

    public ByteWriter i64(long v) {
        ensure(8);
        for (int s = 56; s >= 0; s -= 8) {
            buf[pos++] = (byte) (v >>> s);
        }
        return this;
    }

    public ByteWriter bytes(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, buf, pos, b.length);
        pos += b.length;
        return this;
    }

    /** A u8 length then UTF-8 bytes; for bounded names. */
    public ByteWriter shortString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > 255) {
            throw new IllegalArgumentException("name too long for u8 length: " + b.length);
        }
        return u8(b.length).bytes(b);
    }

    /** An i32 length then the bytes. */
    public ByteWriter blob(byte[] b) {
        return i32(b.length).bytes(b);
    }

    public int size() {
        return pos;
    }

    /**
     * The bytes written; the writer is done after this. A buffer sized exactly (a log
     * entry's, a record's when the estimate holds) is handed over without a copy.
     */
    public byte[] toByteArray() {
        Verify.that(!done, "ByteWriter used after toByteArray");
        done = true;
        return pos == buf.length ? buf : Arrays.copyOf(buf, pos);
    }
}
