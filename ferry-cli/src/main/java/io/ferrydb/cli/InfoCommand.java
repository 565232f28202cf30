package io.ferrydb.cli;

import io.ferrydb.api.Hlc;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.NodeInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "info", description = "What a node says about itself: id, version, addresses, namespaces, log positions.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;

    @Override
    public Integer call() {
        try (FerryClient c = client.connect()) {
            NodeInfo i = c.info();
            PrintWriter out = spec.commandLine().getOut();
            if (client.json) {
                out.println(Output.json(i));
                return 0;
            }
            out.printf("node %s  version %s  up %ds%n", i.nodeId(), i.version(), i.uptimeMs() / 1000);
            out.printf("grpc %s  http %s  data %s%n", i.grpcAddress(), i.httpAddress(), i.dataDir());
            out.printf("hlc %s  records (estimate) %d%n", Hlc.format(i.hlc()), i.recordsEstimate());
            for (NodeInfo.Namespace n : i.namespaces()) {
                out.printf("namespace %s: rf=%d ttl=%ds max-record=%dB durability=%s commit=%s log=%d entries/%d bytes lsn-sum=%d%n",
                        n.name(), n.replicationFactor(), n.defaultTtlSeconds(), n.maxRecordSizeBytes(), n.defaultDurability(),
                        n.defaultCommitLevel(), n.logEntries(), n.logBytes(), n.lastLsnSum());
            }
        }
        return 0;
    }
}
