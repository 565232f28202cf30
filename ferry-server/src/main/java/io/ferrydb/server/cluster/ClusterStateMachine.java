package io.ferrydb.server.cluster;

import io.ferrydb.core.Verify;
import io.ferrydb.core.cluster.ApplyResult;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterController;
import io.ferrydb.core.cluster.ClusterState;
import io.ferrydb.core.cluster.ClusterTimings;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatReply;
import io.ferrydb.core.cluster.HeartbeatRequest;
import org.apache.ratis.io.MD5Hash;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The control plane's Raft state machine: {@link ClusterState} replicated through an
 * Apache Ratis log, with the leader's {@link ClusterController} riding along.
 *
 * <p>Follows the Ratis examples' {@code CounterStateMachine}: commands are applied in
 * log order by {@link #applyTransaction} (one Ratis thread), snapshots are single files
 * in {@link SimpleStateMachineStorage} named by the last applied term and index, and
 * {@link #initialize}/{@link #reinitialize} load the newest one (also after a snapshot
 * was installed from the leader). Reads ({@link #query}) are served after Ratis has
 * confirmed leadership with a majority (ReadIndex, Raft thesis §6.4), which is what
 * makes a heartbeat reply a safe lease grant: a deposed leader cannot answer.
 *
 * <p>Threads: applies, snapshots and snapshot loads run on the Ratis state-machine
 * updater thread; queries and leader notifications on Ratis server threads. So the
 * state is guarded by {@code stateLock}, the (not thread-safe) controller by
 * {@code controllerLock}; no thread holds both, and none holds either while calling
 * into Ratis (controller proposals are handed to the control plane's sender thread).
 */
final class ClusterStateMachine extends BaseStateMachine {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterStateMachine.class);

    /** Milliseconds from a failed member's last heartbeat to the view declaring it failed (leader only). */
    final java.util.concurrent.ConcurrentLinkedQueue<Long> failovers = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private final int historyLimitPerPartition;
    private final LongSupplier clockMs;

    private final Object stateLock = new Object();
    /** Guarded by stateLock. */
    private ClusterState state;
    /** The last published view: read without locks by queries and the node. */
    private volatile ClusterView currentView = ClusterView.EMPTY;

    private final Object controllerLock = new Object();
    /** Guarded by controllerLock. */
    private final ClusterController controller;

    private final List<Consumer<ClusterView>> viewListeners = new CopyOnWriteArrayList<>();
    private volatile RaftServer.Division division;

    /** Leaders this peer has learnt of (itself included). */
    private final AtomicLong leaderChangeCount = new AtomicLong();
    private final AtomicLong commandsApplied = new AtomicLong();
    private final AtomicLong commandsRefused = new AtomicLong();
    private final AtomicLong snapshotsTaken = new AtomicLong();
    private final AtomicLong snapshotsLoaded = new AtomicLong();

    ClusterStateMachine(int historyLimitPerPartition, ClusterTimings timings, ClusterController.Proposer proposer,
                        ClusterController.Listener listener, LongSupplier clockMs) {
        this.historyLimitPerPartition = historyLimitPerPartition;
        this.clockMs = clockMs;
        this.state = new ClusterState(historyLimitPerPartition);
        this.controller = new ClusterController(timings, proposer, listener);
    }

    /** See {@link ClusterController#formWith}. */
    void formWith(java.util.Set<String> voters, long waitMs) {
        synchronized (controllerLock) {
            controller.formWith(voters, waitMs);
        }
    }

    // --- lifecycle and snapshots ---

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        super.initialize(server, groupId, raftStorage);
        storage.init(raftStorage);
        getLifeCycle().startAndTransition(this::loadLatestSnapshot, IOException.class);
    }

    /** After a pause (a snapshot was installed from the leader): load the newest snapshot again. */
    @Override
    public void reinitialize() throws IOException {
        loadLatestSnapshot();
        if (getLifeCycleState() == LifeCycle.State.PAUSED) {
            getLifeCycle().transition(LifeCycle.State.STARTING);
            getLifeCycle().transition(LifeCycle.State.RUNNING);
        }
    }

    // Ratis reloads the state machine only from PAUSED; the base class never gets there.
    @Override
    public void pause() {
        if (getLifeCycleState() == LifeCycle.State.RUNNING) {
            getLifeCycle().transition(LifeCycle.State.PAUSING);
            getLifeCycle().transition(LifeCycle.State.PAUSED);
        }
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return storage;
    }

    @Override
    public long takeSnapshot() throws IOException {
        TermIndex applied;
        byte[] bytes;
        long version;
        synchronized (stateLock) {
            applied = getLastAppliedTermIndex();
            if (applied == null || applied.getIndex() < 0) {
                return RaftLog.INVALID_LOG_INDEX;
            }
            bytes = ClusterCodec.encodeSnapshot(state);
            version = state.version();
        }
        File file = storage.getSnapshotFile(applied.getTerm(), applied.getIndex());
        // Write aside, fsync, then rename: a crash leaves either no snapshot of this index or a whole one.
        Path tmp = file.toPath().resolveSibling(file.getName() + ".writing");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        MD5Hash md5 = MD5FileUtil.computeAndSaveMd5ForFile(file);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file.toPath(), md5), applied));
        snapshotsTaken.incrementAndGet();
        LOG.info("control-plane snapshot at {} ({} bytes, version {})", applied, bytes.length, version);
        return applied.getIndex();
    }

    private void loadLatestSnapshot() throws IOException {
        SingleFileSnapshotInfo snapshot = storage.loadLatestSnapshot();
        if (snapshot == null) {
            return;
        }
        Path path = snapshot.getFile().getPath();
        Verify.that(Files.exists(path), "snapshot %s is listed but missing", path);
        if (snapshot.getFile().getFileDigest() != null) {
            MD5FileUtil.verifySavedMD5(path.toFile(), snapshot.getFile().getFileDigest());
        }
        TermIndex last = SimpleStateMachineStorage.getTermIndexFromSnapshotFile(path.toFile());
        ClusterState loaded = ClusterCodec.decodeSnapshot(Files.readAllBytes(path));
        if (loaded.historyLimitPerPartition() != historyLimitPerPartition) {
            // The snapshot's limit wins: a peer restored from it trims history as the peer that wrote it did.
            LOG.warn("control-plane snapshot keeps {} history entries per partition; the configured {} is ignored",
                    loaded.historyLimitPerPartition(), historyLimitPerPartition);
        }
        synchronized (stateLock) {
            state = loaded;
            setLastAppliedTermIndex(last);
        }
        snapshotsLoaded.incrementAndGet();
        LOG.info("control-plane state loaded from snapshot {} (version {}, {} members)", path.getFileName(),
                loaded.version(), loaded.members().size());
        publish(loaded.view(), true);
    }

    // --- commands ---

    /** Refuses garbled commands on the leader, before they reach the log, so every logged entry decodes. */
    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        TransactionContext trx = super.startTransaction(request);
        try {
            ClusterCodec.decodeCommand(request.getMessage().getContent().toByteArray());
        } catch (RuntimeException e) {
            trx.setException(new IllegalArgumentException("control command does not decode: " + e.getMessage(), e));
        }
        return trx;
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        TermIndex termIndex = TermIndex.valueOf(entry);
        byte[] bytes = entry.getStateMachineLogEntry().getLogData().toByteArray();
        ApplyResult result;
        ClusterView changed = null;
        synchronized (stateLock) {
            long before = state.version();
            try {
                result = state.apply(ClusterCodec.decodeCommand(bytes));
            } catch (RuntimeException e) {
                // Deterministic on every peer (same bytes, same state), so the replicas stay equal; the entry
                // is consumed so the log does not stall behind it.
                updateLastAppliedTermIndex(termIndex);
                LOG.error("control-plane entry {} failed to apply", termIndex, e);
                return CompletableFuture.failedFuture(e);
            }
            updateLastAppliedTermIndex(termIndex);
            Verify.that(state.version() >= before, "cluster version went back from %d to %d at %s", before,
                    state.version(), termIndex);
            if (state.version() != before) {
                changed = state.view();
            }
        }
        if (result instanceof ApplyResult.Refused) {
            commandsRefused.incrementAndGet();
        } else {
            commandsApplied.incrementAndGet();
        }
        if (changed != null) {
            publish(changed, false);
        }
        return CompletableFuture.completedFuture(Message.valueOf(
                ByteString.copyFrom(ClusterCodec.encodeResult(result))));
    }

    /**
     * Makes a new view current: the controller first (it must not act on an older one), then listeners.
     * Applies only move forward; a snapshot load replaces whatever was there.
     */
    private void publish(ClusterView view, boolean reload) {
        synchronized (controllerLock) {
            Verify.that(reload || view.version() > currentView.version(), "applied view version %d after %d",
                    view.version(), currentView.version());
            ClusterView before = currentView;
            currentView = view;
            if (!reload && controller.isLeader()) {
                // Failover time: from the failed member's last heartbeat to the committed view
                // that declared it dead and moved its partitions to new epochs.
                long now = clockMs.getAsLong();
                for (io.ferrydb.core.cluster.Member m : view.members().values()) {
                    io.ferrydb.core.cluster.Member was = before.member(m.id());
                    Long last = controller.heartbeatAgesMs(now).get(m.id());
                    if (m.liveness() == io.ferrydb.core.cluster.Liveness.DEAD && was != null
                            && was.liveness() != io.ferrydb.core.cluster.Liveness.DEAD && last != null) {
                        failovers.add(last);
                    }
                }
            }
            controller.onApplied(view);
        }
        for (Consumer<ClusterView> l : viewListeners) {
            try {
                l.accept(view);
            } catch (RuntimeException e) {
                LOG.warn("control-plane view listener failed on version {}", view.version(), e);
            }
        }
    }

    // --- reads ---

    @Override
    public CompletableFuture<Message> query(Message request) {
        byte[] q = request.getContent().toByteArray();
        try {
            if (q.length == 0) {
                throw new IllegalArgumentException("empty control query");
            }
            byte[] answer = switch (q[0]) {
                case ControlQuery.HEARTBEAT -> onHeartbeat(ClusterCodec.decodeHeartbeat(ControlQuery.body(q)));
                case ControlQuery.VIEW -> ClusterCodec.encodeView(currentView);
                case ControlQuery.HISTORY -> {
                    int partition = ControlQuery.historyPartition(q);
                    String namespace = ControlQuery.historyNamespace(q);
                    synchronized (stateLock) {
                        yield ClusterCodec.encodeHistory(state.history(namespace, partition));
                    }
                }
                default -> throw new IllegalArgumentException("unknown control query kind " + q[0]);
            };
            return CompletableFuture.completedFuture(Message.valueOf(
                    ByteString.copyFrom(answer)));
        } catch (RuntimeException e) {
            // A garbled query is the caller's problem: fail it, keep serving. Only a StateMachineException
            // becomes an error reply; anything else breaks the client's stream and is retried until its deadline.
            LOG.debug("control query refused: {}", e.toString());
            return CompletableFuture.failedFuture(new StateMachineException(
                    "bad control query (" + q.length + " bytes): " + e));
        }
    }

    private byte[] onHeartbeat(HeartbeatRequest request) {
        // Linearizable reads also run on followers (after asking the leader for a read index), and a peer that
        // stepped down may not have heard of a new leader yet: only a current Raft leader may grant a lease.
        // Others point the caller to the leader they know.
        if (!isRaftLeader()) {
            RaftServer.Division d = division();
            RaftPeerId leader = d == null ? null : d.getInfo().getLeaderId();
            return ControlQuery.redirect(leader == null ? "" : leader.toString());
        }
        HeartbeatReply reply;
        synchronized (controllerLock) {
            reply = controller.onHeartbeat(request, clockMs.getAsLong());
        }
        return ControlQuery.answered(ClusterCodec.encodeHeartbeatReply(reply));
    }

    // --- leadership ---

    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        boolean self = groupMemberId.getPeerId().equals(newLeaderId);
        leaderChangeCount.incrementAndGet();
        synchronized (controllerLock) {
            if (self) {
                // This view may miss entries the previous leader committed; onApplied brings them in as they apply.
                controller.becameLeader(clockMs.getAsLong(), currentView);
                LOG.info("{} is control-plane leader (view version {})", groupMemberId.getPeerId(), currentView.version());
            } else if (controller.isLeader()) {
                controller.lostLeadership();
                LOG.info("{} lost control-plane leadership to {}", groupMemberId.getPeerId(), newLeaderId);
            }
        }
    }

    // Ratis tells a leader that steps down here even when no new leader is known yet.
    @Override
    public void notifyNotLeader(Collection<TransactionContext> pendingEntries) {
        synchronized (controllerLock) {
            if (controller.isLeader()) {
                controller.lostLeadership();
                LOG.info("{} stepped down as control-plane leader", getId());
            }
        }
    }

    boolean isRaftLeader() {
        RaftServer.Division d = division();
        return d != null && d.getInfo().isLeader();
    }

    private RaftServer.Division division() {
        RaftServer.Division d = division;
        if (d == null && getServer().isDone()) {
            try {
                d = getServer().join().getDivision(getGroupId());
                division = d;
            } catch (IOException e) {
                return null;
            }
        }
        return d;
    }

    // --- for the control plane ---

    void tick() {
        if (!isRaftLeader()) {
            return;
        }
        synchronized (controllerLock) {
            if (controller.isLeader()) {
                controller.tick(clockMs.getAsLong());
            }
        }
    }

    Map<String, Long> heartbeatAgesMs() {
        synchronized (controllerLock) {
            return controller.isLeader() ? controller.heartbeatAgesMs(clockMs.getAsLong()) : Map.of();
        }
    }

    boolean controllerIsLeader() {
        synchronized (controllerLock) {
            return controller.isLeader();
        }
    }

    ClusterView currentView() {
        return currentView;
    }

    void addViewListener(Consumer<ClusterView> listener) {
        viewListeners.add(listener);
    }

    int historyLimitPerPartition() {
        return historyLimitPerPartition;
    }

    long leaderChangeCount() {
        return leaderChangeCount.get();
    }

    long commandsApplied() {
        return commandsApplied.get();
    }

    long commandsRefused() {
        return commandsRefused.get();
    }

    long snapshotsTaken() {
        return snapshotsTaken.get();
    }

    long snapshotsLoaded() {
        return snapshotsLoaded.get();
    }

    /** The newest snapshot on disk, or null. */
    SingleFileSnapshotInfo latestSnapshot() {
        return storage.getLatestSnapshot();
    }
}
