package io.ferrydb.cli;

import io.ferrydb.redis.RedisEndpoint;
import io.ferrydb.server.FerryNode;
import io.ferrydb.server.config.NodeConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** Runs a node in the foreground until SIGTERM/SIGINT, then stops gracefully. */
@Command(name = "server", description = "Run a FerryDB node (embedded defaults: data dir ./ferry-data, gRPC port 7400, HTTP port 7401).")
final class ServerCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", description = "YAML config file (see docs/ferry.yaml); flags override it.")
    Path config;

    @Option(names = "--node-id", description = "Node id (default node-1).")
    String nodeId;

    @Option(names = "--bind", description = "Address to listen on (default 127.0.0.1).")
    String bind;

    @Option(names = "--port", description = "gRPC port (default 7400; 0 picks a free port).")
    Integer port;

    @Option(names = "--http-port", description = "Admin HTTP port for /metrics and /health (default 7401; 0 picks a free port).")
    Integer httpPort;

    @Option(names = "--data-dir", description = "Data directory (default ./ferry-data).")
    String dataDir;

    @Option(names = "--control-port", description = "Control-plane (Ratis) port (default 7402; 0 picks a free port).")
    Integer controlPort;

    @Option(names = "--seeds", split = ",", description = "host:port (gRPC) of nodes already in the cluster, comma-separated.")
    java.util.List<String> seeds;

    @Option(names = "--control-voters", split = ",", description = "Raft voters as id@host:port, comma-separated (1, 3 or 5).")
    java.util.List<String> controlVoters;

    @Option(names = "--cluster-name", description = "Cluster name shared by its nodes (default ferry).")
    String clusterName;

    @Option(names = "--redis-port", description = "Redis protocol port (0 picks a free port, -1 off). Default: 6379 without --config, "
            + "else the file's redis section (off unless enabled).")
    Integer redisPort;

    @Option(names = "--json", description = "Print the ready line as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        NodeConfig c = config != null ? NodeConfig.load(config) : new NodeConfig();
        if (nodeId != null) {
            c.nodeId = nodeId;
        }
        if (bind != null) {
            c.host = bind;
        }
        if (port != null) {
            c.port = port;
        }
        if (httpPort != null) {
            c.httpPort = httpPort;
        }
        if (dataDir != null) {
            c.dataDir = dataDir;
        }
        if (controlPort != null) {
            c.controlPort = controlPort;
        }
        if (seeds != null) {
            c.seeds = new java.util.ArrayList<>(seeds);
        }
        if (controlVoters != null) {
            c.controlVoters = new java.util.ArrayList<>(controlVoters);
        }
        if (clusterName != null) {
            c.clusterName = clusterName;
        }
        if (redisPort != null && redisPort < 0) {
            c.redis.enabled = false;
        } else if (redisPort != null || config == null) {
            // Embedded defaults serve Redis on 6379; a config file decides for itself unless the flag says otherwise.
            c.withRedis(redisPort != null ? redisPort : c.redis.port);
        }
        FerryNode node = FerryNode.start(c.validate());
        RedisEndpoint redis;
        try {
            redis = c.redis.enabled ? RedisEndpoint.start(node) : null;
        } catch (RuntimeException e) {
            node.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (redis != null) {
                redis.close();
            }
            node.close();
        }, "ferry-shutdown"));
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("ready", true);
            m.put("node_id", c.nodeId);
            m.put("grpc", c.host + ":" + node.grpcPort());
            m.put("http", c.host + ":" + node.httpPort());
            m.put("data_dir", node.info().getDataDir());
            if (redis != null) {
                m.put("redis", c.host + ":" + redis.port());
            }
            spec.commandLine().getOut().println(Output.json(m));
        } else {
            spec.commandLine().getOut().printf("FerryDB node %s ready: grpc %s:%d http %s:%d%s data %s%n", c.nodeId, c.host,
                    node.grpcPort(), c.host, node.httpPort(), redis == null ? "" : " redis " + c.host + ":" + redis.port(),
                    node.info().getDataDir());
        }
        spec.commandLine().getOut().flush();
        node.awaitTermination();
        return 0;
    }
}
