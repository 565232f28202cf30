package io.ferrydb.cli;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.WriteResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "put", description = "Write bins to a record: ferry put NS SET KEY bin=value...")
final class PutCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;
    @Mixin
    KeyArgs keyArgs;

    @Parameters(index = "3..*", arity = "1..*", paramLabel = "BIN=VALUE",
            description = "Bins; values are JSON when they parse as JSON, else strings; prefixes str: int: float: bool: base64: force a type.")
    List<String> bins;

    @Option(names = "--durability", description = "SYNC or ASYNC (default: namespace default).")
    Durability durability;

    @Option(names = "--commit-level", description = "MASTER or ALL (default: namespace default).")
    CommitLevel commitLevel;

    @Option(names = "--exists", defaultValue = "UPSERT", description = "UPSERT, CREATE_ONLY, UPDATE_ONLY, REPLACE, REPLACE_ONLY (default: ${DEFAULT-VALUE}).")
    RecordExistsAction exists;

    @Option(names = "--generation", defaultValue = "0", description = "Expected generation (0: no check).")
    int generation;

    @Option(names = "--ttl", defaultValue = "0", description = "TTL seconds: 0 namespace default, -1 never, -2 keep current.")
    long ttl;

    @Override
    public Integer call() {
        WritePolicy policy = new WritePolicy(exists, generation, durability, commitLevel, ttl);
        try (FerryClient c = client.connect()) {
            WriteResult r = c.put(policy, keyArgs.toKey(), ValueParser.bins(bins));
            if (client.json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("ok", true);
                m.put("generation", r.generation());
                m.put("epoch", r.epoch());
                m.put("lsn", r.lsn());
                m.put("hlc", r.hlc());
                spec.commandLine().getOut().println(Output.json(m));
            } else {
                spec.commandLine().getOut().printf("ok generation=%d epoch=%d lsn=%d%n", r.generation(), r.epoch(), r.lsn());
            }
        }
        return 0;
    }
}
