package io.ferrydb.server.cluster;

import io.ferrydb.api.FerryException;
import io.ferrydb.core.Verify;
import io.ferrydb.core.cluster.ApplyResult;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterCommand;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatReply;
import io.ferrydb.core.cluster.HeartbeatRequest;
import io.ferrydb.core.cluster.HistoryEntry;
import io.ferrydb.core.cluster.MetadataStore;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.client.retry.ClientRetryEvent;
import org.apache.ratis.client.retry.RequestTypeDependentRetryPolicy;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.retry.RetryPolicy;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * The control plane embedded in a node: an Apache Ratis group of 1, 3 or 5 voters
 * replicating {@link io.ferrydb.core.cluster.ClusterState}, plus a client through which
 * every node (voter or not) submits commands, heartbeats and reads.
 *
 * <p>Why Ratis and not a home-made log: leader election, log replication, snapshots and
 * their installation on lagging peers are the hard parts, and a maintained Raft
 * implementation has them. What this class adds is the wiring and the two things the
 * cluster's safety relies on:
 * <ul>
 *   <li>Reads are {@code LINEARIZABLE} (ReadIndex): a heartbeat is answered only after the
 *       leader confirmed with a majority that it still leads, so a deposed leader cannot
 *       grant a master lease (see {@link io.ferrydb.core.cluster.ClusterTimings}).</li>
 *   <li>Every client call has a bounded total time (a retry policy with a deadline per
 *       request type), so a node without a reachable leader learns it within
 *       {@code requestTimeoutMs} instead of hanging, and stops serving when its lease ends.</li>
 * </ul>
 * The controller's time is the wall clock at start advanced by the monotonic clock, so
 * failure detection is immune to wall-clock jumps while command timestamps stay readable.
 *
 * <p>Lifecycle: NEW → STARTING → RUNNING → CLOSED ({@link #close} is legal from any state).
 * A voter's state survives restarts in {@code storageDir} (Raft log, metadata, snapshots).
 */
public final class RatisControlPlane implements MetadataStore, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RatisControlPlane.class);
    /** Pause between client retries while a leader is unknown or being elected. */
    private static final long CLIENT_RETRY_SLEEP_MS = 100;
    /** Snapshots kept on disk; older ones (and the log before them) are deleted. */
    private static final int SNAPSHOTS_RETAINED = 2;
    /** Peers one heartbeat may visit: a pinned peer that fails, the client's guess, the leader it names. */
    private static final int HEARTBEAT_HOPS_MAX = 3;
    /** Attempts of a read aimed at one peer before it fails over to the client's leader search. */
    private static final int PINNED_READ_ATTEMPTS_MAX = 2;

    public enum State {
        NEW, STARTING, RUNNING, CLOSED;

        State to(State next) {
            boolean legal = switch (this) {
                case NEW -> next == STARTING || next == CLOSED;
                case STARTING -> next == RUNNING || next == CLOSED;
                case RUNNING -> next == CLOSED;
                case CLOSED -> false;
            };
            Verify.that(legal, "illegal control-plane transition %s -> %s", this, next);
            return next;
        }
    }

    private final ControlPlaneConfig config;
    private final RaftGroup group;
    private final RaftPeerId selfId;
    private final ClusterStateMachine stateMachine;
    /** Sends the controller's proposals, so the controller never blocks on Ratis (its queue is bounded). */
    private final ThreadPoolExecutor proposalSender;
    private final ScheduledExecutorService ticker;

    private State state = State.NEW;
    private volatile RaftServer server;
    private volatile RaftClient client;
    /** For non-voters: the last peer that answered a heartbeat as leader. */
    private volatile String lastLeaderSeen;
    /** Where heartbeats go first: the peer that last answered as leader (null: the client's own guess). */
    private volatile RaftPeerId heartbeatTarget;

    private final AtomicLong proposalsSent = new AtomicLong();
    private final AtomicLong proposalsFailed = new AtomicLong();
    private final AtomicLong proposalsDropped = new AtomicLong();
    private final AtomicLong heartbeatRedirects = new AtomicLong();

    public RatisControlPlane(ControlPlaneConfig config) {
        this(config, monotonicWallClock());
    }

    RatisControlPlane(ControlPlaneConfig config, LongSupplier clockMs) {
        this.config = config;
        this.selfId = RaftPeerId.valueOf(config.nodeId());
        this.group = RaftGroup.valueOf(RaftGroupId.valueOf(config.groupUuid()), peers(config));
        this.stateMachine = new ClusterStateMachine(config.historyLimitPerPartition(), config.timings(),
                this::propose, (node, silentMs) -> LOG.warn("control plane: node {} silent for {} ms, declaring it failed",
                node, silentMs), clockMs);
        this.stateMachine.formWith(config.voters().keySet(), ControlPlaneConfig.FORMATION_WAIT_MS);
        this.proposalSender = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
                new ArrayBlockingQueue<>(config.proposalQueueCapacity()), daemon("ferry-control-propose"));
        this.ticker = Executors.newSingleThreadScheduledExecutor(daemon("ferry-control-tick"));
    }

    private static List<RaftPeer> peers(ControlPlaneConfig config) {
        List<RaftPeer> peers = new ArrayList<>();
        for (Map.Entry<String, String> v : config.voters().entrySet()) {
            InetSocketAddress a = ControlPlaneConfig.parseAddress(v.getKey(), v.getValue());
            peers.add(RaftPeer.newBuilder().setId(v.getKey()).setAddress(a.getHostString() + ":" + a.getPort()).build());
        }
        return peers;
    }

    // --- lifecycle ---

    /** Starts the Raft server (voters) and the client; returns once they run, not once a leader is elected. */
    public void start() throws IOException {
        synchronized (this) {
            state = state.to(State.STARTING);
        }
        try {
            RaftProperties props = properties();
            if (config.voter()) {
                Files.createDirectories(config.storageDir());
                refuseForeignGroups();
                // RECOVER keeps the log and snapshots across restarts; FORMAT only when there is nothing yet.
                boolean existing = Files.isDirectory(config.storageDir().resolve(group.getGroupId().getUuid().toString()));
                server = RaftServer.newBuilder()
                        .setServerId(selfId)
                        .setGroup(group)
                        .setStateMachine(stateMachine)
                        .setProperties(props)
                        .setOption(existing ? RaftStorage.StartupOption.RECOVER : RaftStorage.StartupOption.FORMAT)
                        .build();
                server.start();
                long tickMs = Math.max(1, config.timings().heartbeatIntervalMs() / 5);
                ticker.scheduleWithFixedDelay(this::tick, tickMs, tickMs, TimeUnit.MILLISECONDS);
                LOG.info("control plane voter {} started on {} ({} storage in {}, group {})", selfId,
                        config.voters().get(config.nodeId()), existing ? "recovered" : "new", config.storageDir(),
                        group.getGroupId());
            }
            client = RaftClient.newBuilder()
                    .setClientId(ClientId.randomId())
                    .setRaftGroup(group)
                    .setProperties(props)
                    .setRetryPolicy(retryPolicy())
                    .build();
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        synchronized (this) {
            if (state == State.CLOSED) {
                // close() ran while we were starting, before the client or server existed.
                closeQuietly(client, "client");
                closeQuietly(server, "server");
                throw new IllegalStateException("control plane " + selfId + " was closed while starting");
            }
            state = state.to(State.RUNNING);
        }
    }

    /**
     * Ratis serves every group it finds in its storage directory. A directory of another group means
     * the cluster name changed or two nodes share a directory: refuse, rather than run a stale group.
     */
    private void refuseForeignGroups() throws IOException {
        String ours = group.getGroupId().getUuid().toString();
        try (var dirs = Files.list(config.storageDir())) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                String name = d.getFileName().toString();
                if (Files.isDirectory(d) && !name.equals(ours) && isUuid(name)) {
                    throw FerryException.invalid("config: control-dir %s holds the control-plane state of another "
                            + "cluster (Raft group %s); cluster-name '%s' uses group %s", config.storageDir(), name,
                            config.clusterName(), ours);
                }
            }
        }
    }

    private static boolean isUuid(String s) {
        try {
            return UUID.fromString(s).toString().equals(s);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (state == State.CLOSED) {
                return;
            }
            state = state.to(State.CLOSED);
        }
        ticker.shutdownNow();
        proposalSender.shutdownNow();
        closeQuietly(client, "client");
        closeQuietly(server, "server");
        LOG.info("control plane {} closed", selfId);
    }

    private static void closeQuietly(AutoCloseable c, String what) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            LOG.warn("control plane: closing the Ratis {} failed", what, e);
        }
    }

    public synchronized State state() {
        return state;
    }

    public ControlPlaneConfig config() {
        return config;
    }

    /** How many election timeouts the voters other than the first wait before their first election. */
    private static final long FIRST_ELECTION_DEFER = 3;

    private RaftProperties properties() {
        RaftProperties p = new RaftProperties();
        RaftConfigKeys.Rpc.setType(p, SupportedRpcType.GRPC);
        if (config.voter()) {
            InetSocketAddress own = config.ownRatisAddress();
            GrpcConfigKeys.Server.setHost(p, own.getHostString());
            GrpcConfigKeys.Server.setPort(p, own.getPort());
            RaftServerConfigKeys.setStorageDir(p, List.of(config.storageDir().toFile()));
        }
        RaftServerConfigKeys.Rpc.setTimeoutMin(p, ms(config.electionTimeoutMinMs()));
        RaftServerConfigKeys.Rpc.setTimeoutMax(p, ms(config.electionTimeoutMaxMs()));
        // The first election after a start: the first voter of control-voters stands at once, the
        // others only after a few timeouts unless they heard from a leader. Voters of a new group
        // starting together otherwise elected leaders in two terms that both wrote a log entry at
        // index 0; a follower that took the losing one as committed then answered every append
        // with INCONSISTENCY for good (Ratis 3.3.0), and with it a 5-voter group lost its majority
        // once two voters died.
        boolean firstVoter = config.voters().keySet().iterator().next().equals(config.nodeId());
        long firstMin = firstVoter ? config.electionTimeoutMinMs() : config.electionTimeoutMaxMs() * FIRST_ELECTION_DEFER;
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(p, ms(firstMin));
        RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(p, ms(firstVoter ? config.electionTimeoutMaxMs()
                : firstMin + config.electionTimeoutMaxMs() * FIRST_ELECTION_DEFER));
        // ReadIndex reads: a heartbeat reply (a lease grant) only from a leader a majority still follows.
        RaftServerConfigKeys.Read.setOption(p, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        RaftServerConfigKeys.Read.setTimeout(p, ms(config.requestTimeoutMs()));
        // Snapshot every N entries and purge the log behind it, so the log does not grow without bound.
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, config.snapshotThresholdEntries());
        RaftServerConfigKeys.Snapshot.setCreationGap(p, config.snapshotThresholdEntries());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(p, SNAPSHOTS_RETAINED);
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
        RaftClientConfigKeys.Rpc.setRequestTimeout(p, ms(config.requestTimeoutMs()));
        return p;
    }

    /**
     * Retry while no leader is known, but only until each request type's deadline: calls never hang.
     * A read aimed at one peer gives up after a few attempts, so a heartbeat pinned to a dead leader
     * falls back to the client's leader search instead of spending its whole deadline there.
     */
    private RetryPolicy retryPolicy() {
        var retry = RetryPolicies.retryForeverWithSleep(ms(CLIENT_RETRY_SLEEP_MS));
        RetryPolicy byType = RequestTypeDependentRetryPolicy.newBuilder()
                .setRetryPolicy(RaftClientRequestProto.TypeCase.WRITE, retry)
                .setRetryPolicy(RaftClientRequestProto.TypeCase.READ, retry)
                .setTimeout(RaftClientRequestProto.TypeCase.WRITE, ms(config.writeTimeoutMs()))
                .setTimeout(RaftClientRequestProto.TypeCase.READ, ms(config.requestTimeoutMs()))
                .build();
        return event -> {
            if (event instanceof ClientRetryEvent ce && !ce.getRequest().isToLeader()
                    && ce.getAttemptCount() >= PINNED_READ_ATTEMPTS_MAX) {
                return RetryPolicy.NO_RETRY_ACTION;
            }
            return byType.handleAttemptFailure(event);
        };
    }

    // --- API ---

    /** Commits a command through the leader; completes with its result once applied, or fails within writeTimeoutMs. */
    @Override
    public CompletableFuture<ApplyResult> submit(ClusterCommand command) {
        RaftClient c = runningClient();
        byte[] bytes = ClusterCodec.encodeCommand(command);
        return bounded(c.async().send(message(bytes)), config.writeTimeoutMs())
                .thenApply(reply -> ClusterCodec.decodeResult(content(reply)));
    }

    /**
     * Sends a heartbeat to the leader's controller. Completes with the reply (a lease grant when
     * {@code leaseGranted}), with {@link HeartbeatReply#NOT_LEADER} when no peer it reached leads, or
     * exceptionally within about twice requestTimeoutMs when no leader answers.
     *
     * <p>Linearizable reads are also served by followers, whose controllers may not grant leases; a
     * follower answers with the leader it knows, and the heartbeat follows (at most {@code
     * HEARTBEAT_HOPS_MAX} hops). The peer that last answered as leader is tried first next time.
     */
    public CompletableFuture<HeartbeatReply> heartbeat(HeartbeatRequest request) {
        RaftClient c = runningClient();
        Message msg = message(ControlQuery.heartbeat(request));
        RaftPeerId target = config.voter() ? ownDivisionLeader().orElse(heartbeatTarget) : heartbeatTarget;
        return heartbeatAttempt(c, msg, target, HEARTBEAT_HOPS_MAX)
                .orTimeout(2 * config.requestTimeoutMs() + 1000, TimeUnit.MILLISECONDS);
    }

    private CompletableFuture<HeartbeatReply> heartbeatAttempt(RaftClient c, Message msg, RaftPeerId target, int hopsLeft) {
        CompletableFuture<RaftClientReply> sent = target == null
                ? c.async().sendReadOnlyUnordered(msg) : c.async().sendReadOnlyUnordered(msg, target);
        return checked(sent).handle((reply, e) -> {
            if (e != null) {
                if (target == null || hopsLeft == 0) {
                    return CompletableFuture.<HeartbeatReply>failedFuture(e);
                }
                // The peer we aimed at is gone or slow: let the client find the leader.
                heartbeatTarget = null;
                return heartbeatAttempt(c, msg, null, hopsLeft - 1);
            }
            byte[] answer = content(reply);
            if (!ControlQuery.isRedirect(answer)) {
                HeartbeatReply hb = ClusterCodec.decodeHeartbeatReply(ControlQuery.body(answer));
                if (hb.fromLeader()) {
                    heartbeatTarget = reply.getServerId();
                    lastLeaderSeen = reply.getServerId().toString();
                }
                return CompletableFuture.completedFuture(hb);
            }
            String hint = ControlQuery.redirectHint(answer);
            if (hint.isEmpty() || hopsLeft == 0 || hint.equals(reply.getServerId().toString())
                    || !config.voters().containsKey(hint)) {
                return CompletableFuture.completedFuture(HeartbeatReply.NOT_LEADER);
            }
            RaftPeerId next = RaftPeerId.valueOf(hint);
            heartbeatTarget = next;
            heartbeatRedirects.incrementAndGet();
            return heartbeatAttempt(c, msg, next, hopsLeft - 1);
        }).thenCompose(f -> f);
    }

    /** The current view, read linearizably from the leader. */
    public CompletableFuture<ClusterView> view() {
        return read(ControlQuery.view(), reply -> ClusterCodec.decodeView(content(reply)));
    }

    /** The duplication-schema history of one partition, oldest first. */
    public CompletableFuture<List<HistoryEntry>> history(String namespace, int partition) {
        return read(ControlQuery.history(namespace, partition), reply -> ClusterCodec.decodeHistory(content(reply)));
    }

    /** The view this voter has applied (no round trip; may lag the leader). Empty for non-voters. */
    public ClusterView localView() {
        return stateMachine.currentView();
    }

    /** The leader as this voter's Raft division knows it; for a non-voter, the last peer that answered as leader. */
    public Optional<String> leaderId() {
        if (server == null) {
            return Optional.ofNullable(lastLeaderSeen);
        }
        return ownDivisionLeader().map(RaftPeerId::toString);
    }

    private Optional<RaftPeerId> ownDivisionLeader() {
        RaftServer s = server;
        if (s == null) {
            return Optional.empty();
        }
        try {
            return Optional.ofNullable(s.getDivision(group.getGroupId()).getInfo().getLeaderId());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Whether this voter is the Raft leader and its controller acts as such. */
    public boolean isLeader() {
        return server != null && stateMachine.isRaftLeader() && stateMachine.controllerIsLeader();
    }

    /**
     * Called with every new view this voter applies (and with the view loaded from a snapshot), on the
     * Ratis apply thread: must be quick and must not block on the control plane.
     */
    public void addViewListener(Consumer<ClusterView> listener) {
        stateMachine.addViewListener(listener);
    }

    /** Milliseconds since each node's last heartbeat, on the leader only (else empty). */
    public Map<String, Long> heartbeatAgesMs() {
        return stateMachine.heartbeatAgesMs();
    }

    /** Runs the controller's failure detection now (it also runs every heartbeat interval / 5). */
    public void tickController() {
        tick();
    }

    /** How many times this voter learnt of a new leader (itself included); 0 for non-voters. */
    /** Takes the failover times measured on this node while it led (ms from last heartbeat to the failure's view). */
    public java.util.List<Long> drainFailoverTimesMs() {
        java.util.List<Long> out = new java.util.ArrayList<>();
        Long ms;
        while ((ms = stateMachine.failovers.poll()) != null) {
            out.add(ms);
        }
        return out;
    }

    public long leaderChangeCount() {
        return stateMachine.leaderChangeCount();
    }

    public long commandsApplied() {
        return stateMachine.commandsApplied();
    }

    public long commandsRefused() {
        return stateMachine.commandsRefused();
    }

    public long proposalsSent() {
        return proposalsSent.get();
    }

    public long proposalsFailed() {
        return proposalsFailed.get();
    }

    public long proposalsDropped() {
        return proposalsDropped.get();
    }

    /** Heartbeats that reached a follower and were sent on to the leader it named. */
    public long heartbeatRedirects() {
        return heartbeatRedirects.get();
    }

    public long snapshotsTaken() {
        return stateMachine.snapshotsTaken();
    }

    public long snapshotsLoaded() {
        return stateMachine.snapshotsLoaded();
    }

    /** The newest snapshot file of this voter, if any. */
    public Optional<Path> latestSnapshotFile() {
        SingleFileSnapshotInfo s = stateMachine.latestSnapshot();
        return s == null ? Optional.empty() : Optional.of(s.getFile().getPath());
    }

    /** Sends raw query bytes (tests use it to check that garbled queries fail cleanly). */
    CompletableFuture<byte[]> rawQuery(byte[] query) {
        return read(query, RatisControlPlane::content);
    }

    /** Sends raw query bytes to one peer, whichever role it has. */
    CompletableFuture<byte[]> rawQuery(byte[] query, String peerId) {
        return bounded(runningClient().async().sendReadOnlyUnordered(message(query), RaftPeerId.valueOf(peerId)),
                config.requestTimeoutMs()).thenApply(RatisControlPlane::content);
    }

    /** Makes a non-voter's next heartbeat go to this peer first (tests aim it at a follower). */
    void aimHeartbeatsAt(String peerId) {
        heartbeatTarget = RaftPeerId.valueOf(peerId);
    }

    /** Sends raw command bytes (tests use it to check that garbled commands never reach the log). */
    CompletableFuture<byte[]> rawSubmit(byte[] command) {
        return bounded(runningClient().async().send(message(command)), config.writeTimeoutMs())
                .thenApply(RatisControlPlane::content);
    }

    // --- internals ---

    private void tick() {
        try {
            stateMachine.tick();
        } catch (RuntimeException e) {
            // A controller bug must not kill the ticker: later ticks may still detect failures.
            LOG.error("control plane: controller tick failed", e);
        }
    }

    /** The controller's proposer: hand off to the sender thread, never block the caller. */
    private void propose(ClusterCommand command) {
        try {
            proposalSender.execute(() -> send(command));
        } catch (RejectedExecutionException e) {
            proposalsDropped.incrementAndGet();
            LOG.warn("control plane: proposal queue full or closed, dropped {} (the controller retries)",
                    command.getClass().getSimpleName());
        }
    }

    private void send(ClusterCommand command) {
        RaftClient c = client;
        if (c == null) {
            proposalsDropped.incrementAndGet();
            return;
        }
        proposalsSent.incrementAndGet();
        bounded(c.async().send(message(ClusterCodec.encodeCommand(command))), config.writeTimeoutMs())
                .whenComplete((reply, e) -> {
                    if (e != null) {
                        proposalsFailed.incrementAndGet();
                        if (state() != State.CLOSED) {
                            LOG.warn("control plane: proposal {} failed: {}", command.getClass().getSimpleName(),
                                    rootCause(e).toString());
                        }
                        return;
                    }
                    ApplyResult result = ClusterCodec.decodeResult(content(reply));
                    if (result instanceof ApplyResult.Refused r) {
                        LOG.info("control plane: proposal {} refused: {}", command.getClass().getSimpleName(), r.reason());
                    }
                });
    }

    private <T> CompletableFuture<T> read(byte[] query, Function<RaftClientReply, T> decode) {
        RaftClient c = runningClient();
        // Unordered: a heartbeat must not wait behind earlier writes of this client.
        return bounded(c.async().sendReadOnlyUnordered(message(query)), config.requestTimeoutMs()).thenApply(decode);
    }

    private RaftClient runningClient() {
        RaftClient c = client;
        if (c == null || state() != State.RUNNING) {
            throw new IllegalStateException("control plane is " + state() + ", not RUNNING");
        }
        return c;
    }

    /**
     * The client's retry deadline already bounds a call; this second, looser bound covers an attempt that
     * is in flight when the deadline passes (it may take one more RPC timeout).
     */
    private static CompletableFuture<RaftClientReply> bounded(CompletableFuture<RaftClientReply> f, long deadlineMs) {
        return checked(f.orTimeout(2 * deadlineMs + 1000, TimeUnit.MILLISECONDS));
    }

    /** Turns an unsuccessful reply into a failed future. */
    private static CompletableFuture<RaftClientReply> checked(CompletableFuture<RaftClientReply> f) {
        return f.thenApply(reply -> {
            if (!reply.isSuccess()) {
                throw new CompletionException(reply.getException() != null ? reply.getException()
                        : new IOException("control plane call failed: " + reply));
            }
            return reply;
        });
    }

    private static Throwable rootCause(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t instanceof TimeoutException ? new TimeoutException("no reply within the deadline") : t;
    }

    private static Message message(byte[] bytes) {
        return Message.valueOf(ByteString.copyFrom(bytes));
    }

    private static byte[] content(RaftClientReply reply) {
        return reply.getMessage().getContent().toByteArray();
    }

    private static TimeDuration ms(long millis) {
        return TimeDuration.valueOf(millis, TimeUnit.MILLISECONDS);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /** Wall-clock milliseconds at start, advanced by the monotonic clock: readable, and never jumps. */
    private static LongSupplier monotonicWallClock() {
        long wallAtStartMs = System.currentTimeMillis();
        long nanoAtStart = System.nanoTime();
        return () -> wallAtStartMs + (System.nanoTime() - nanoAtStart) / 1_000_000;
    }
}
