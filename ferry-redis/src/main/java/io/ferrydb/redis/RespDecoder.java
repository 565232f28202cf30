package io.ferrydb.redis;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits the inbound byte stream into commands: RESP arrays of bulk strings (what
 * clients send) or inline commands (a line of space-separated words, what telnet
 * sends). Each command becomes a {@code byte[][]}. An incomplete command leaves the
 * buffer untouched until more bytes arrive, so many pipelined commands in one read
 * come out together. Malformed input becomes a {@link ProtocolError}, answered with
 * Redis's own text before the connection is closed, as Redis does.
 */
final class RespDecoder extends ByteToMessageDecoder {
    /** Redis's proto-max-bulk-len default is 512 MB; a record is far smaller, so refuse early. */
    static final int MAX_BULK_BYTES = 64 * 1024 * 1024;
    static final int MAX_ARGS = 1024 * 1024;
    static final int MAX_INLINE_BYTES = 64 * 1024;

    record ProtocolError(String message) {}

    private boolean failed;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (!failed && in.isReadable()) {
            int start = in.readerIndex();
            Object cmd;
            try {
                cmd = in.getByte(start) == '*' ? array(in) : inline(in);
            } catch (Malformed e) {
                failed = true;
                in.skipBytes(in.readableBytes());
                out.add(new ProtocolError(e.getMessage()));
                return;
            }
            if (cmd == null) {
                in.readerIndex(start);
                return;
            }
            if (cmd != EMPTY) {
                out.add(cmd);
            }
        }
    }

    private static final Object EMPTY = new Object();

    private static final class Malformed extends RuntimeException {
        Malformed(String message) {
            super(message, null, false, false);
        }
    }

    /** A RESP array, or null when incomplete. */
    private static Object array(ByteBuf in) {
        in.skipBytes(1);
        long n = number(in, "invalid multibulk length");
        if (n == Long.MIN_VALUE) {
            return null;
        }
        if (n > MAX_ARGS) {
            throw new Malformed("Protocol error: invalid multibulk length");
        }
        if (n <= 0) {
            return EMPTY;
        }
        byte[][] args = new byte[(int) n][];
        for (int i = 0; i < n; i++) {
            if (!in.isReadable()) {
                return null;
            }
            byte type = in.readByte();
            if (type != '$') {
                throw new Malformed("Protocol error: expected '$', got '" + (char) type + "'");
            }
            long len = number(in, "invalid bulk length");
            if (len == Long.MIN_VALUE) {
                return null;
            }
            if (len < 0 || len > MAX_BULK_BYTES) {
                throw new Malformed("Protocol error: invalid bulk length");
            }
            if (in.readableBytes() < len + 2) {
                return null;
            }
            byte[] a = new byte[(int) len];
            in.readBytes(a);
            in.skipBytes(2);
            args[i] = a;
        }
        return args;
    }

    /** Reads digits up to CRLF; Long.MIN_VALUE when the line is incomplete. */
    private static long number(ByteBuf in, String what) {
        int eol = in.indexOf(in.readerIndex(), in.writerIndex(), (byte) '\r');
        if (eol < 0 || eol + 1 >= in.writerIndex()) {
            if (in.readableBytes() > 32) {
                throw new Malformed("Protocol error: " + what);
            }
            return Long.MIN_VALUE;
        }
        int len = eol - in.readerIndex();
        if (len == 0 || len > 20) {
            throw new Malformed("Protocol error: " + what);
        }
        long v = 0;
        boolean negative = false;
        for (int i = 0; i < len; i++) {
            byte b = in.getByte(in.readerIndex() + i);
            if (i == 0 && b == '-') {
                negative = true;
            } else if (b >= '0' && b <= '9') {
                v = v * 10 + (b - '0');
            } else {
                throw new Malformed("Protocol error: " + what);
            }
        }
        in.readerIndex(eol + 2);
        return negative ? -v : v;
    }

    /** An inline command (words separated by spaces, "..." quoting), or null when incomplete. */
    private static Object inline(ByteBuf in) {
        int eol = in.indexOf(in.readerIndex(), in.writerIndex(), (byte) '\n');
        if (eol < 0) {
            if (in.readableBytes() > MAX_INLINE_BYTES) {
                throw new Malformed("Protocol error: too big inline request");
            }
            return null;
        }
        int end = eol > in.readerIndex() && in.getByte(eol - 1) == '\r' ? eol - 1 : eol;
        byte[] line = new byte[end - in.readerIndex()];
        in.getBytes(in.readerIndex(), line);
        in.readerIndex(eol + 1);
        List<byte[]> words = splitInline(line);
        return words.isEmpty() ? EMPTY : words.toArray(new byte[0][]);
    }

    static List<byte[]> splitInline(byte[] line) {
        List<byte[]> words = new ArrayList<>();
        int i = 0;
        while (i < line.length) {
            while (i < line.length && (line[i] == ' ' || line[i] == '\t')) {
                i++;
            }
            if (i >= line.length) {
                break;
            }
            java.io.ByteArrayOutputStream w = new java.io.ByteArrayOutputStream();
            if (line[i] == '"' || line[i] == '\'') {
                byte quote = line[i++];
                boolean closed = false;
                while (i < line.length) {
                    byte b = line[i++];
                    if (b == quote) {
                        closed = true;
                        break;
                    }
                    if (b == '\\' && quote == '"' && i < line.length) {
                        byte e = line[i++];
                        b = switch (e) {
                            case 'n' -> '\n';
                            case 'r' -> '\r';
                            case 't' -> '\t';
                            default -> e;
                        };
                    }
                    w.write(b);
                }
                if (!closed) {
                    throw new Malformed("Protocol error: unbalanced quotes in request");
                }
            } else {
                while (i < line.length && line[i] != ' ' && line[i] != '\t') {
                    w.write(line[i++]);
                }
            }
            words.add(w.toByteArray());
        }
        return words;
    }
}
