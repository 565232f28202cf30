package io.ferrydb.cli;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "bench", description = "Load generator: throughput and HdrHistogram p50/p99/p99.9; a progress line per second on stderr, a summary (JSON with --json) on stdout.")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;

    @Option(names = "--namespace", defaultValue = "test")
    String namespace;
    @Option(names = "--set", defaultValue = "bench")
    String set;
    @Option(names = "--threads", defaultValue = "2", description = "Client threads issuing requests (default: ${DEFAULT-VALUE}).")
    int threads;
    @Option(names = "--inflight", defaultValue = "64", description = "Requests in flight in total (default: ${DEFAULT-VALUE}).")
    int inflight;
    @Option(names = "--keys", defaultValue = "100000", description = "Key space size (default: ${DEFAULT-VALUE}).")
    long keys;
    @Option(names = "--distribution", defaultValue = "UNIFORM", description = "UNIFORM, ZIPF or HOT (one hot key taking --hot-key-ratio of the operations, the rest uniform) (default: ${DEFAULT-VALUE}).")
    LoadGenerator.Distribution distribution;
    @Option(names = "--hot-key-ratio", defaultValue = "0", description = "Share of operations on one hot key, 0..1 (default: ${DEFAULT-VALUE}).")
    double hotKeyRatio;
    @Option(names = "--value-size", defaultValue = "100", description = "Bytes per value (default: ${DEFAULT-VALUE}).")
    int valueSize;
    @Option(names = "--read-ratio", defaultValue = "0.5", description = "Share of reads, 0..1 (default: ${DEFAULT-VALUE}).")
    double readRatio;
    @Option(names = "--duration", defaultValue = "PT10S", description = "ISO-8601 duration or seconds, e.g. 30 or PT30S (default: 10s).", converter = DurationConverter.class)
    Duration duration;
    @Option(names = "--warmup", defaultValue = "PT2S", description = "Unmeasured warmup (default: 2s).", converter = DurationConverter.class)
    Duration warmup;
    @Option(names = "--durability", defaultValue = "ASYNC", description = "SYNC or ASYNC (default: ${DEFAULT-VALUE}).")
    Durability durability;
    @Option(names = "--commit-level", description = "MASTER or ALL: whether a write waits for the partition's mirrors (default: the namespace's).")
    CommitLevel commitLevel;
    @Option(names = "--preload", description = "Write every key once before measuring, so reads find records.")
    boolean preload;
    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Override
    public Integer call() throws Exception {
        LoadGenerator.Settings s = new LoadGenerator.Settings(namespace, set, threads, inflight, keys, distribution, hotKeyRatio,
                valueSize, readRatio, duration.toMillis(), warmup.toMillis(), durability, commitLevel, seed);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (FerryClient c = client.connect()) {
            if (preload) {
                LoadGenerator.preload(c, s, line -> {
                    err.println(line);
                    err.flush();
                });
            }
            Map<String, Object> summary = new LoadGenerator(c, s).run(i -> {
                err.printf("[%5.1fs] %,10.0f ops/s  p99 %7.3f ms  errors %d%n", i.elapsedS(), i.opsPerS(), i.p99Ms(), i.errors());
                err.flush();
            });
            if (client.json) {
                out.println(Output.json(summary));
            } else {
                printText(out, summary);
            }
        }
        return 0;
    }

    @SuppressWarnings("unchecked")
    static void printText(PrintWriter out, Map<String, Object> m) {
        out.printf("ops %s in %s s: %,.0f ops/s%n", m.get("ops"), m.get("elapsed_s"), (Double) m.get("ops_per_s"));
        for (String kind : new String[] {"reads", "writes"}) {
            Map<String, Object> l = (Map<String, Object>) m.get(kind);
            out.printf("%-6s %,10.0f ops/s  p50 %s ms  p99 %s ms  p99.9 %s ms  max %s ms%n", kind, (Double) l.get("ops_per_s"),
                    l.get("p50_ms"), l.get("p99_ms"), l.get("p999_ms"), l.get("max_ms"));
        }
        out.println("errors " + m.get("errors"));
    }

    static final class DurationConverter implements picocli.CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String v) {
            try {
                if (v.matches("\\d+")) {
                    return Duration.ofSeconds(Long.parseLong(v));
                }
                if (v.matches("\\d+(ms|s|m)")) {
                    long n = Long.parseLong(v.replaceAll("\\D", ""));
                    return v.endsWith("ms") ? Duration.ofMillis(n) : v.endsWith("s") ? Duration.ofSeconds(n) : Duration.ofMinutes(n);
                }
                return Duration.parse(v);
            } catch (RuntimeException e) {
                throw new picocli.CommandLine.TypeConversionException("'" + v + "' is not a duration (e.g. 30, 30s, 500ms, PT30S)");
            }
        }
    }
}
