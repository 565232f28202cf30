package io.ferrydb.redis;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.server.FerryNode;
import io.ferrydb.server.config.RedisYaml;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

/**
 * The Redis protocol endpoint of a node: a Netty server speaking RESP2 (RESP3 after
 * {@code HELLO 3}) on its own port, mapping Redis strings and hashes onto records of
 * one namespace (SELECT n → set {@code db<n>}). Keys whose partitions this node
 * masters are served in place through the node's request path; the others are
 * forwarded to their master with the routing client. Lifecycle: {@link #start} binds
 * and serves; {@link #close} stops accepting, closes connections and the forwarding
 * client. Close it before the node.
 */
public final class RedisEndpoint implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RedisEndpoint.class);

    static {
        // Requests this endpoint forwards to other nodes in one event-loop pass leave as one message.
        io.ferrydb.proto.LoopFlush.addLoopSource(io.netty.util.internal.ThreadExecutorMap::currentExecutor);
    }
    /** Scans (SCAN, DBSIZE, INFO keyspace, FLUSHDB) waiting for the scan threads. */
    static final int SCAN_QUEUE_CAPACITY = 1024;

    private final FerryNode node;
    private final RedisYaml settings;
    private final NamespaceConfig namespace;
    private final RedisMetrics metrics;
    private final Commands commands;
    private final Keyspace keyspace;
    private final InfoReport info;
    private final ExecutorService scans;
    private final Map<Long, RedisConnection> connections = new ConcurrentHashMap<>();
    private final Map<io.netty.channel.EventLoop, LoopBatch> batches = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicReference<FerryClient> forwarder = new AtomicReference<>();
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private Channel server;
    private int port;

    private RedisEndpoint(FerryNode node) {
        this.node = node;
        this.settings = node.config().redis;
        this.namespace = node.store().namespace("redis.namespace", settings.namespace);
        this.metrics = new RedisMetrics(node.registry());
        this.scans = new ThreadPoolExecutor(1, 2, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(SCAN_QUEUE_CAPACITY),
                new DefaultThreadFactory("ferry-redis-scan", true));
        this.keyspace = new Keyspace(node.requestHandler(), node.writePipeline(),
                (ns, p) -> node.cluster() != null && node.cluster().mastering(ns, p), namespace, this::forwarder, scans, metrics);
        this.commands = new Commands(metrics, settings.password);
        new DataCommands(keyspace, System::currentTimeMillis).register(commands);
        new ServerCommands(this, keyspace).register(commands);
        new CollectionCommands(keyspace).register(commands);
        new Transactions(commands).register(commands);
        this.info = new InfoReport(this, node, keyspace);
    }

    /** Starts the endpoint of a running node on {@code node.config().redis} (its port, namespace and policy). */
    public static RedisEndpoint start(FerryNode node) {
        RedisEndpoint e = new RedisEndpoint(node);
        try {
            e.bind();
        } catch (RuntimeException ex) {
            e.close();
            throw ex;
        }
        return e;
    }

    private void bind() {
        boolean epoll = Epoll.isAvailable();
        boss = epoll ? new EpollEventLoopGroup(1, new DefaultThreadFactory("ferry-redis-accept", true))
                : new NioEventLoopGroup(1, new DefaultThreadFactory("ferry-redis-accept", true));
        workers = epoll ? new EpollEventLoopGroup(settings.ioThreads, new DefaultThreadFactory("ferry-redis-io", true))
                : new NioEventLoopGroup(settings.ioThreads, new DefaultThreadFactory("ferry-redis-io", true));
        Class<? extends ServerChannel> channel = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        try {
            server = new ServerBootstrap().group(boss, workers).channel(channel)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new RespDecoder(), new RedisConnection(RedisEndpoint.this, ids.incrementAndGet()));
                        }
                    })
                    .bind(new InetSocketAddress(node.config().host, settings.port)).sync().channel();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while binding the Redis port", e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot bind Redis endpoint " + node.config().host + ":" + settings.port + " (redis.port): " + e.getMessage(), e);
        }
        port = ((InetSocketAddress) server.localAddress()).getPort();
        LOG.info("node {} serving Redis protocol on {}:{} (namespace {}, {})", node.config().nodeId, node.config().host, port,
                namespace.name(), epoll ? "epoll" : "nio");
    }

    public int port() {
        return port;
    }

    String host() {
        return node.config().host;
    }

    RedisYaml settings() {
        return settings;
    }

    NamespaceConfig namespaceConfig() {
        return namespace;
    }

    Keyspace keyspace() {
        return keyspace;
    }

    /** The batch of the given event loop (one per loop, used only on it). */
    LoopBatch batch(io.netty.channel.EventLoop loop) {
        return batches.computeIfAbsent(loop, l -> new LoopBatch(l, keyspace));
    }

    Commands commands() {
        return commands;
    }

    RedisMetrics metrics() {
        return metrics;
    }

    InfoReport info() {
        return info;
    }

    ExecutorService scanExecutor() {
        return scans;
    }

    Collection<RedisConnection> connections() {
        return connections.values();
    }

    void opened(RedisConnection c) {
        connections.put(c.id, c);
        metrics.connections.incrementAndGet();
        metrics.connectionsTotal.increment();
    }

    void closed(RedisConnection c) {
        if (connections.remove(c.id) != null) {
            metrics.connections.decrementAndGet();
        }
    }

    /** The routing client that forwards to other masters, connected on first use. */
    private FerryClient forwarder() {
        FerryClient c = forwarder.get();
        if (c == null) {
            synchronized (forwarder) {
                c = forwarder.get();
                if (c == null) {
                    c = FerryClient.connect(ClientConfig.of(node.config().host + ":" + node.grpcPort()));
                    forwarder.set(c);
                }
            }
        }
        return c;
    }

    /** Runs {@code done} every millisecond on an event loop until it returns true. */
    void poll(BooleanSupplier done) {
        AtomicReference<ScheduledFuture<?>> task = new AtomicReference<>();
        task.set(workers.next().scheduleAtFixedRate(() -> {
            if (done.getAsBoolean() && task.get() != null) {
                task.get().cancel(false);
            }
        }, 1, 1, TimeUnit.MILLISECONDS));
    }

    /**
     * How many mirrors hold every write this connection made, from their acknowledged
     * LSNs (partitions mastered here) or the commit level the write was acknowledged at
     * (forwarded writes: ALL means every mirror of the partition had it).
     */
    int replicasHolding(RedisConnection c) {
        ClusterView view = node.cluster() == null ? ClusterView.EMPTY : node.cluster().view();
        String ns = namespace.name();
        int least = Integer.MAX_VALUE;
        for (Map.Entry<Integer, Long> w : c.localWrites.entrySet()) {
            int n = 0;
            for (AckTriplet t : node.replication().holdings(ns, w.getKey()).values()) {
                if (t.receivedLsn() >= w.getValue()) {
                    n++;
                }
            }
            least = Math.min(least, n);
        }
        for (Map.Entry<Integer, CommitLevel> w : c.remoteWrites.entrySet()) {
            PartitionEntry e = view.entry(ns, w.getKey());
            least = Math.min(least, w.getValue() == CommitLevel.ALL ? e.mirrors().size() : 0);
        }
        if (least == Integer.MAX_VALUE) {
            // No writes yet: every mirror holds all of them.
            long alive = view.members().values().stream().filter(m -> m.liveness() == io.ferrydb.core.cluster.Liveness.ALIVE).count();
            least = (int) Math.max(0, Math.min(alive, namespace.replicationFactor()) - 1);
        }
        return least;
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        if (workers != null) {
            workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        if (boss != null) {
            boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        scans.shutdownNow();
        FerryClient c = forwarder.getAndSet(null);
        if (c != null) {
            c.close();
        }
    }
}
