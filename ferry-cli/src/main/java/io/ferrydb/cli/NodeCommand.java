package io.ferrydb.cli;

import io.ferrydb.proto.DecommissionRequest;
import io.ferrydb.proto.DecommissionResponse;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.Map;
import java.util.concurrent.Callable;

/** {@code ferry node ...}: operations on one member. */
@Command(name = "node", description = "Operations on one member of the cluster.", subcommands = NodeCommand.Decommission.class)
final class NodeCommand {

    @Command(name = "decommission", description = "Graceful leave: the node's replicas move to other nodes, then it is LEFT.")
    static final class Decommission implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        ClusterCommand.AdminOptions admin = new ClusterCommand.AdminOptions();

        @Parameters(index = "0", paramLabel = "NODE_ID", description = "Id of the node to decommission.")
        String nodeId;

        @Override
        public Integer call() {
            ManagedChannel ch = admin.channel();
            try {
                DecommissionResponse r = admin.stub(ch).decommission(DecommissionRequest.newBuilder().setNodeId(nodeId).build());
                if (admin.json) {
                    spec.commandLine().getOut().println(Output.json(Map.of("node_id", nodeId, "accepted", true, "message", r.getMessage())));
                } else {
                    spec.commandLine().getOut().println(r.getMessage());
                }
                return 0;
            } catch (StatusRuntimeException e) {
                throw admin.failure(e);
            } finally {
                ch.shutdownNow();
            }
        }
    }
}
