package io.ferrydb.core.cluster;

/**
 * The leader's answer to a heartbeat.
 *
 * @param leaseGranted whether the node may keep serving as master for another lease
 *                     period measured from when it sent the heartbeat; false from a
 *                     non-leader and for a node the controller is declaring failed
 * @param view         the current view when newer than the node's, else null
 */
public record HeartbeatReply(boolean fromLeader, boolean leaseGranted, long version, ClusterView view) {
    public static final HeartbeatReply NOT_LEADER = new HeartbeatReply(false, false, -1, null);
}
