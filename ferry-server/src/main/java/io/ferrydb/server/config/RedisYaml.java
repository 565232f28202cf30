package io.ferrydb.server.config;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Names;

/**
 * The Redis protocol endpoint ({@code redis:} in the node's YAML). Off in a config
 * file unless enabled there; {@code ferry server} without {@code --config} and
 * {@code ferry demo} turn it on. Served by the {@code ferry-redis} module.
 */
public final class RedisYaml {
    public static final int DEFAULT_PORT = 6379;

    public boolean enabled = false;
    /** 0 picks a free port. */
    public int port = DEFAULT_PORT;
    /** Namespace holding the keys; SELECT n uses set db&lt;n&gt;. Created with ASYNC/ALL defaults when not configured. */
    public String namespace = "redis";
    /** Empty: no AUTH needed. */
    public String password = "";
    /** Initial durability of a connection's writes; null: the namespace default. */
    public Durability durability = null;
    /** Initial commit level of a connection's writes; null: the namespace default. */
    public CommitLevel commitLevel = null;
    /** FLUSHDB deletes every key of the selected db only when this is true. */
    public boolean flushdbEnabled = false;
    /** Netty event-loop threads serving connections. */
    public int ioThreads = 2;
    /** Databases SELECT accepts (0..databases-1), like Redis's {@code databases}. */
    public int databases = 16;
    /** Commands read ahead of unanswered ones on a connection before it stops reading (pipelining bound). */
    public int maxPipelined = 1024;

    void validate() {
        require(port >= 0 && port <= 65535, "redis.port must be 0..65535, got %d", port);
        try {
            Names.checkNamespace("redis.namespace", namespace);
        } catch (FerryException e) {
            throw FerryException.invalid("config: %s", e.reason());
        }
        require(password != null, "redis.password must be a string (empty: no AUTH)");
        require(ioThreads >= 1 && ioThreads <= 64, "redis.io-threads must be 1..64, got %d", ioThreads);
        require(databases >= 1 && databases <= 1024, "redis.databases must be 1..1024, got %d", databases);
        require(maxPipelined >= 1, "redis.max-pipelined must be >= 1, got %d", maxPipelined);
    }

    private static void require(boolean ok, String format, Object... args) {
        if (!ok) {
            throw FerryException.invalid("config: " + format, args);
        }
    }
}
