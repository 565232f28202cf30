package io.ferrydb.core.cluster;

import java.util.Objects;

/**
 * A node of the cluster.
 *
 * @param address     host:port of its native (gRPC) endpoint, which clients route to
 * @param httpAddress host:port of its admin HTTP endpoint
 * @param voter       whether it is one of the control plane's Raft voters
 */
public record Member(String id, String address, String httpAddress, boolean voter, Liveness liveness) {
    public Member {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(httpAddress, "httpAddress");
        Objects.requireNonNull(liveness, "liveness");
    }

    public Member with(Liveness next) {
        return new Member(id, address, httpAddress, voter, next);
    }
}
