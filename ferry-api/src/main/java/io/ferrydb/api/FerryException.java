package io.ferrydb.api;

/** A failed FerryDB call, carrying the status code the server answered with. */
public class FerryException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final ErrorCode code;

    public FerryException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    public FerryException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    /**
     * For expected outcomes on hot paths (not found, generation mismatch): no stack
     * trace is captured.
     */
    public FerryException(ErrorCode code, String message, Throwable cause, boolean stackTrace) {
        super(message, cause, false, stackTrace);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }

    public static FerryException invalid(String format, Object... args) {
        return new FerryException(ErrorCode.INVALID_ARGUMENT, String.format(format, args));
    }

    @Override
    public String getMessage() {
        return code + ": " + super.getMessage();
    }

    /** The message without the code prefix. */
    public String reason() {
        return super.getMessage();
    }
}
