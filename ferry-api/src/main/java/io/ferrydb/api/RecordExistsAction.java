package io.ferrydb.api;

/** What a put does depending on whether the record exists (Aerospike's names and meanings). */
public enum RecordExistsAction {
    /** Create the record or merge the given bins into it. */
    UPSERT,
    /** Create the record; fail with ALREADY_EXISTS if it exists. */
    CREATE_ONLY,
    /** Merge bins into an existing record; fail with NOT_FOUND if it does not exist. */
    UPDATE_ONLY,
    /** Create the record or replace all its bins. */
    REPLACE,
    /** Replace all bins of an existing record; fail with NOT_FOUND if it does not exist. */
    REPLACE_ONLY
}
