package io.ferrydb.cli;

import io.ferrydb.api.Record;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.ScanListener;
import io.ferrydb.client.ScanOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "scan", description = "Stream the records of a namespace or set; progress goes to stderr.")
final class ScanCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;

    @Parameters(index = "0", paramLabel = "NS")
    String namespace;

    @Parameters(index = "1", arity = "0..1", paramLabel = "SET", description = "Only this set (default: every set).")
    String set;

    @Option(names = "--partitions", defaultValue = "0-4096", description = "Partition range BEGIN-END, end exclusive (default: ${DEFAULT-VALUE}).")
    String partitions;

    @Option(names = "--bins", split = ",", description = "Only these bins.")
    List<String> bins = List.of();

    @Option(names = "--max", defaultValue = "0", description = "Stop after this many records (0: all).")
    long max;

    @Option(names = "--quiet", description = "No progress lines.")
    boolean quiet;

    @Override
    public Integer call() {
        String[] range = partitions.split("-");
        if (range.length != 2) {
            throw io.ferrydb.api.FerryException.invalid("--partitions must be BEGIN-END, got '%s'", partitions);
        }
        int begin;
        int end;
        try {
            begin = Integer.parseInt(range[0].trim());
            end = Integer.parseInt(range[1].trim());
        } catch (NumberFormatException e) {
            throw io.ferrydb.api.FerryException.invalid("--partitions must be BEGIN-END, got '%s'", partitions);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long startNs = System.nanoTime();
        try (FerryClient c = client.connect()) {
            long n = c.scan(ScanOptions.of(namespace, set).partitions(begin, end).bins(bins).maxRecords(max), new ScanListener() {
                @Override
                public boolean onRecord(Record r) {
                    out.println(client.json ? Output.json(Output.record(r)) : Output.text(r));
                    return true;
                }

                @Override
                public void onProgress(int done, int total, long sent) {
                    if (!quiet) {
                        err.printf("scan: %d/%d partitions, %d records%n", done, total, sent);
                        err.flush();
                    }
                }
            });
            out.flush();
            if (!quiet) {
                Map<String, Object> summary = new LinkedHashMap<>();
                summary.put("records", n);
                summary.put("elapsed_ms", (System.nanoTime() - startNs) / 1_000_000);
                err.println(client.json ? Output.json(summary) : "scan done: " + n + " records");
            }
        }
        return 0;
    }
}
