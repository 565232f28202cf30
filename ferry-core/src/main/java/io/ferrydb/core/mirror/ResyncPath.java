package io.ferrydb.core.mirror;

/**
 * How a mirror that was away (or is new) is brought in sync, cheapest first: replay
 * the master's log after what the mirror holds; ship the current records of the keys
 * changed since (change tracking; a key changed a million times is shipped once); or
 * copy the whole partition.
 */
public enum ResyncPath {
    LOG, TRACKED, COPY;

    /** The path to escalate to when this one cannot finish. */
    public ResyncPath next() {
        return this == LOG ? TRACKED : COPY;
    }
}
