package io.ferrydb.cli;

import io.ferrydb.api.FerryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code ferry} command line. */
@Command(name = "ferry", mixinStandardHelpOptions = true, version = "FerryDB " + io.ferrydb.server.FerryNode.VERSION,
        description = "FerryDB: a distributed record database whose core is replication.",
        subcommands = {ServerCommand.class, PutCommand.class, GetCommand.class, DeleteCommand.class, ExistsCommand.class,
                ScanCommand.class, InfoCommand.class, BenchCommand.class, DemoCommand.class, ClusterCommand.class, NodeCommand.class, LossesCommand.class, LoadCommand.class,
                CommandLine.HelpCommand.class})
public final class FerryMain {

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs a command with the given output streams; returns the exit code. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cmd = new CommandLine(new FerryMain());
        cmd.setOut(out);
        cmd.setErr(err);
        cmd.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            Throwable t = ex;
            while (t.getCause() != null && !(t instanceof FerryException)) {
                t = t.getCause();
            }
            CommandLine.ParseResult deepest = parseResult;
            while (deepest.subcommand() != null) {
                deepest = deepest.subcommand();
            }
            boolean json = deepest.hasMatchedOption("--json");
            if (t instanceof FerryException fe) {
                Output.error(commandLine.getOut(), commandLine.getErr(), json, fe.code().name(), fe.reason());
            } else {
                Output.error(commandLine.getOut(), commandLine.getErr(), json, "ERROR", String.valueOf(ex.getMessage() != null ? ex.getMessage() : ex));
            }
            return 1;
        });
        return cmd.execute(args);
    }
}
