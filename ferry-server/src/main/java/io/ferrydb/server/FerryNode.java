package io.ferrydb.server;

import io.ferrydb.api.Limits;
import io.ferrydb.core.Verify;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.storage.CachedStorage;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.InfoResponse;
import io.ferrydb.proto.NamespaceInfo;
import io.ferrydb.server.admin.AdminHttpServer;
import io.ferrydb.server.cluster.ClusterGrpcService;
import io.ferrydb.server.cluster.NodeCluster;
import io.ferrydb.server.mirror.MirrorReceiver;
import io.ferrydb.server.mirror.Replication;
import io.ferrydb.core.mirror.MirrorPartition;
import io.ferrydb.core.mirror.PartitionReplicator;
import io.ferrydb.server.config.NodeConfig;
import io.ferrydb.server.maintenance.Purger;
import io.ferrydb.server.service.FerryGrpcService;
import io.ferrydb.server.service.RequestHandler;
import io.ferrydb.server.service.RequestMetrics;
import io.ferrydb.server.service.WritePipeline;
import io.ferrydb.server.storage.GroupCommitter;
import io.ferrydb.server.storage.RocksStorage;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One FerryDB node process: RocksDB storage, the record store, group commit, the gRPC
 * service, the admin HTTP port and background purging, started and stopped in that
 * order and its reverse. Lifecycle: NEW → STARTING → RUNNING → STOPPING → STOPPED.
 */
public final class FerryNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FerryNode.class);
    public static final String VERSION = "0.1.0";

    public enum State {
        NEW, STARTING, RUNNING, STOPPING, STOPPED;

        State to(State next) {
            boolean legal = switch (this) {
                case NEW -> next == STARTING;
                case STARTING -> next == RUNNING || next == STOPPING;
                case RUNNING -> next == STOPPING;
                case STOPPING -> next == STOPPED;
                case STOPPED -> false;
            };
            Verify.that(legal, "illegal node state transition %s -> %s", this, next);
            return next;
        }
    }

    private final NodeConfig config;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final long startedAtMs = System.currentTimeMillis();
    private volatile State state = State.NEW;
    private RocksStorage storage;
    /** In front of {@link #storage} for everything the record store does; null when configured off. */
    private CachedStorage recordCache;
    private RecordStore store;
    private GroupCommitter committer;
    private Purger purger;
    private MirrorReceiver mirrorReceiver;
    private Replication replication;
    /** Mirroring: a mirror's cache capacity and flush age, the master's batch and resend buffer sizes, its resend timer. */
    static final int MIRROR_CACHE_ENTRIES = 1024;
    static final long MIRROR_FLUSH_MS = 10;
    static final int MIRROR_BATCH_ENTRIES = 256;
    static final int MIRROR_BUFFER_ENTRIES = 65_536;
    static final long MIRROR_RESEND_MS = 200;
    private Server grpc;
    private FerryGrpcService service;
    private AdminHttpServer admin;
    private ExecutorService scanExecutor;
    private WritePipeline writePipeline;
    private volatile NodeCluster cluster;
    private RequestHandler handler;

    private FerryNode(NodeConfig config) {
        this.config = config.validate();
    }

    public static FerryNode start(NodeConfig config) {
        FerryNode node = new FerryNode(config);
        try {
            node.doStart();
        } catch (RuntimeException e) {
            node.close();
            throw e;
        }
        return node;
    }

    private synchronized void doStart() {
        state = state.to(State.STARTING);
        registry.config().commonTags("node", config.nodeId);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);

        Path dataDir = Path.of(config.dataDir).toAbsolutePath().normalize();
        LOG.info("node {} opening data dir {}", config.nodeId, dataDir);
        storage = new RocksStorage(dataDir.resolve("rocksdb"), config.blockCacheBytes);
        recordCache = config.recordCacheBytes > 0 ? new CachedStorage(storage, config.recordCacheBytes) : null;
        long t0 = System.nanoTime();
        store = RecordStore.open(recordCache != null ? recordCache : storage, SystemClock.INSTANCE, new HybridLogicalClock(SystemClock.INSTANCE),
                config.namespaceConfigs(), n -> LOG.info("recovery: scanned {} log entries", n));
        LOG.info("recovered {} namespaces in {} ms", store.namespaces().size(), (System.nanoTime() - t0) / 1_000_000);
        committer = new GroupCommitter(storage, config.asyncFlushMs, config.maxPendingSyncs, registry);
        purger = new Purger(store, config.purgeIntervalMs, registry);
        bindStoreMetrics();

        RequestMetrics requestMetrics = new RequestMetrics(registry);
        AtomicInteger scanThreads = new AtomicInteger();
        scanExecutor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "ferry-scan-" + scanThreads.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        writePipeline = new WritePipeline(config.storageThreads, config.writeQueueCapacity, registry);
        handler = new RequestHandler(store, committer);
        mirrorReceiver = new MirrorReceiver(config.nodeId, store, committer, new MirrorPartition.Config(MIRROR_CACHE_ENTRIES, MIRROR_FLUSH_MS),
                new io.ferrydb.server.mirror.LossReporter(registry), registry);
        replication = new Replication(config.nodeId, store, new PartitionReplicator.Config(MIRROR_BATCH_ENTRIES, MIRROR_BUFFER_ENTRIES,
                MIRROR_RESEND_MS), config.forcedResyncPath(), config.syncRateBytesPerSecond, config.changeTrackingMaxKeys, registry);
        handler.replication(replication);
        handler.onBulkLoad((ns, partitions, lsns, records) -> {
            NodeCluster c = cluster;
            if (c != null) {
                c.controlPlane().submit(new io.ferrydb.core.cluster.ClusterCommand.BulkLoaded(ns, partitions, lsns, records,
                        System.currentTimeMillis())).whenComplete((r, e) -> {
                            if (e != null) {
                                LOG.warn("bulk load of {} partitions of {} not recorded in the history: {}", partitions.size(), ns, e.toString());
                            }
                        });
            }
        });
        purger.cluster((ns, p) -> {
            NodeCluster c = cluster;
            return c != null && config.nodeId.equals(c.view().entry(ns, p).master());
        }, replication);
        // Until the node has joined and holds master leases it serves nothing.
        handler.gate((namespace, partition) -> {
            throw new FerryException(ErrorCode.UNAVAILABLE, "node " + config.nodeId + " is joining the cluster", null, false);
        });
        service = new FerryGrpcService(handler, requestMetrics, this::info,
                scanExecutor, config.maxBatchSize, config.sessionMaxInflight, writePipeline);
        service.bindMetrics(registry);
        Gauge.builder("ferry_sessions_open", service, FerryGrpcService::sessionsOpen).description("open pipelined client sessions").register(registry);
        Gauge.builder("ferry_session_inflight", service, FerryGrpcService::sessionInflight).description("session requests in flight").register(registry);
        try {
            // Handlers run on the transport threads: reads and unsynced writes are
            // microseconds, and SYNC writes leave the thread while they wait for fsync.
            grpc = NettyServerBuilder.forAddress(new InetSocketAddress(config.host, config.port))
                    .directExecutor()
                    .maxInboundMessageSize(config.maxMessageBytes)
                    .addService(service)
                    .addService(new ClusterGrpcService(() -> cluster, config.nodeId, store, replication))
                    .addService(mirrorReceiver)
                    .build()
                    .start();
            admin = new AdminHttpServer(config.host, config.httpPort, registry, this::healthJson, () -> state == State.RUNNING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind " + config.host + ":" + config.port + "/" + config.httpPort + ": " + e.getMessage(), e);
        }
        NodeCluster joining = new NodeCluster(config, store, config.host + ":" + grpcPort(), config.host + ":" + httpPort(), registry,
                replication, mirrorReceiver);
        joining.start();
        try {
            joining.awaitJoined();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            joining.close();
            throw new IllegalStateException("interrupted while joining the cluster", e);
        } catch (RuntimeException e) {
            joining.close();
            throw e;
        }
        cluster = joining;
        handler.gate(joining);
        state = state.to(State.RUNNING);
        LOG.info("node {} serving gRPC on {}:{}, admin HTTP on {}:{}", config.nodeId, config.host, grpcPort(), config.host, httpPort());
    }

    private void bindStoreMetrics() {
        FunctionCounter.builder("ferry_puts_applied", store, s -> s.putsApplied.sum()).description("puts applied to storage").register(registry);
        FunctionCounter.builder("ferry_deletes_applied", store, s -> s.deletesApplied.sum()).description("deletes applied to storage").register(registry);
        for (NamespaceConfig ns : store.namespaces()) {
            Gauge.builder("ferry_log_entries", () -> logTotals(ns.name())[0]).tag("namespace", ns.name())
                    .description("partition-log entries retained").register(registry);
            Gauge.builder("ferry_log_bytes", () -> logTotals(ns.name())[1]).tag("namespace", ns.name())
                    .description("partition-log bytes retained").register(registry);
            Gauge.builder("ferry_last_lsn_sum", () -> logTotals(ns.name())[2]).tag("namespace", ns.name())
                    .description("sum over partitions of the last committed LSN").register(registry);
        }
        if (recordCache != null) {
            FunctionCounter.builder("ferry_record_cache_hits", recordCache, c -> c.hits.sum())
                    .description("data reads answered from the record cache").register(registry);
            FunctionCounter.builder("ferry_record_cache_misses", recordCache, c -> c.misses.sum())
                    .description("data reads that went to RocksDB").register(registry);
            FunctionCounter.builder("ferry_record_cache_evictions", recordCache, c -> c.evictions.sum())
                    .description("records dropped from the record cache for room").register(registry);
            FunctionCounter.builder("ferry_record_cache_raced_fills", recordCache, c -> c.racedFills.sum())
                    .description("misses not cached because a write of the same stripe overlapped the read").register(registry);
            Gauge.builder("ferry_record_cache_bytes", recordCache, CachedStorage::sizeBytes)
                    .description("bytes charged for cached records (capacity: record-cache-bytes)").register(registry);
            Gauge.builder("ferry_record_cache_entries", recordCache, CachedStorage::entryCount)
                    .description("keys in the record cache, present or known absent").register(registry);
        }
        Gauge.builder("ferry_storage_writes_throttled", storage, s -> s.writesThrottled() ? 1 : 0)
                .description("1 while RocksDB stops or delays writes for compaction to catch up").register(registry);
        Gauge.builder("ferry_rocksdb_estimate_keys", storage, s -> s.longProperty(Column.DATA, "rocksdb.estimate-num-keys"))
                .description("RocksDB's estimate of keys in the data column family").register(registry);
        Gauge.builder("ferry_rocksdb_live_sst_bytes", storage, s -> s.longProperty(Column.DATA, "rocksdb.live-sst-files-size")
                        + s.longProperty(Column.LOG, "rocksdb.live-sst-files-size"))
                .description("live SST bytes of data and log").register(registry);
    }

    /** {entries, bytes, lastLsnSum} over a namespace's partitions. */
    private long[] logTotals(String ns) {
        long[] t = new long[3];
        for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
            PartitionInfo pi = store.partitionInfo(ns, p);
            t[0] += pi.logEntries();
            t[1] += pi.logBytes();
            t[2] += pi.lastLsn();
        }
        return t;
    }

    public InfoResponse info() {
        InfoResponse.Builder b = InfoResponse.newBuilder().setNodeId(config.nodeId).setVersion(VERSION)
                .setUptimeMs(System.currentTimeMillis() - startedAtMs)
                .setGrpcAddress(config.host + ":" + grpcPort()).setHttpAddress(config.host + ":" + httpPort())
                .setHlc(store.hlc().peek()).setDataDir(Path.of(config.dataDir).toAbsolutePath().normalize().toString())
                .setRecordsEstimate(Math.max(0, storage.longProperty(Column.DATA, "rocksdb.estimate-num-keys")));
        for (NamespaceConfig ns : store.namespaces()) {
            long[] t = logTotals(ns.name());
            b.addNamespaces(NamespaceInfo.newBuilder().setName(ns.name()).setReplicationFactor(ns.replicationFactor())
                    .setDefaultTtlSeconds(ns.defaultTtlSeconds()).setMaxRecordSizeBytes(ns.maxRecordSizeBytes())
                    .setLogEntries(t[0]).setLogBytes(t[1]).setLastLsnSum(t[2])
                    .setDefaultDurability(ns.defaultDurability().name()).setDefaultCommitLevel(ns.defaultCommitLevel().name()));
        }
        return b.build();
    }

    private String healthJson() {
        return "{\"status\":\"" + (state == State.RUNNING ? "UP" : "DOWN") + "\",\"state\":\"" + state
                + "\",\"node_id\":\"" + config.nodeId + "\",\"uptime_ms\":" + (System.currentTimeMillis() - startedAtMs) + "}";
    }

    public int grpcPort() {
        return grpc == null ? -1 : grpc.getPort();
    }

    public int httpPort() {
        return admin == null ? -1 : admin.port();
    }

    public State state() {
        return state;
    }

    public RecordStore store() {
        return store;
    }

    /** The request path (partition gate, validated writes with durability and commit levels), for other protocols. */
    public RequestHandler requestHandler() {
        return handler;
    }

    /**
     * The storage threads. Writes of one partition must be applied from its shard's thread:
     * mirroring streams a partition's changes in the order they were committed.
     */
    public WritePipeline writePipeline() {
        return writePipeline;
    }

    /** The master side of mirroring: what each mirror acknowledged (WAIT, INFO replication). */
    public Replication replication() {
        return replication;
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /** The node's cluster membership (null until it has joined). */
    public NodeCluster cluster() {
        return cluster;
    }

    public NodeConfig config() {
        return config;
    }

    /** Blocks until the gRPC server terminates. */
    public void awaitTermination() throws InterruptedException {
        if (grpc != null) {
            grpc.awaitTermination();
        }
    }

    /**
     * Graceful stop: refuse new calls, let calls in flight finish (bounded), make
     * everything written durable, close storage.
     */
    @Override
    public synchronized void close() {
        if (state == State.STOPPING || state == State.STOPPED) {
            return;
        }
        if (state == State.NEW) {
            state = State.STOPPED;
            return;
        }
        state = state.to(State.STOPPING);
        LOG.info("node {} stopping", config.nodeId);
        if (grpc != null) {
            // New calls are refused; requests in flight get up to 5 s to finish. Idle
            // client sessions would keep the server open forever, so they are cancelled
            // once nothing is in flight.
            grpc.shutdown();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (service.sessionInflight() > 0 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                if (!grpc.awaitTermination(100, TimeUnit.MILLISECONDS)) {
                    grpc.shutdownNow();
                    grpc.awaitTermination(Math.max(1, (deadline - System.nanoTime()) / 1_000_000), TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                grpc.shutdownNow();
            }
        }
        if (admin != null) {
            admin.close();
        }
        if (cluster != null) {
            cluster.close();
        }
        if (replication != null) {
            replication.close();
        }
        if (mirrorReceiver != null) {
            mirrorReceiver.close();
        }
        if (writePipeline != null) {
            writePipeline.close();
        }
        if (scanExecutor != null) {
            // Scan threads hold RocksDB iterators: they must be gone before storage closes.
            scanExecutor.shutdownNow();
            try {
                scanExecutor.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (purger != null) {
            purger.close();
        }
        if (committer != null) {
            committer.close();
        }
        if (storage != null) {
            storage.close();
        }
        registry.close();
        state = state.to(State.STOPPED);
        LOG.info("node {} stopped", config.nodeId);
    }
}
