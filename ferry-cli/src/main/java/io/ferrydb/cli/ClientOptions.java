package io.ferrydb.cli;

import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Option;

/** Options every client command shares. */
final class ClientOptions {
    @Option(names = "--host", defaultValue = "127.0.0.1:7400", description = "Node to talk to, HOST:PORT (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--json", description = "Print machine-readable JSON.")
    boolean json;

    @Option(names = "--timeout-ms", defaultValue = "10000", description = "Request timeout (default: ${DEFAULT-VALUE}).")
    long timeoutMs;

    @Option(names = "--connections", defaultValue = "1", description = "Connections to the node; keys are spread over them by partition (default: ${DEFAULT-VALUE}).")
    int connections;

    @Option(names = "--requests-per-message", defaultValue = "16", description = "Most pipelined requests in one message (default: ${DEFAULT-VALUE}).")
    int requestsPerMessage;

    FerryClient connect() {
        return FerryClient.connect(ClientConfig.of(host).withRequestTimeoutMs(timeoutMs).withConnections(connections)
                .withMaxRequestsPerMessage(requestsPerMessage));
    }
}
