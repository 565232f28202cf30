package io.ferrydb.server.mirror;

import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.loss.FailoverCheck;
import io.ferrydb.proto.HoldsAnswer;
import io.ferrydb.proto.HoldsQuery;
import io.ferrydb.proto.HoldsRequest;
import io.ferrydb.proto.HoldsResponse;
import io.ferrydb.core.mirror.AckTriplet;
import io.ferrydb.core.mirror.MirrorPartition;
import io.ferrydb.core.mirror.MirrorReply;
import io.ferrydb.core.mirror.ReplicateBatch;
import io.ferrydb.core.store.PartitionInfo;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.proto.FerryMirrorGrpc;
import io.ferrydb.proto.MirrorAck;
import io.ferrydb.proto.MirrorAcks;
import io.ferrydb.proto.MirrorBatch;
import io.ferrydb.api.Digest;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.proto.SyncKind;
import io.ferrydb.proto.MirrorCopy;
import io.ferrydb.proto.MirrorMessage;
import io.ferrydb.proto.FlushScope;
import io.ferrydb.proto.LoopFlush;
import io.ferrydb.server.storage.GroupCommitter;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A node's mirror side: receives its masters' streams, drives one
 * {@link MirrorPartition} per mirrored partition, writes its flushes to the
 * {@link RecordStore} (fsync through the group committer when a change asked for
 * SYNC) and answers with triplets. Flushes run synchronously under the partition's
 * lock, on the transport thread or the flush timer, so there is never one in flight
 * outside it. A copy (resync) replaces the partition wholesale.
 */
public final class MirrorReceiver extends FerryMirrorGrpc.FerryMirrorImplBase implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorReceiver.class);

    private final String nodeId;
    private final LossReporter losses;
    private final RecordStore store;
    private final GroupCommitter committer;
    private final MirrorPartition.Config config;
    private final Map<String, Held> partitions = new ConcurrentHashMap<>();
    /** Partitions with cached changes: the only ones the flush timer visits. */
    private final java.util.Set<Held> caching = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer;
    /**
     * Sync messages (probes and chunks: store scans, record writes, fsync waits) are applied
     * here, in arrival order, not on the transport thread: a decommission's thousands of
     * clones share each master's stream with its mirrored writes, and every ALL write's batch
     * queued behind them for seconds (HandoffBenchmark). Batches of a partition being synced
     * are ignored anyway, and its master streams again only after the last chunk's answer.
     */
    private final java.util.concurrent.ExecutorService syncs = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "ferry-mirror-sync");
        t.setDaemon(true);
        return t;
    });
    private final Counter batches;
    private final Counter divergentMarked;
    private final Counter entriesApplied;
    private final Counter refusals;
    private final Counter copies;
    private final Counter fencedSyncs;
    private final Counter released;
    private final Counter bulksReceived;
    private final Counter ackMessages;

    /**
     * The acknowledgements owed to one master's stream. Everything answered in one
     * transport cycle, one flush tick or one group commit leaves as one message
     * ({@link LoopFlush}, {@link FlushScope}): a message per partition per flush used to
     * double the messages per write.
     */
    private final class Outbox {
        private final StreamObserver<MirrorAcks> out;
        private final java.util.Queue<MirrorAck> queue = new java.util.concurrent.ConcurrentLinkedQueue<>();
        private final LoopFlush loopFlush = new LoopFlush(this::drain);

        Outbox(StreamObserver<MirrorAcks> out) {
            this.out = out;
        }

        void add(MirrorAck a) {
            queue.add(a);
            if (!FlushScope.deferIfActive(this, this::drain)) {
                loopFlush.request();
            }
        }

        private void drain() {
            synchronized (out) {
                MirrorAcks.Builder b = null;
                MirrorAck a;
                while ((a = queue.poll()) != null) {
                    if (b == null) {
                        b = MirrorAcks.newBuilder();
                    }
                    b.addAcks(a);
                }
                if (b == null) {
                    return;
                }
                ackMessages.increment();
                try {
                    out.onNext(b.build());
                } catch (RuntimeException closed) {
                    // the master's stream is gone; it will ask again
                }
            }
        }

        void completed() {
            synchronized (out) {
                drain();
                try {
                    out.onCompleted();
                } catch (RuntimeException closed) {
                    // already gone
                }
            }
        }
    }

    /** A mirrored partition and the stream its master listens on. */
    private static final class Held {
        /** Guards state; a lock, not a monitor, so a flush tick can hold many (tryLock, never waiting). */
        final java.util.concurrent.locks.ReentrantLock lock = new java.util.concurrent.locks.ReentrantLock();
        final MirrorPartition state;
        Outbox replyTo;

        Held(MirrorPartition state) {
            this.state = state;
        }
    }

    public MirrorReceiver(String nodeId, RecordStore store, GroupCommitter committer, MirrorPartition.Config config,
                          LossReporter losses, MeterRegistry registry) {
        this.nodeId = nodeId;
        this.losses = losses;
        this.store = store;
        this.committer = committer;
        this.config = config;
        this.batches = Counter.builder("ferry_mirror_batches_received").description("replication batches received as a mirror").register(registry);
        this.divergentMarked = Counter.builder("ferry_mirror_marked_divergent")
                .description("replicas a failover check found holding a tail beyond the new master (not promotable until synced)").register(registry);
        this.entriesApplied = Counter.builder("ferry_mirror_entries_flushed").description("changes a mirror wrote to storage").register(registry);
        this.refusals = Counter.builder("ferry_mirror_batches_refused").description("batches refused (stale epoch, gap, diverged)").register(registry);
        this.bulksReceived = Counter.builder("ferry_mirror_bulk_loads_received").description("bulk loads received as a mirror").register(registry);
        this.ackMessages = Counter.builder("ferry_mirror_ack_messages_sent").description("stream messages carrying acknowledgements to masters").register(registry);
        this.released = Counter.builder("ferry_partitions_released").description("partitions dropped because this node is no replica of them any more (divergent tail accounted first)").register(registry);
        this.fencedSyncs = Counter.builder("ferry_mirror_syncs_fenced").description("sync messages refused because they came from a master older than an epoch this replica has seen").register(registry);
        this.copies = Counter.builder("ferry_mirror_copies_received").description("partition copies (resyncs) received").register(registry);
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ferry-mirror-flush");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(1, config.flushIntervalMs() / 2);
        timer.scheduleWithFixedDelay(this::tick, period, period, TimeUnit.MILLISECONDS);
    }

    private static String key(String ns, int p) {
        return ns + "/" + p;
    }

    private Held held(String ns, int p) {
        return partitions.computeIfAbsent(key(ns, p), k -> {
            PartitionInfo info = store.partitionInfo(ns, p);
            return new Held(new MirrorPartition(ns, p, info.epoch(), info.lastLsn(), store.epochAt(ns, p, info.lastLsn()), config));
        });
    }

    @Override
    public StreamObserver<MirrorMessage> stream(StreamObserver<MirrorAcks> stream) {
        Outbox out = new Outbox(stream);
        return new StreamObserver<>() {
            @Override
            public void onNext(MirrorMessage m) {
                try {
                    if (m.hasCopy()) {
                        MirrorCopy copy = m.getCopy();
                        syncs.execute(() -> {
                            try {
                                sync(copy, out);
                            } catch (RuntimeException e) {
                                LOG.error("sync message {} of {}/{} from {} failed", copy.getKind(), copy.getNamespace(), copy.getPartition(),
                                        m.getFromNode(), e);
                            }
                        });
                    }
                    if (m.hasBulk()) {
                        bulk(m.getBulk());
                    }
                    if (m.hasRelease()) {
                        answerRelease(m.getFromNode(), m.getRelease(), out);
                    }
                    // The flushes the message's batches start are written as one group after
                    // them (their partitions stay locked until then).
                    List<Held> group = new ArrayList<>();
                    List<MirrorPartition.Flush> flushes = new ArrayList<>();
                    List<MirrorAck> acks = new ArrayList<>();
                    try {
                        for (MirrorBatch b : m.getBatchesList()) {
                            MirrorReply r = batch(b, out, group, flushes);
                            if (r != null) {
                                acks.add(toProto(r));
                            }
                        }
                    } finally {
                        for (MirrorAck a : acks) {
                            out.add(a);
                        }
                        writeGroup(group, flushes);
                    }
                } catch (RuntimeException e) {
                    LOG.error("mirror stream from {} failed", m.getFromNode(), e);
                    synchronized (stream) {
                        stream.onError(io.grpc.Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).asRuntimeException());
                    }
                    return;
                }
            }

            @Override
            public void onError(Throwable t) {
                // The master went away; its partitions keep their state for the next stream.
            }

            @Override
            public void onCompleted() {
                out.completed();
            }
        };
    }

    /** Bulk loads received and not yet ingested, by partition key and load id: they wait for their BULK_LOAD entry. */
    private final Map<String, Map<Long, List<byte[][]>>> pendingBulks = new ConcurrentHashMap<>();

    private void bulk(io.ferrydb.proto.MirrorBulk b) {
        String k = key(b.getNamespace(), b.getPartition());
        if (syncing.contains(k)) {
            return; // the sync brings the records, or the BULK_LOAD entry finds them missing and asks for another
        }
        List<byte[][]> kvs = new ArrayList<>(b.getKeysCount());
        for (int i = 0; i < b.getKeysCount(); i++) {
            kvs.add(new byte[][] {b.getKeys(i).toByteArray(), b.getValues(i).toByteArray()});
        }
        pendingBulks.computeIfAbsent(k, x -> new ConcurrentHashMap<>()).put(b.getLoadId(), kvs);
        bulksReceived.increment();
    }

    /**
     * Applies one batch to the partition's cache. A flush it starts is left to the caller's
     * group (the partition stays locked) unless it holds a bulk load, which is written here.
     */
    private MirrorReply batch(MirrorBatch b, Outbox out, List<Held> group, List<MirrorPartition.Flush> flushes) {
        batches.increment();
        if (syncing.contains(key(b.getNamespace(), b.getPartition()))) {
            return null; // a sync is rewriting the partition; the master streams again after it
        }
        List<LogEntry> entries = new ArrayList<>(b.getEntriesCount());
        for (com.google.protobuf.ByteString e : b.getEntriesList()) {
            entries.add(LogEntry.decode(e.toByteArray()));
        }
        ReplicateBatch rb = new ReplicateBatch(b.getNamespace(), b.getPartition(), b.getEpoch(), b.getPrevLsn(), entries, b.getDurableThroughLsn());
        Held h = held(b.getNamespace(), b.getPartition());
        h.lock.lock();
        boolean grouped = false;
        try {
            // A BULK_LOAD entry new to this mirror needs the load's records, sent before it.
            Map<Long, List<byte[][]>> pending = pendingBulks.getOrDefault(key(b.getNamespace(), b.getPartition()), Map.of());
            for (LogEntry e : entries) {
                if (e.op() == io.ferrydb.core.log.LogOp.BULK_LOAD && e.lsn() > h.state.holds().receivedLsn()
                        && !pending.containsKey(RecordStore.bulkLoadId(e))) {
                    refusals.increment();
                    LOG.info("{}/{}: bulk load at lsn {} came without its records; asking for a resync", b.getNamespace(), b.getPartition(), e.lsn());
                    AckTriplet holds = h.state.holds();
                    return new MirrorReply.Refused(b.getNamespace(), b.getPartition(), h.state.epoch(), MirrorReply.Reason.DIVERGED,
                            holds.receivedLsn() + 1, holds);
                }
            }
            h.replyTo = out;
            MirrorPartition.Step step = h.state.onBatch(rb, System.currentTimeMillis());
            MirrorReply reply = step.reply();
            if (reply instanceof MirrorReply.Refused refused) {
                refusals.increment();
                if (refused.reason() == MirrorReply.Reason.STALE_EPOCH) {
                    // A deposed master: keep no mirror state (this node may master the partition now).
                    partitions.remove(key(b.getNamespace(), b.getPartition()), h);
                }
            }
            MirrorPartition.Flush f = step.flush();
            if (f != null && !hasBulkLoad(f)) {
                // Written with the message's other flushes; the answer after it follows this one.
                group.add(h);
                flushes.add(f);
                grouped = true;
            } else {
                MirrorReply flushed = startFlush(h, f);
                if (flushed != null) {
                    // Written at once (no fsync): the newer answer says so. Dropping it left the
                    // master believing the changes were only cached until its resend timer fired.
                    reply = flushed;
                }
            }
            if (h.state.holds().cachedCount() > 0) {
                caching.add(h);
            }
            return reply;
        } finally {
            if (!grouped) {
                h.lock.unlock();
            }
        }
    }

    /**
     * Writes a flush to the store now; a SYNC one completes when the group committer's
     * next fsync does (shared with every other partition's flushes and the node's own
     * writes), then the mirror acknowledges and may start the next flush. Caller holds h.
     * Returns the answer to send when the flush completed at once (no fsync), else null.
     */
    private MirrorReply startFlush(Held h, MirrorPartition.Flush f) {
        if (f == null) {
            return null;
        }
        write(f);
        if (!f.fsync()) {
            return finishFlush(h, f);
        }
        whenDurable(committer.awaitDurable(), h, f);
        return null;
    }

    /** A SYNC flush written to the store: once {@code durable} completes, the mirror acknowledges it and may flush on. */
    private void whenDurable(java.util.concurrent.CompletableFuture<Void> durable, Held h, MirrorPartition.Flush f) {
        durable.whenComplete((v, e) -> {
            if (e != null) {
                LOG.error("fsync for mirrored {}/{} failed", f.namespace(), f.partition(), e);
                return;
            }
            MirrorReply reply;
            Outbox to;
            h.lock.lock();
            try {
                if (partitions.get(key(f.namespace(), f.partition())) != h) {
                    return; // replaced by a copy or a promotion meanwhile
                }
                reply = finishFlush(h, f);
                to = h.replyTo;
            } finally {
                h.lock.unlock();
            }
            if (reply != null && to != null) {
                to.add(toProto(reply));
            }
        });
    }

    /** Caller holds h. Returns the acknowledgement to send (the one after the last flush completed synchronously). */
    private MirrorReply finishFlush(Held h, MirrorPartition.Flush f) {
        MirrorPartition.Step done = h.state.onFlushed(f, System.currentTimeMillis());
        MirrorPartition.Flush next = done.flush();
        if (next == null) {
            return done.reply();
        }
        if (!next.fsync()) {
            write(next);
            return finishFlush(h, next);
        }
        startFlush(h, next);
        return done.reply();
    }

    /** Partitions a sync is writing: batches for them are ignored until its last chunk. */
    private final java.util.Set<String> syncing = ConcurrentHashMap.newKeySet();
    /** The master's epoch starts of each sync in progress (they come with its first chunk). */
    private final Map<String, List<EpochStart>> syncStarts = new ConcurrentHashMap<>();

    /**
     * One message of a sync: a probe (answer what the store holds), or a chunk to apply
     * (the first of a copy truncates and accounts for a divergent tail; a tracked-keys
     * sync keeps the records and drops the log; a log replay appends). Each chunk is
     * acknowledged so the master sends the next; the last one installs the master's
     * position and is acknowledged after an fsync. A chunk that cannot be applied is
     * answered with why, and the master escalates.
     */
    /** Whether this node masters a partition (with its epoch adopted) of which {@code asker} holds no replica. */
    public interface ReleaseCheck {
        boolean mayRelease(String ns, int p, String asker);
    }

    private volatile ReleaseCheck releaseCheck = (ns, p, asker) -> false;
    /** Orders a release against the start of a sync into the same partition (the probe marks it syncing). */
    private final Object releaseLock = new Object();

    public void releaseCheck(ReleaseCheck check) {
        this.releaseCheck = check;
    }

    /**
     * A node that holds data of a partition without being its replica asks for this
     * master's history; answered only while this node masters it and the asker is no replica
     * of it here (the asker's view may lag behind one that added it back: it asks again).
     */
    private void answerRelease(String asker, io.ferrydb.proto.MirrorRelease r, Outbox out) {
        String ns = r.getNamespace();
        int p = r.getPartition();
        if (!releaseCheck.mayRelease(ns, p, asker)) {
            return;
        }
        PartitionInfo info = store.partitionInfo(ns, p);
        MirrorAck.Builder ack = MirrorAck.newBuilder().setNamespace(ns).setPartition(p).setEpoch(info.epoch()).setCommittedLsn(info.lastLsn())
                .setRelease(true);
        for (EpochStart s : store.epochStarts(ns, p)) {
            ack.addEpochStarts(io.ferrydb.proto.EpochStart.newBuilder().setEpoch(s.epoch()).setStartLsn(s.startLsn()).setCacheLost(s.cacheLost()));
        }
        out.add(ack.build());
    }

    /**
     * Drops a partition this node is no replica of, after accounting for its divergent tail
     * against the master's history ({@link RecordStore#release}). Refused (false) while a
     * sync into the partition is in progress. Returns whether it was released.
     */
    public boolean release(String ns, int p, MirrorAck history, String master) {
        String k = key(ns, p);
        synchronized (releaseLock) {
            if (syncing.contains(k)) {
                return false;
            }
            Held h = partitions.remove(k);
            if (h != null) {
                caching.remove(h);
                h.lock.lock(); // a flush of it in progress finishes first
                h.lock.unlock();
            }
            List<EpochStart> starts = new ArrayList<>(history.getEpochStartsCount());
            for (io.ferrydb.proto.EpochStart s : history.getEpochStartsList()) {
                starts.add(new EpochStart(s.getEpoch(), s.getStartLsn(), s.getCacheLost()));
            }
            long held = store.partitionInfo(ns, p).lastLsn();
            io.ferrydb.core.loss.DivergentTail.Accounting a = store.release(ns, p, (int) history.getEpoch(), history.getCommittedLsn(), starts, nodeId);
            losses.recorded(a);
            released.increment();
            if (a.records().isEmpty()) {
                LOG.debug("released {} (no replica here; held through lsn {}) against master {}'s history through lsn {} epoch {}", k, held,
                        master, history.getCommittedLsn(), history.getEpoch());
            } else {
                LOG.info("released {} (no replica here; held through lsn {}) against master {}'s history through lsn {} epoch {}: {} loss records",
                        k, held, master, history.getCommittedLsn(), history.getEpoch(), a.records().size());
            }
        }
        committer.asyncWritten();
        return true;
    }

    /** The newest epoch of the partition this node has seen: its store's, or its mirror state's. */
    private long knownEpoch(String ns, int p) {
        long epoch = store.partitionInfo(ns, p).epoch();
        Held h = partitions.get(key(ns, p));
        if (h != null) {
            h.lock.lock();
            try {
                epoch = Math.max(epoch, h.state.epoch());
            } finally {
                h.lock.unlock();
            }
        }
        return epoch;
    }

    private void sync(MirrorCopy c, Outbox out) {
        String ns = c.getNamespace();
        int p = c.getPartition();
        String k = key(ns, p);
        MirrorAck.Builder ack = MirrorAck.newBuilder().setNamespace(ns).setPartition(p).setEpoch(c.getEpoch()).setSession(c.getSession());
        long known = knownEpoch(ns, p);
        if (c.getMasterEpoch() > 0 && c.getMasterEpoch() < known) {
            // A deposed master (its view is old: cut off from the control plane, not from us)
            // must not copy its history over the newer one this replica has seen. The node
            // simulation found it: an old master resynced the new master itself and wiped
            // its acknowledged writes.
            fencedSyncs.increment();
            long last = store.partitionInfo(ns, p).lastLsn();
            LOG.info("refusing a {} of {} from a master in epoch {}: this replica has seen epoch {}", c.getKind(), k,
                    c.getMasterEpoch(), known);
            out.add(ack.setFenced(true).setEpoch(known).setCommittedLsn(last).setCacheStartLsn(last + 1).setCacheEndLsn(last).build());
            return;
        }
        if (c.getKind() == SyncKind.PROBE) {
            synchronized (releaseLock) {
                syncing.add(k);
            }
            Held h = partitions.remove(k);
            if (h != null) {
                caching.remove(h);
                h.lock.lock(); // a flush of it in progress finishes before the store is read
                h.lock.unlock();
            }
            PartitionInfo info = store.partitionInfo(ns, p);
            long last = info.lastLsn();
            ack.setProbe(true).setEpoch(info.epoch()).setCommittedLsn(last).setCacheStartLsn(last + 1).setCacheEndLsn(last)
                    .setLastEntryEpoch(last == 0 ? 0 : store.epochAt(ns, p, last)).setHasRecords(store.countRecords(ns, p) > 0);
            out.add(ack.build());
            return;
        }
        try {
            switch (c.getKind()) {
                case LOG -> {
                    List<LogEntry> entries = new ArrayList<>(c.getEntriesCount());
                    for (com.google.protobuf.ByteString e : c.getEntriesList()) {
                        entries.add(LogEntry.decode(e.toByteArray()));
                    }
                    long at = store.partitionInfo(ns, p).lastLsn();
                    if (!entries.isEmpty() && entries.get(0).lsn() != at + 1) {
                        throw new IllegalStateException("log replay chunk starts at lsn " + entries.get(0).lsn() + " but this replica is at " + at);
                    }
                    if (!entries.isEmpty()) {
                        store.applyReplicated(ns, p, entries);
                    }
                }
                case COPY, TRACKED -> {
                    if (c.getSeq() == 0) {
                        List<EpochStart> starts = new ArrayList<>(c.getEpochStartsCount());
                        for (io.ferrydb.proto.EpochStart s : c.getEpochStartsList()) {
                            starts.add(new EpochStart(s.getEpoch(), s.getStartLsn(), s.getCacheLost()));
                        }
                        syncStarts.put(k, starts);
                        losses.recorded(store.beginSync(ns, p, c.getKind() == SyncKind.COPY, (int) c.getEpoch(), c.getThroughLsn(), starts, nodeId));
                    } else if (!syncStarts.containsKey(k)) {
                        throw new IllegalStateException("chunk " + c.getSeq() + " of a sync whose first chunk this replica did not apply");
                    }
                    List<byte[]> records = new ArrayList<>(c.getRecordsCount());
                    for (com.google.protobuf.ByteString r : c.getRecordsList()) {
                        records.add(r.toByteArray());
                    }
                    List<Digest> gone = new ArrayList<>(c.getGoneCount());
                    for (com.google.protobuf.ByteString d : c.getGoneList()) {
                        gone.add(Digest.wrap(d.toByteArray()));
                    }
                    store.applySyncRecords(ns, p, records, gone);
                    if (c.getLast()) {
                        store.finishSync(ns, p, (int) c.getEpoch(), c.getThroughLsn(), c.getLastHlc(), syncStarts.remove(k));
                    }
                }
                default -> throw new IllegalStateException("unknown sync kind " + c.getKind());
            }
        } catch (RuntimeException e) {
            LOG.info("sync chunk {} of {} ({}) not applied: {}", c.getSeq(), k, c.getKind(), e.getMessage());
            syncStarts.remove(k);
            out.add(ack.setSyncFailed(String.valueOf(e.getMessage())).build());
            return;
        }
        committer.asyncWritten();
        if (!c.getLast()) {
            out.add(ack.setChunkSeq(c.getSeq() + 1).build());
            return;
        }
        copies.increment();
        PartitionInfo info = store.partitionInfo(ns, p);
        if (info.lastLsn() != c.getThroughLsn()) {
            out.add(ack.setSyncFailed("after the last chunk this replica is at lsn " + info.lastLsn() + ", not " + c.getThroughLsn()).build());
            return;
        }
        Held fresh = new Held(new MirrorPartition(ns, p, c.getEpoch(), c.getThroughLsn(), store.epochAt(ns, p, c.getThroughLsn()), config));
        fresh.replyTo = out;
        partitions.put(k, fresh);
        syncing.remove(k);
        LOG.debug("synced {} through lsn {} by {} from the master", k, c.getThroughLsn(), c.getKind());
        ack.setCacheStartLsn(c.getThroughLsn() + 1).setCacheEndLsn(c.getThroughLsn()).setCommittedLsn(c.getThroughLsn()).setCopied(true);
        committer.awaitDurable().whenComplete((v, e) -> {
            if (e == null) {
                out.add(ack.build());
            } else {
                LOG.error("fsync after syncing {} failed", k, e);
            }
        });
    }

    private void write(MirrorPartition.Flush f) {
        // A bulk load's records are ingested exactly where its BULK_LOAD entry stands.
        int from = 0;
        List<LogEntry> entries = f.entries();
        for (int i = 0; i < entries.size(); i++) {
            LogEntry e = entries.get(i);
            if (e.op() != io.ferrydb.core.log.LogOp.BULK_LOAD) {
                continue;
            }
            if (i > from) {
                store.applyReplicated(f.namespace(), f.partition(), entries.subList(from, i));
            }
            Map<Long, List<byte[][]>> pending = pendingBulks.get(key(f.namespace(), f.partition()));
            List<byte[][]> kvs = pending == null ? null : pending.remove(RecordStore.bulkLoadId(e));
            io.ferrydb.core.Verify.that(kvs != null, "bulk load at lsn %d of %s/%d without its records", e.lsn(), f.namespace(), f.partition());
            store.applyBulk(f.namespace(), f.partition(), kvs);
            from = i;
        }
        store.applyReplicated(f.namespace(), f.partition(), from == 0 ? entries : entries.subList(from, entries.size()));
        entriesApplied.increment(f.entries().size());
        committer.asyncWritten();
    }

    /** Flushes by age and tells the masters (one message per master for the whole tick). */
    private void tick() {
        try {
            FlushScope.run(this::flushDue);
        } catch (RuntimeException e) {
            LOG.error("mirror flush failed", e); // and the timer keeps running: an exception would cancel it
        }
    }

    /** Partitions flushed by one storage write at most (the locks of all of them are held meanwhile). */
    private static final int FLUSH_GROUP = 512;

    /**
     * Flushes every partition whose cache is due. The flushes of many partitions go to
     * the store as one write ({@link RecordStore#applyReplicatedAll}; the SYNC ones then
     * share one wait for the group committer's fsync):
     * under load a tick finds thousands of partitions holding a change or two each, and a
     * write per partition cost more than the changes. A partition whose lock is busy (its
     * master's batch being applied) waits for the next tick.
     */
    private void flushDue() {
        long now = System.currentTimeMillis();
        List<Held> group = new ArrayList<>();
        List<MirrorPartition.Flush> flushes = new ArrayList<>();
        try {
            for (Held h : caching) {
                if (!h.lock.tryLock()) {
                    continue;
                }
                boolean keep = false;
                try {
                    if (h.state.holds().cachedCount() == 0) {
                        caching.remove(h);
                        continue;
                    }
                    MirrorPartition.Flush f = h.state.tick(now);
                    if (f == null) {
                        continue;
                    }
                    if (hasBulkLoad(f)) {
                        startFlush(h, f);
                        continue;
                    }
                    group.add(h);
                    flushes.add(f);
                    keep = true;
                } finally {
                    if (!keep) {
                        h.lock.unlock();
                    }
                }
                if (group.size() >= FLUSH_GROUP) {
                    writeGroup(group, flushes);
                }
            }
        } finally {
            writeGroup(group, flushes);
        }
    }

    private static boolean hasBulkLoad(MirrorPartition.Flush f) {
        for (LogEntry e : f.entries()) {
            if (e.op() == io.ferrydb.core.log.LogOp.BULK_LOAD) {
                return true;
            }
        }
        return false;
    }

    /** Writes the grouped flushes (their partitions locked by this thread), answers, unlocks, and clears the lists. */
    private void writeGroup(List<Held> group, List<MirrorPartition.Flush> flushes) {
        if (group.isEmpty()) {
            return;
        }
        try {
            List<RecordStore.Replicated> changes = new ArrayList<>(flushes.size());
            int entries = 0;
            for (MirrorPartition.Flush f : flushes) {
                changes.add(new RecordStore.Replicated(f.namespace(), f.partition(), f.entries()));
                entries += f.entries().size();
            }
            store.applyReplicatedAll(changes);
            entriesApplied.increment(entries);
            committer.asyncWritten();
            java.util.concurrent.CompletableFuture<Void> durable = null;
            for (int i = 0; i < group.size(); i++) {
                Held h = group.get(i);
                MirrorPartition.Flush f = flushes.get(i);
                if (f.fsync()) {
                    // One fsync (the group committer's next) for every SYNC flush of the group.
                    if (durable == null) {
                        durable = committer.awaitDurable();
                    }
                    whenDurable(durable, h, f);
                    continue;
                }
                MirrorReply reply = finishFlush(h, f);
                if (reply != null && h.replyTo != null) {
                    h.replyTo.add(toProto(reply));
                }
            }
        } finally {
            for (Held h : group) {
                h.lock.unlock();
            }
            group.clear();
            flushes.clear();
        }
    }

    /**
     * This node becomes the partition's master: what its cache acknowledged is written to
     * the store and the mirror state dropped. Returns whether anything was written; the
     * caller makes it durable once for all partitions promoted together ({@link #sync}).
     */
    public boolean promote(String ns, int p) {
        syncing.remove(key(ns, p));
        Held h = partitions.remove(key(ns, p));
        if (h == null) {
            return false;
        }
        caching.remove(h);
        h.lock.lock();
        try {
            // A flush may be waiting for its fsync: its changes are in the store already.
            MirrorPartition.Flush f = h.state.flushAll();
            if (f != null) {
                write(f);
            }
            return true;
        } finally {
            h.lock.unlock();
        }
    }

    /**
     * After {@link #promote}: the failover check. The failed master had reported
     * {@code reportedLsn}; writes of epoch {@code lostEpoch} beyond what this replica holds
     * are recorded as a FAILOVER loss. Made durable by the {@link #sync} that follows.
     */
    public void checkFailoverGap(String ns, int p, long lostEpoch, long newEpoch, String failedMaster, long reportedLsn,
                                 List<FailoverCheck.Survivor> survivors, List<String> unreached) {
        io.ferrydb.core.loss.LossRecord r = store.recordFailoverGap(ns, p, lostEpoch, newEpoch, failedMaster, reportedLsn, survivors,
                unreached, nodeId);
        if (r != null) {
            losses.recorded(r);
        }
    }

    /**
     * Answers a promoted replica's failover check: for each partition asked, what this
     * node holds (its mirror triplet, or its stored log when it mirrors nothing of it now)
     * and the entries it holds above the asker's end, from its log and its cache.
     */
    @Override
    public void holds(HoldsRequest request, StreamObserver<HoldsResponse> response) {
        try {
            HoldsResponse.Builder out = HoldsResponse.newBuilder().setNode(nodeId);
            if (store.namespaces().stream().noneMatch(n -> n.name().equals(request.getNamespace()))) {
                throw new IllegalArgumentException("namespace: no namespace '" + request.getNamespace() + "' on node " + nodeId);
            }
            for (HoldsQuery q : request.getPartitionsList()) {
                if (q.getPartition() >= io.ferrydb.api.Limits.PARTITION_COUNT) {
                    throw new IllegalArgumentException("partitions.partition: must be below " + io.ferrydb.api.Limits.PARTITION_COUNT
                            + ", got " + q.getPartition());
                }
                FailoverCheck.Survivor s = holdsAbove(request.getNamespace(), q.getPartition(), q.getAboveLsn());
                if (q.getEpoch() > 0 && store.markDivergent(request.getNamespace(), q.getPartition(), q.getEpoch(), q.getAboveLsn())) {
                    // A tail beyond where the asker's epoch continues: not promotable until synced.
                    LOG.warn("{}/{}: stores lsn {} beyond {}, where {}'s epoch {} continues: not promotable until a sync rewrites it",
                            request.getNamespace(), q.getPartition(), s.holds().committedLsn(), q.getAboveLsn(), request.getFromNode(),
                            q.getEpoch());
                    divergentMarked.increment();
                }
                HoldsAnswer.Builder a = HoldsAnswer.newBuilder().setPartition(q.getPartition())
                        .setCacheStartLsn(s.holds().cacheStartLsn()).setCacheEndLsn(s.holds().cacheEndLsn())
                        .setCommittedLsn(s.holds().committedLsn());
                for (FailoverCheck.HeldEntry e : s.above()) {
                    a.addAbove(io.ferrydb.proto.HeldEntry.newBuilder().setLsn(e.lsn()).setEpoch(e.epoch())
                            .setDigest(com.google.protobuf.ByteString.copyFrom(e.digest().toBytes())));
                }
                out.addPartitions(a);
            }
            LOG.info("failover check from {}: answered for {} partitions of {}", request.getFromNode(), request.getPartitionsCount(),
                    request.getNamespace());
            response.onNext(out.build());
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(io.grpc.Status.INVALID_ARGUMENT.withDescription(String.valueOf(e.getMessage())).asRuntimeException());
        }
    }

    /** What this node holds of a partition for a failover check: its triplet and the entries above {@code lsn}. */
    public FailoverCheck.Survivor holdsAbove(String ns, int p, long lsn) {
        int max = io.ferrydb.core.loss.LossRecord.MAX_DIGESTS;
        Held h = partitions.get(key(ns, p));
        if (h == null) {
            long last = store.partitionInfo(ns, p).lastLsn();
            List<LogEntry> logged = last > lsn ? store.readLog(ns, p, lsn + 1, max) : List.of();
            return FailoverCheck.Survivor.of(nodeId, AckTriplet.durable(last), logged, List.of(), lsn);
        }
        h.lock.lock();
        try {
            long last = store.partitionInfo(ns, p).lastLsn();
            List<LogEntry> logged = last > lsn ? store.readLog(ns, p, lsn + 1, max) : List.of();
            return FailoverCheck.Survivor.of(nodeId, h.state.holds(), logged, h.state.cachedAbove(lsn), lsn);
        } finally {
            h.lock.unlock();
        }
    }

    /** Waits for an fsync of everything written so far (after promotions). */
    public void sync() {
        committer.awaitDurable().join();
    }

    /** What this node holds of a partition as a mirror (for status), or null. */
    public AckTriplet holds(String ns, int p) {
        Held h = partitions.get(key(ns, p));
        if (h == null) {
            return null;
        }
        h.lock.lock();
        try {
            return h.state.holds();
        } finally {
            h.lock.unlock();
        }
    }

    static MirrorAck toProto(MirrorReply r) {
        MirrorAck.Builder b = MirrorAck.newBuilder().setNamespace(r.namespace()).setPartition(r.partition()).setEpoch(r.epoch());
        AckTriplet t;
        if (r instanceof MirrorReply.Refused ref) {
            b.setRefused(ref.reason().ordinal() + 1).setExpectedLsn(ref.expectedLsn());
            t = ref.holds();
        } else {
            t = ((MirrorReply.Acked) r).holds();
        }
        return b.setCacheStartLsn(t.cacheStartLsn()).setCacheEndLsn(t.cacheEndLsn()).setCommittedLsn(t.committedLsn()).build();
    }

    static MirrorReply fromProto(MirrorAck a) {
        AckTriplet t = new AckTriplet(a.getCacheStartLsn(), a.getCacheEndLsn(), a.getCommittedLsn());
        if (a.getRefused() == 0) {
            return new MirrorReply.Acked(a.getNamespace(), a.getPartition(), a.getEpoch(), t);
        }
        return new MirrorReply.Refused(a.getNamespace(), a.getPartition(), a.getEpoch(),
                MirrorReply.Reason.values()[a.getRefused() - 1], a.getExpectedLsn(), t);
    }

    @Override
    public void close() {
        timer.shutdownNow();
        syncs.shutdownNow();
    }
}
