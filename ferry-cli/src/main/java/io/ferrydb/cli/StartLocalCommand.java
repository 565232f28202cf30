package io.ferrydb.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Starts N node processes on 127.0.0.1, each with its own data dir and ports: the
 * first 1, 3 or 5 are the control plane's voters, the others join through a seed.
 * The processes keep running after this command returns; it prints how to reach and
 * stop them.
 */
@Command(name = "start-local", description = "Start N node processes on 127.0.0.1 with their own data dirs and ports; print how to reach them.")
final class StartLocalCommand implements Callable<Integer> {
    private static final long READY_TIMEOUT_MS = 90_000;

    @Spec
    CommandSpec spec;

    @Option(names = "--nodes", defaultValue = "3", description = "How many nodes, 1..9 (default: ${DEFAULT-VALUE}).")
    int nodes;

    @Option(names = "--base-dir", defaultValue = "./ferry-local", description = "Parent of the nodes' data dirs and logs (default: ${DEFAULT-VALUE}).")
    Path baseDir;

    @Option(names = "--base-port", defaultValue = "7500", description = "Node i uses base+10(i-1) for gRPC, +1 HTTP, +2 control, +3 Redis (default: ${DEFAULT-VALUE}).")
    int basePort;

    @Option(names = "--json", description = "Print the nodes as JSON.")
    boolean json;

    @Option(names = "--replication-factor", description = "Replication factor of the test and redis namespaces, 1..9 "
            + "(default: the embedded default, 2). Written to <base-dir>/namespaces.yaml, which every node is started with.")
    Integer replicationFactor;

    @Override
    public Integer call() throws Exception {
        if (nodes < 1 || nodes > 9) {
            throw new IllegalArgumentException("--nodes: must be 1..9, got " + nodes);
        }
        if (basePort < 1024 || basePort + 10 * nodes > 65535) {
            throw new IllegalArgumentException("--base-port: must leave room for " + nodes + " nodes in 1024..65535, got " + basePort);
        }
        int voterCount = nodes >= 5 ? 5 : nodes >= 3 ? 3 : 1;
        List<String> voters = new ArrayList<>();
        for (int i = 1; i <= voterCount; i++) {
            voters.add("n" + i + "@127.0.0.1:" + port(i, 2));
        }
        Files.createDirectories(baseDir);
        Path namespacesConfig = replicationFactor == null ? null : writeNamespaces(baseDir, replicationFactor);
        List<Map<String, Object>> started = new ArrayList<>();
        List<Process> processes = new ArrayList<>();
        for (int i = 1; i <= nodes; i++) {
            Path dir = baseDir.resolve("n" + i).toAbsolutePath().normalize();
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m"));
            cmd.addAll(nodeJavaOptions(i));
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), FerryMain.class.getName(),
                    "server", "--node-id", "n" + i, "--bind", "127.0.0.1", "--port", String.valueOf(port(i, 0)),
                    "--http-port", String.valueOf(port(i, 1)), "--control-port", String.valueOf(port(i, 2)),
                    "--redis-port", String.valueOf(port(i, 3)), "--data-dir", dir.toString(), "--json"));
            if (namespacesConfig != null) {
                cmd.addAll(List.of("--config", namespacesConfig.toString()));
            }
            if (i <= voterCount) {
                cmd.addAll(List.of("--control-voters", String.join(",", voters)));
            } else {
                cmd.addAll(List.of("--seeds", "127.0.0.1:" + port(1, 0)));
            }
            Path out = baseDir.resolve("n" + i + ".out").toAbsolutePath();
            Path log = baseDir.resolve("n" + i + ".log").toAbsolutePath();
            Files.deleteIfExists(out);
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(log.toFile()).start();
            processes.add(p);
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("node_id", "n" + i);
            n.put("pid", p.pid());
            n.put("grpc", "127.0.0.1:" + port(i, 0));
            n.put("http", "127.0.0.1:" + port(i, 1));
            n.put("control", "127.0.0.1:" + port(i, 2));
            n.put("redis", "127.0.0.1:" + port(i, 3));
            n.put("voter", i <= voterCount);
            n.put("data_dir", dir.toString());
            n.put("log", log.toString());
            started.add(n);
            if (i == voterCount) {
                // Non-voters ask node 1 for the voters, so the voters must be up first.
                for (int j = 0; j < voterCount; j++) {
                    awaitReady(processes.get(j), baseDir.resolve("n" + (j + 1) + ".out"), (String) started.get(j).get("log"));
                }
            }
        }
        for (int j = voterCount; j < nodes; j++) {
            awaitReady(processes.get(j), baseDir.resolve("n" + (j + 1) + ".out"), (String) started.get(j).get("log"));
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Output.json(Map.of("nodes", started)));
            return 0;
        }
        out.printf("started %d nodes (%d control-plane voters):%n", nodes, voterCount);
        StringBuilder pids = new StringBuilder();
        for (Map<String, Object> n : started) {
            out.printf("  %-4s pid %-8s grpc %s  http %s  control %s  redis %s  %s  data %s  log %s%n", n.get("node_id"), n.get("pid"),
                    n.get("grpc"), n.get("http"), n.get("control"), n.get("redis"), (Boolean) n.get("voter") ? "voter" : "member", n.get("data_dir"), n.get("log"));
            pids.append(' ').append(n.get("pid"));
        }
        out.printf("reach it:  bin/ferry cluster status --host 127.0.0.1:%d%n", port(1, 0));
        out.printf("stop it:   kill%s%n", pids);
        return 0;
    }

    /** A node config naming only the namespaces (test, and redis as ASYNC), both at replication factor {@code rf}. */
    static Path writeNamespaces(Path baseDir, int rf) throws IOException {
        if (rf < 1 || rf > 9) {
            throw new IllegalArgumentException("--replication-factor: must be 1..9, got " + rf);
        }
        Path file = baseDir.resolve("namespaces.yaml").toAbsolutePath();
        Files.writeString(file, "namespaces:\n"
                + "  - name: test\n    replication-factor: " + rf + "\n"
                + "  - name: redis\n    replication-factor: " + rf + "\n    default-durability: ASYNC\n", StandardCharsets.UTF_8);
        return file;
    }

    /**
     * Extra JVM options for the node processes from {@code FERRY_NODE_JAVA_OPTS} (split on
     * spaces; {@code {node}} becomes the node's id), e.g. a profiler agent per node.
     */
    static List<String> nodeJavaOptions(int node) {
        String opts = System.getenv("FERRY_NODE_JAVA_OPTS");
        List<String> out = new ArrayList<>();
        if (opts != null) {
            for (String o : opts.trim().split("\\s+")) {
                if (!o.isEmpty()) {
                    out.add(o.replace("{node}", "n" + node));
                }
            }
        }
        return out;
    }

    private int port(int node, int offset) {
        return basePort + 10 * (node - 1) + offset;
    }

    private static void awaitReady(Process p, Path out, String log) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MS;
        while (System.currentTimeMillis() < deadline) {
            if (Files.exists(out) && Files.readString(out, StandardCharsets.UTF_8).contains("\"ready\":true")) {
                return;
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("node process " + p.pid() + " exited with " + p.exitValue() + "; see " + log);
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("node process " + p.pid() + " was not ready within " + READY_TIMEOUT_MS + " ms; see " + log);
    }
}
