package io.ferrydb.api;

/**
 * Why a request failed. The names and meanings follow gRPC status codes, so a
 * {@link FerryException} maps one-to-one onto the status the server sends.
 */
public enum ErrorCode {
    /** A name, type or size in the request is wrong; the message names the field. */
    INVALID_ARGUMENT,
    /** The record (or namespace object) does not exist. */
    NOT_FOUND,
    /** A create-only write found the record already there. */
    ALREADY_EXISTS,
    /** The record's generation did not match the expected generation. */
    FAILED_PRECONDITION,
    /**
     * This node does not master the key's partition now: another node does, the
     * partition is moving, or this node's master lease lapsed. The request was not
     * executed, so any operation may be retried after refreshing the partition map
     * (gRPC status ABORTED).
     */
    NOT_MASTER,
    /** A server limit was hit (in-flight requests, pending syncs, message size). */
    RESOURCE_EXHAUSTED,
    /** The server could not be reached or is shutting down; safe to retry idempotent calls. */
    UNAVAILABLE,
    /** The call did not finish before its deadline. */
    DEADLINE_EXCEEDED,
    /** The call was cancelled. */
    CANCELLED,
    /** A bug or storage failure on the server. */
    INTERNAL,
    /** Anything the client could not classify. */
    UNKNOWN
}
