package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "delete", description = "Delete a record (leaves a tombstone): ferry delete NS SET KEY. Exit code 3 when it did not exist.")
final class DeleteCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;
    @Mixin
    KeyArgs keyArgs;

    @Option(names = "--durability", description = "SYNC or ASYNC (default: namespace default).")
    Durability durability;

    @Option(names = "--generation", defaultValue = "0", description = "Expected generation (0: no check).")
    int generation;

    @Override
    public Integer call() {
        try (FerryClient c = client.connect()) {
            boolean existed = c.delete(WritePolicy.DEFAULT.withDurability(durability).withExpectedGeneration(generation), keyArgs.toKey());
            spec.commandLine().getOut().println(client.json ? Output.json(Map.of("deleted", existed)) : existed ? "deleted" : "not found");
            return existed ? 0 : GetCommand.EXIT_NOT_FOUND;
        }
    }
}
