package io.ferrydb.core.log;

import io.ferrydb.api.Digest;
import io.ferrydb.core.Verify;
import io.ferrydb.core.record.RecordArbitraries;
import io.ferrydb.core.record.RecordCodec;
import io.ferrydb.core.record.StoredRecord;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogEntryTest {

    private static final Digest DIGEST = Digest.fromHex("0e5f6031f2ba099c9287a74e0d7b6ae90c3cb687");

    @Provide
    Arbitrary<LogOp> ops() {
        return Arbitraries.of(LogOp.class);
    }

    @Property(tries = 300)
    void encodeThenDecodeKeepsEveryField(@ForAll @IntRange(min = 1) int epoch, @ForAll @LongRange(min = 1) long lsn,
                                          @ForAll long hlc, @ForAll("ops") LogOp op, @ForAll AckPolicy ack,
                                          @ForAll @Size(20) byte[] digest, @ForAll @Size(max = 300) byte[] image) {
        LogEntry e = new LogEntry(epoch, lsn, hlc, op, ack, Digest.wrap(digest), image);
        byte[] encoded = e.encode();
        LogEntry d = LogEntry.decode(encoded);
        // LogEntry is a record with a byte[] component, whose equals compares identity: compare fields.
        assertEquals(epoch, d.epoch());
        assertEquals(lsn, d.lsn());
        assertEquals(hlc, d.hlc());
        assertEquals(op, d.op());
        assertEquals(ack, d.ack());
        assertEquals(Digest.wrap(digest), d.digest());
        assertArrayEquals(image, d.afterImage());
        assertEquals(47 + image.length, encoded.length);
        assertEquals(encoded.length, e.encodedLength());
        assertEquals(hlc, LogEntry.hlcOf(encoded));
    }

    @Property(tries = 100)
    void recordImagesSurviveTheLog(@ForAll("records") StoredRecord r) {
        LogEntry e = new LogEntry(1, 7, 9, LogOp.PUT, r.digest(), RecordCodec.encode(r));
        assertEquals(r, RecordCodec.decode(LogEntry.decode(e.encode()).afterImage()));
    }

    @Provide
    Arbitrary<StoredRecord> records() {
        return RecordArbitraries.records();
    }

    @Test
    void layoutIsPinned() {
        byte[] image = {9, 8, 7};
        byte[] encoded = new LogEntry(2, 0x0102030405060708L, 0x1112131415161718L, LogOp.DELETE, AckPolicy.ALL_ASYNC, DIGEST, image).encode();
        ByteBuffer expected = ByteBuffer.allocate(47 + 3).put((byte) 2).putInt(2).putLong(0x0102030405060708L)
                .putLong(0x1112131415161718L).put((byte) 2).put((byte) 3).put(DIGEST.toBytes()).putInt(3).put(image);
        assertArrayEquals(expected.array(), encoded);
    }

    @Test
    void versionOneEntriesStillDecodeWithoutAnAckPolicy() {
        byte[] image = {9, 8, 7};
        byte[] v1 = ByteBuffer.allocate(46 + 3).put((byte) 1).putInt(2).putLong(5).putLong(6).put((byte) 1)
                .put(DIGEST.toBytes()).putInt(3).put(image).array();
        LogEntry d = LogEntry.decode(v1);
        assertEquals(new LogEntry(2, 5, 6, LogOp.PUT, AckPolicy.NONE, DIGEST, image), d);
    }

    @Test
    void hlcOfReadsOnlyTheHeader() {
        long hlc = 0x0000_0190_0000_0007L;
        byte[] encoded = new LogEntry(1, 5, hlc, LogOp.PUT, DIGEST, new byte[1000]).encode();
        // The first 21 bytes (version, epoch, lsn, hlc) are all hlcOf needs; decode would fail on them.
        byte[] header = Arrays.copyOf(encoded, 21);
        assertEquals(hlc, LogEntry.hlcOf(header));
        assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(header));
        // Garbage after the header does not matter either.
        byte[] garbled = encoded.clone();
        Arrays.fill(garbled, 21, garbled.length, (byte) 0xFF);
        assertEquals(hlc, LogEntry.hlcOf(garbled));
        assertThrows(Verify.VerifyException.class, () -> LogEntry.hlcOf(Arrays.copyOf(encoded, 20)));
    }

    @Test
    void unknownVersionFails() {
        byte[] encoded = new LogEntry(1, 5, 6, LogOp.PUT, DIGEST, new byte[] {1}).encode();
        for (int version : new int[] {0, 3, 255}) {
            encoded[0] = (byte) version;
            Verify.VerifyException e = assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(encoded));
            assertTrue(e.getMessage().contains("version " + version), e.getMessage());
        }
    }

    @Test
    void truncatedOrPaddedEntriesFail() {
        byte[] encoded = new LogEntry(1, 5, 6, LogOp.EXPIRE, DIGEST, new byte[] {1, 2, 3}).encode();
        for (int cut = 0; cut < encoded.length; cut++) {
            byte[] prefix = Arrays.copyOf(encoded, cut);
            assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(prefix), "cut at " + cut);
        }
        byte[] padded = Arrays.copyOf(encoded, encoded.length + 1);
        Verify.VerifyException e = assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(padded));
        assertTrue(e.getMessage().contains("lsn=5"), e.getMessage());
    }

    @Test
    void lsnAndEpochStartAtOne() {
        assertThrows(Verify.VerifyException.class, () -> new LogEntry(1, 0, 1, LogOp.PUT, DIGEST, new byte[0]));
        assertThrows(Verify.VerifyException.class, () -> new LogEntry(0, 1, 1, LogOp.PUT, DIGEST, new byte[0]));
        byte[] encoded = new LogEntry(1, 1, 1, LogOp.PUT, DIGEST, new byte[0]).encode();
        encoded[12] = 0; // lsn's low byte: lsn 1 -> 0
        assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(encoded));
    }

    @Test
    void opCodesArePinned() {
        assertEquals(1, LogOp.PUT.code());
        assertEquals(2, LogOp.DELETE.code());
        assertEquals(3, LogOp.EXPIRE.code());
        assertEquals(4, LogOp.BULK_LOAD.code());
        for (LogOp op : LogOp.values()) {
            assertEquals(op, LogOp.fromCode(op.code()));
        }
        assertThrows(IllegalArgumentException.class, () -> LogOp.fromCode(5));
        int[] ackCodes = {0, 1, 2, 3, 4};
        for (int i = 0; i < ackCodes.length; i++) {
            assertEquals(ackCodes[i], AckPolicy.values()[i].code(), "ack policy " + AckPolicy.values()[i]);
            assertEquals(AckPolicy.values()[i], AckPolicy.fromCode(ackCodes[i]));
        }
        assertThrows(IllegalArgumentException.class, () -> AckPolicy.fromCode(5));
    }

    /**
     * A corrupt after-image length near Integer.MAX_VALUE overflows ByteReader.need's
     * {@code pos + n}, so the bounds check passes and Arrays.copyOfRange is asked for
     * ~2^31 bytes: today that is an OutOfMemoryError ("Requested array size exceeds VM
     * limit"), which JUnit treats as fatal and which aborts the whole Surefire fork.
     * Enable only together with the fix ({@code n <= buf.length - pos} in ByteReader.need).
     */
    @Test
    void hugeImageLengthFailsWithAVerifyException() {
        byte[] encoded = new LogEntry(1, 5, 6, LogOp.PUT, DIGEST, new byte[] {1}).encode();
        ByteBuffer.wrap(encoded).putInt(42, Integer.MAX_VALUE);
        assertThrows(Verify.VerifyException.class, () -> LogEntry.decode(encoded));
    }
}
