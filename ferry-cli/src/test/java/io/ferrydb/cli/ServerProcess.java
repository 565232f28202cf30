package io.ferrydb.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A FerryDB node in its own JVM, started exactly as an operator would
 * ({@code FerryMain server ... --json}), so tests can kill it with SIGKILL or stop it
 * with SIGTERM and restart it on the same data directory and ports.
 *
 * <p>Lifecycle: {@link #start} → RUNNING → {@link #kill9()} / {@link #terminate()} →
 * STOPPED → {@link #restart()} → RUNNING ... → {@link #close()} (idempotent, always
 * SIGKILLs a live process so a failing test leaks nothing).
 *
 * <p>stderr (the slf4j-simple log) is appended to {@code <dataDir's parent>/<nodeId>.log};
 * each start writes a marker line first, so {@link #logOfCurrentRun()} is the log of
 * the latest process only.
 */
final class ServerProcess implements AutoCloseable {
    static final long READY_TIMEOUT_MS = 30_000;
    static final long EXIT_TIMEOUT_MS = 15_000;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RUN_MARKER = "=== ServerProcess start #";
    /** Every process started, so a test JVM that dies early still kills its nodes. */
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-server-processes"));
    }

    private final String nodeId;
    private final Path dataDir;
    private final Path logFile;
    private List<String> extraArgs;
    private int grpcPort;
    private int httpPort;
    private int controlPort;
    private int starts;
    private long readyTimeoutMs = READY_TIMEOUT_MS;
    private Process process;
    private final List<String> stdoutLines = new ArrayList<>();

    private ServerProcess(String nodeId, Path dataDir, List<String> extraArgs) {
        this.nodeId = nodeId;
        this.dataDir = dataDir.toAbsolutePath();
        this.logFile = this.dataDir.getParent().resolve(nodeId + ".log");
        this.extraArgs = List.copyOf(extraArgs);
    }

    /** Starts a node on fresh free ports; retries once with new ports if a port was taken meanwhile. */
    static ServerProcess start(String nodeId, Path dataDir, String... extraArgs) {
        ServerProcess s = new ServerProcess(nodeId, dataDir, List.of(extraArgs));
        for (int attempt = 1; ; attempt++) {
            s.grpcPort = freePort();
            s.httpPort = freePort();
            s.controlPort = freePort();
            try {
                s.launch();
                return s;
            } catch (AssertionError e) {
                s.close();
                boolean portRace = s.logOfCurrentRun().contains("cannot bind");
                if (attempt >= 2 || !portRace) {
                    throw e;
                }
            }
        }
    }

    /**
     * A node with its ports chosen but not started: cluster tests need every voter's
     * control port before any voter starts, and start the voters in parallel.
     */
    static ServerProcess prepare(String nodeId, Path dataDir) {
        ServerProcess s = new ServerProcess(nodeId, dataDir, List.of());
        s.grpcPort = freePort();
        s.httpPort = freePort();
        s.controlPort = freePort();
        return s;
    }

    /** Starts a prepared node with these extra arguments (kept for restarts); waits until it is ready. */
    void launch(List<String> args, long readyTimeoutMs) {
        this.extraArgs = List.copyOf(args);
        this.readyTimeoutMs = readyTimeoutMs;
        launch();
    }

    String nodeId() {
        return nodeId;
    }

    String controlAddress() {
        return "127.0.0.1:" + controlPort;
    }

    /** A port that was free a moment ago (bind port 0 on loopback, read it, close). */
    /** Ports handed out in this JVM: the kernel may offer a just-closed port again (one run got the same port for gRPC and HTTP). */
    private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static int freePort() {
        for (int attempt = 0; ; attempt++) {
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
                int port = s.getLocalPort();
                if (HANDED_OUT.add(port) || attempt >= 100) {
                    return port;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Starts the node again on the same data directory and ports. */
    void restart() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("node " + nodeId + " is still running (pid " + process.pid() + ")");
        }
        launch();
    }

    private void launch() {
        starts++;
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx384m");
        cmd.add("-XX:+UseSerialGC");
        // C1 only: test nodes need no peak speed, and five JVMs compiling with C2 at once starve a 2-core machine.
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
        cmd.add("-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(FerryMain.class.getName());
        int argsFrom = cmd.size();
        cmd.addAll(List.of("server", "--node-id", nodeId, "--bind", "127.0.0.1", "--port", String.valueOf(grpcPort),
                "--http-port", String.valueOf(httpPort), "--control-port", String.valueOf(controlPort),
                "--data-dir", dataDir.toString(), "--json"));
        if (!extraArgs.contains("--redis-port")) {
            // Without --config a node serves Redis on 6379; tests that want it pass their own port.
            cmd.addAll(List.of("--redis-port", "-1"));
        }
        cmd.addAll(extraArgs);
        try {
            Files.writeString(logFile, RUN_MARKER + starts + " " + String.join(" ", cmd.subList(argsFrom, cmd.size())) + "\n",
                    StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            process = new ProcessBuilder(cmd)
                    .redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.PIPE)
                    .start();
            LIVE.add(process);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + cmd, e);
        }
        CompletableFuture<JsonNode> ready = new CompletableFuture<>();
        Process p = process;
        Thread reader = new Thread(() -> readStdout(p, ready), "server-stdout-" + nodeId + "-" + starts);
        reader.setDaemon(true);
        reader.start();
        JsonNode line;
        try {
            line = ready.get(readyTimeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("node " + nodeId + " printed no ready line within " + readyTimeoutMs + " ms; log:\n" + logOfCurrentRun());
        } catch (ExecutionException e) {
            throw new AssertionError("node " + nodeId + " exited before it was ready (" + e.getCause().getMessage() + "); log:\n"
                    + logOfCurrentRun());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting for node " + nodeId);
        }
        String expectedGrpc = "127.0.0.1:" + grpcPort;
        if (!expectedGrpc.equals(line.path("grpc").asText()) || !("127.0.0.1:" + httpPort).equals(line.path("http").asText())
                || !nodeId.equals(line.path("node_id").asText())) {
            throw new AssertionError("ready line does not match the requested node/ports " + expectedGrpc + "/" + httpPort + ": " + line);
        }
    }

    private void readStdout(Process p, CompletableFuture<JsonNode> ready) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                synchronized (stdoutLines) {
                    stdoutLines.add(line);
                }
                if (!ready.isDone() && line.startsWith("{")) {
                    try {
                        JsonNode n = JSON.readTree(line);
                        if (n.path("ready").asBoolean(false)) {
                            ready.complete(n);
                        }
                    } catch (IOException notJson) {
                        // keep reading; only the ready line matters
                    }
                }
            }
        } catch (IOException e) {
            // the process died; handled below
        }
        if (!ready.isDone()) {
            int exit;
            try {
                exit = p.waitFor();
            } catch (InterruptedException e) {
                exit = -1;
            }
            ready.completeExceptionally(new IllegalStateException("stdout closed, exit code " + exit));
        }
    }

    String hostPort() {
        return "127.0.0.1:" + grpcPort;
    }

    int grpcPort() {
        return grpcPort;
    }

    int httpPort() {
        return httpPort;
    }

    Path dataDir() {
        return dataDir;
    }

    Path logFile() {
        return logFile;
    }

    boolean isAlive() {
        return process != null && process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    /** SIGKILL (destroyForcibly on Linux) and wait until the process is gone. Returns its exit code (137). */
    int kill9() {
        process.destroyForcibly();
        return awaitExit("SIGKILL");
    }

    /** SIGTERM (destroy on Linux), wait for the exit and return its code (0 or 143 for a graceful stop). */
    int terminate() {
        return terminate(EXIT_TIMEOUT_MS);
    }

    int terminate(long timeoutMs) {
        process.destroy();
        try {
            if (!process.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                awaitExit("SIGKILL after SIGTERM timeout");
                throw new AssertionError("node " + nodeId + " did not exit within " + timeoutMs + " ms of SIGTERM; log:\n" + logOfCurrentRun());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
        return process.exitValue();
    }

    private int awaitExit(String what) {
        try {
            if (!process.waitFor(EXIT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                throw new AssertionError("node " + nodeId + " still alive " + EXIT_TIMEOUT_MS + " ms after " + what);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
        return process.exitValue();
    }

    /** The whole log file (every run). */
    String log() {
        try {
            return Files.exists(logFile) ? Files.readString(logFile, StandardCharsets.UTF_8) : "(no log file " + logFile + ")";
        } catch (IOException e) {
            return "(cannot read " + logFile + ": " + e + ")";
        }
    }

    /** The log of the latest start only. */
    String logOfCurrentRun() {
        String all = log();
        int i = all.lastIndexOf(RUN_MARKER);
        return i < 0 ? all : all.substring(i);
    }

    List<String> stdoutLines() {
        synchronized (stdoutLines) {
            return List.copyOf(stdoutLines);
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(EXIT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public String toString() {
        return "node " + nodeId + " at " + hostPort() + " (http " + httpPort + ", data " + dataDir + ")";
    }
}
