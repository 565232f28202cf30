package io.ferrydb.redis;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One answer on the wire, written in the connection's protocol: RESP2, or RESP3 after
 * {@code HELLO 3} (nulls, maps and doubles have their own RESP3 types; in RESP2 a map
 * is a flat array and a double a bulk string).
 */
sealed interface Reply {
    Reply OK = new Simple("OK");
    Reply NULL = new Bulk(null);
    Reply NULL_ARRAY = new Arr(null);
    Reply ZERO = new Int(0);
    Reply ONE = new Int(1);
    Reply EMPTY_ARRAY = new Arr(List.of());

    void write(ByteBuf out, int protocol);

    static Reply bulk(String s) {
        return new Bulk(s.getBytes(StandardCharsets.UTF_8));
    }

    static Reply integer(long n) {
        return n == 0 ? ZERO : n == 1 ? ONE : new Int(n);
    }

    static Reply error(String message) {
        return new Err(message);
    }

    record Simple(String text) implements Reply {
        public void write(ByteBuf out, int protocol) {
            out.writeByte('+');
            out.writeCharSequence(text, StandardCharsets.UTF_8);
            crlf(out);
        }
    }

    /** An error: {@code message} starts with its code (ERR, WRONGTYPE, NOAUTH, ...). */
    record Err(String message) implements Reply {
        public void write(ByteBuf out, int protocol) {
            out.writeByte('-');
            // A newline inside would end the error early and desynchronize the client.
            out.writeCharSequence(message.replace('\r', ' ').replace('\n', ' '), StandardCharsets.UTF_8);
            crlf(out);
        }
    }

    record Int(long value) implements Reply {
        public void write(ByteBuf out, int protocol) {
            out.writeByte(':');
            number(out, value);
        }
    }

    /** A bulk string; null is the null reply. */
    record Bulk(byte[] bytes) implements Reply {
        public void write(ByteBuf out, int protocol) {
            if (bytes == null) {
                nil(out, protocol, '$');
                return;
            }
            out.writeByte('$');
            number(out, bytes.length);
            out.writeBytes(bytes);
            crlf(out);
        }
    }

    record Dbl(String formatted) implements Reply {
        public void write(ByteBuf out, int protocol) {
            if (protocol >= 3) {
                out.writeByte(',');
                out.writeCharSequence(formatted, StandardCharsets.US_ASCII);
                crlf(out);
            } else {
                Reply.bulk(formatted).write(out, protocol);
            }
        }
    }

    /** An array; null is the null array. */
    record Arr(List<Reply> items) implements Reply {
        public void write(ByteBuf out, int protocol) {
            if (items == null) {
                nil(out, protocol, '*');
                return;
            }
            out.writeByte('*');
            number(out, items.size());
            for (Reply r : items) {
                r.write(out, protocol);
            }
        }
    }

    /** A map of alternating keys and values: RESP3 '%', RESP2 a flat array. */
    record MapReply(List<Reply> keysAndValues) implements Reply {
        public void write(ByteBuf out, int protocol) {
            out.writeByte(protocol >= 3 ? '%' : '*');
            number(out, protocol >= 3 ? keysAndValues.size() / 2 : keysAndValues.size());
            for (Reply r : keysAndValues) {
                r.write(out, protocol);
            }
        }
    }

    /** A set (RESP3 '~', RESP2 an array). */
    record SetReply(List<Reply> items) implements Reply {
        public void write(ByteBuf out, int protocol) {
            out.writeByte(protocol >= 3 ? '~' : '*');
            number(out, items.size());
            for (Reply r : items) {
                r.write(out, protocol);
            }
        }
    }

    /** Text that RESP3 sends as a verbatim string (INFO) and RESP2 as a bulk string. */
    record Verbatim(String text) implements Reply {
        public void write(ByteBuf out, int protocol) {
            if (protocol < 3) {
                Reply.bulk(text).write(out, protocol);
                return;
            }
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            out.writeByte('=');
            number(out, b.length + 4);
            out.writeCharSequence("txt:", StandardCharsets.US_ASCII);
            out.writeBytes(b);
            crlf(out);
        }
    }

    private static void nil(ByteBuf out, int protocol, char resp2Type) {
        if (protocol >= 3) {
            out.writeByte('_');
            crlf(out);
        } else {
            out.writeByte(resp2Type);
            out.writeByte('-');
            out.writeByte('1');
            crlf(out);
        }
    }

    private static void number(ByteBuf out, long n) {
        if (n >= 0 && n < 10) {
            out.writeByte('0' + (int) n);
        } else {
            out.writeCharSequence(Long.toString(n), StandardCharsets.US_ASCII);
        }
        crlf(out);
    }

    private static void crlf(ByteBuf out) {
        out.writeByte('\r');
        out.writeByte('\n');
    }
}
