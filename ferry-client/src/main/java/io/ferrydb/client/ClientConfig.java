package io.ferrydb.client;

import io.ferrydb.api.FerryException;

/**
 * Client settings.
 *
 * @param requestTimeoutMs deadline for every call
 * @param maxRequestsPerMessage how many pipelined requests share one message at most
 * @param connections connections to the node; keys are spread over them by partition
 *                    (so operations on one key stay in order), and the server serves each
 *                    connection on its own transport thread
 */
public record ClientConfig(String host, int port, long requestTimeoutMs, int maxRequestsPerMessage, int connections,
                           int maxRetries) {
    public static final int DEFAULT_CONNECTIONS = 1;
    /**
     * Retries of one call after a routing refusal (NOT_MASTER, always safe: the request
     * was not executed) or, for reads, after the node could not be reached. Each retry
     * first refreshes the partition map; all of them stay within the request timeout.
     * 20 retries wait about 1.75 s in all (see the backoff in GrpcFerryClient).
     */
    public static final int DEFAULT_MAX_RETRIES = 20;

    public ClientConfig(String host, int port, long requestTimeoutMs, int maxRequestsPerMessage, int connections) {
        this(host, port, requestTimeoutMs, maxRequestsPerMessage, connections, DEFAULT_MAX_RETRIES);
    }
    /**
     * Small enough that several messages are in flight at 64 outstanding requests, so
     * the server's transport and storage stages (and the client) work at the same time.
     */
    public static final int DEFAULT_REQUESTS_PER_MESSAGE = 16;

    public ClientConfig(String host, int port, long requestTimeoutMs, int maxRequestsPerMessage) {
        this(host, port, requestTimeoutMs, maxRequestsPerMessage, DEFAULT_CONNECTIONS);
    }

    public static final int DEFAULT_PORT = 7400;

    public ClientConfig {
        if (host == null || host.isBlank()) {
            throw FerryException.invalid("host must not be empty");
        }
        if (port < 1 || port > 65535) {
            throw FerryException.invalid("port must be 1..65535, got %d", port);
        }
        if (requestTimeoutMs < 1) {
            throw FerryException.invalid("requestTimeoutMs must be >= 1, got %d", requestTimeoutMs);
        }
        if (maxRequestsPerMessage < 1) {
            throw FerryException.invalid("maxRequestsPerMessage must be >= 1, got %d", maxRequestsPerMessage);
        }
        if (connections < 1 || connections > 64) {
            throw FerryException.invalid("connections must be 1..64, got %d", connections);
        }
        if (maxRetries < 0 || maxRetries > 100) {
            throw FerryException.invalid("maxRetries must be 0..100, got %d", maxRetries);
        }
    }

    /** Parses {@code HOST:PORT} (or {@code HOST}, default port 7400). */
    public static ClientConfig of(String hostPort) {
        if (hostPort == null || hostPort.isBlank()) {
            throw FerryException.invalid("--host must be HOST:PORT, got an empty value");
        }
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) {
            return new ClientConfig(hostPort, DEFAULT_PORT, 10_000, DEFAULT_REQUESTS_PER_MESSAGE);
        }
        String host = hostPort.substring(0, colon);
        try {
            return new ClientConfig(host, Integer.parseInt(hostPort.substring(colon + 1)), 10_000, DEFAULT_REQUESTS_PER_MESSAGE);
        } catch (NumberFormatException e) {
            throw FerryException.invalid("--host must be HOST:PORT, got '%s'", hostPort);
        }
    }

    public ClientConfig withRequestTimeoutMs(long ms) {
        return new ClientConfig(host, port, ms, maxRequestsPerMessage, connections, maxRetries);
    }

    public ClientConfig withMaxRequestsPerMessage(int n) {
        return new ClientConfig(host, port, requestTimeoutMs, n, connections, maxRetries);
    }

    public ClientConfig withConnections(int n) {
        return new ClientConfig(host, port, requestTimeoutMs, maxRequestsPerMessage, n, maxRetries);
    }

    public ClientConfig withMaxRetries(int n) {
        return new ClientConfig(host, port, requestTimeoutMs, maxRequestsPerMessage, connections, n);
    }

    /** host:port of the seed node. */
    public String address() {
        return host + ":" + port;
    }
}
