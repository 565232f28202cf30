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

    // Primitive overloads: a check on a hot path (every decoded field, every acknowledgement)
    // must not box its numbers and allocate an argument array each time it holds.
    // Overload resolution picks these for integral arguments before the varargs form, so
    // an int or char argument is formatted as a long: use %d or %s with them, not %x or %c.

    public static void that(boolean condition, String format, long a) {
        if (!condition) {
            throw new VerifyException(String.format(format, a));
        }
    }

    public static void that(boolean condition, String format, long a, long b) {
        if (!condition) {
            throw new VerifyException(String.format(format, a, b));
        }
    }

    public static void that(boolean condition, String format, long a, long b, long c) {
        if (!condition) {
            throw new VerifyException(String.format(format, a, b, c));
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
