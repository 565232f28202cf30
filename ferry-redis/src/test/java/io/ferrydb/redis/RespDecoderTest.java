package io.ferrydb.redis;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

class RespDecoderTest {
    private static List<String> words(Object cmd) {
        List<String> out = new ArrayList<>();
        for (byte[] b : (byte[][]) cmd) {
            out.add(new String(b, StandardCharsets.UTF_8));
        }
        return out;
    }

    @Test
    void decodesArraysAndInlineCommandsInOrder() {
        EmbeddedChannel ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.copiedBuffer("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET a \"b c\"\r\n\r\n", StandardCharsets.UTF_8));
        assertEquals(List.of("GET", "k"), words(ch.readInbound()));
        assertEquals(List.of("PING"), words(ch.readInbound()));
        assertEquals(List.of("SET", "a", "b c"), words(ch.readInbound()));
        assertNull(ch.readInbound(), "an empty line is no command");
    }

    /** However the bytes are split into reads, the same commands come out. */
    @Property(tries = 200)
    void anySplitGivesTheSameCommands(@ForAll @IntRange(min = 1, max = 60) int cut1, @ForAll @IntRange(min = 1, max = 60) int cut2) {
        byte[] all = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n*1\r\n$4\r\nPING\r\n".getBytes(StandardCharsets.UTF_8);
        int a = Math.min(cut1, all.length);
        int b = Math.min(a + cut2, all.length);
        EmbeddedChannel ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.copiedBuffer(all, 0, a));
        ch.writeInbound(Unpooled.copiedBuffer(all, a, b - a));
        ch.writeInbound(Unpooled.copiedBuffer(all, b, all.length - b));
        assertEquals(List.of("SET", "key", "0123456789"), words(ch.readInbound()));
        assertEquals(List.of("PING"), words(ch.readInbound()));
        assertNull(ch.readInbound());
    }

    @Test
    void binaryBulkStringsKeepEveryByte() {
        EmbeddedChannel ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {'*', '1', '\r', '\n', '$', '3', '\r', '\n', 0, '\r', '\n', '\r', '\n'}));
        assertArrayEquals(new byte[] {0, '\r', '\n'}, ((byte[][]) ch.readInbound())[0]);
    }

    @Test
    void malformedInputIsAProtocolErrorWithRedisWording() {
        EmbeddedChannel ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.copiedBuffer("*1\r\n$x\r\n", StandardCharsets.UTF_8));
        assertEquals("Protocol error: invalid bulk length", assertInstanceOf(RespDecoder.ProtocolError.class, ch.readInbound()).message());
        ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.copiedBuffer("*1\r\n:1\r\n", StandardCharsets.UTF_8));
        assertEquals("Protocol error: expected '$', got ':'", ((RespDecoder.ProtocolError) ch.readInbound()).message());
        ch = new EmbeddedChannel(new RespDecoder());
        ch.writeInbound(Unpooled.copiedBuffer("ECHO \"open\r\n", StandardCharsets.UTF_8));
        assertEquals("Protocol error: unbalanced quotes in request", ((RespDecoder.ProtocolError) ch.readInbound()).message());
    }
}
