package io.ferrydb.cli;

import io.ferrydb.api.Record;
import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "get", description = "Read a record: ferry get NS SET KEY [--bins a,b]. Exit code 3 when it does not exist.")
final class GetCommand implements Callable<Integer> {
    static final int EXIT_NOT_FOUND = 3;

    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;
    @Mixin
    KeyArgs keyArgs;

    @Option(names = "--bins", split = ",", description = "Only these bins.")
    List<String> bins = List.of();

    @Override
    public Integer call() {
        try (FerryClient c = client.connect()) {
            Record r = c.get(keyArgs.toKey(), bins.toArray(new String[0]));
            if (r == null) {
                if (client.json) {
                    spec.commandLine().getOut().println(Output.json(Map.of("found", false)));
                } else {
                    spec.commandLine().getOut().println("not found");
                }
                return EXIT_NOT_FOUND;
            }
            spec.commandLine().getOut().println(client.json ? Output.json(Output.record(r)) : Output.text(r));
        }
        return 0;
    }
}
