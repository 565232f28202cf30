package io.ferrydb.core;

import io.ferrydb.core.record.ByteWriter;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class VerifyTest {

    @Test
    void primitiveChecksFormatTheirNumbersLikeTheVarargsForm() {
        Verify.that(true, "never formatted %d", 1);
        int n = -3;
        long big = 1L << 40;
        assertEquals("invariant violated: need -3 bytes at 1099511627776 of 7",
                assertThrows(Verify.VerifyException.class, () -> Verify.that(false, "need %d bytes at %d of %d", n, big, 7)).getMessage());
        assertEquals("invariant violated: a=1 b=2",
                assertThrows(Verify.VerifyException.class, () -> Verify.that(false, "a=%d b=%d", 1, 2L)).getMessage());
        assertEquals("invariant violated: x 5",
                assertThrows(Verify.VerifyException.class, () -> Verify.that(false, "x %s", 5)).getMessage());
        assertEquals("invariant violated: mixed 5 and s",
                assertThrows(Verify.VerifyException.class, () -> Verify.that(false, "mixed %d and %s", 5, "s")).getMessage());
    }

    @Test
    void aByteWriterHandsOverAnExactBufferAndIsDoneAfterwards() {
        ByteWriter exact = new ByteWriter(16);
        byte[] out = exact.i64(1).i64(2).toByteArray();
        assertEquals(16, out.length);
        assertThrows(Verify.VerifyException.class, () -> exact.u8(3));
        assertThrows(Verify.VerifyException.class, exact::toByteArray);
        assertArrayEquals(new byte[] {0, 0, 0, 7}, new ByteWriter(64).i32(7).toByteArray(), "a larger buffer is trimmed");
    }
}
