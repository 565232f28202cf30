package io.ferrydb.core.storage;

/** The three column families of a node's store. */
public enum Column {
    /** namespace|partition|digest → encoded record. */
    DATA("data"),
    /** namespace|partition|lsn → encoded log entry. */
    LOG("log"),
    /** partition high-water marks and node metadata. */
    META("meta");

    private final String familyName;

    Column(String familyName) {
        this.familyName = familyName;
    }

    public String familyName() {
        return familyName;
    }
}
