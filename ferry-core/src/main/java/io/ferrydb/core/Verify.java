package io.ferrydb.core;

/**
 * Invariants checked in production code. A failed check is a bug: it throws
 * {@link VerifyException} with the formatted message and is never caught to continue.
 */
public final class Verify {
    private Verify() {}

    public static void that(boolean condition, String format, Object... args) {
        if (!condition) {
            throw new VerifyException(String.format(format, args));
        }
    }

    public static void that(boolean condition, String message) {
        if (!condition) {
            throw new VerifyException(message);
        }
    }

    public static final class VerifyException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        public VerifyException(String message) {
            super("invariant violated: " + message);
        }
    }
}
