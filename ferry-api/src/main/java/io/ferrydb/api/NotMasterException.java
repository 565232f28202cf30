package io.ferrydb.api;

/**
 * NOT_MASTER: the node that answered does not serve the partition now, and says where it
 * is served in its view of the cluster: the master's address, or while the partition
 * moves (a planned handoff) the node taking it over, which serves it from the switch on
 * (null when there is neither, during a failover), and the partition's epoch in that
 * view. A client may send the retry there at once instead of waiting for a new partition
 * map; a hint of an epoch no newer than the client's map is no news.
 */
public final class NotMasterException extends FerryException {
    private static final long serialVersionUID = 1L;
    private final String master;
    private final long epoch;

    public NotMasterException(String message, String master, long epoch) {
        super(ErrorCode.NOT_MASTER, message, null, false);
        this.master = master == null || master.isEmpty() ? null : master;
        this.epoch = epoch;
    }

    /** Where the answering node's view says to go: the master's address, the node taking a moving partition over, or null. */
    public String master() {
        return master;
    }

    /** The partition's epoch in the answering node's view. */
    public long epoch() {
        return epoch;
    }
}
