package io.ferrydb.core.cluster;

import java.util.Objects;

/**
 * A node of the cluster.
 *
 * @param address     host:port of its native (gRPC) endpoint, which clients route to
 * @param httpAddress host:port of its admin HTTP endpoint
 * @param voter       whether it is one of the control plane's Raft voters
 * @param incarnation the process it joined with (0: unknown, an older node): a heartbeat from another
 *                    process of an alive member means it restarted without being declared failed
 */
public record Member(String id, String address, String httpAddress, boolean voter, Liveness liveness, long incarnation) {
    public Member(String id, String address, String httpAddress, boolean voter, Liveness liveness) {
        this(id, address, httpAddress, voter, liveness, 0);
    }

    public Member {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(httpAddress, "httpAddress");
        Objects.requireNonNull(liveness, "liveness");
    }

    public Member with(Liveness next) {
        return new Member(id, address, httpAddress, voter, next, incarnation);
    }
}
