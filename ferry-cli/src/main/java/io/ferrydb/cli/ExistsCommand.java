package io.ferrydb.cli;

import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "exists", description = "Whether a record exists: prints true or false.")
final class ExistsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;
    @Mixin
    KeyArgs keyArgs;

    @Override
    public Integer call() {
        try (FerryClient c = client.connect()) {
            boolean e = c.exists(keyArgs.toKey());
            spec.commandLine().getOut().println(client.json ? Output.json(Map.of("exists", e)) : String.valueOf(e));
        }
        return 0;
    }
}
