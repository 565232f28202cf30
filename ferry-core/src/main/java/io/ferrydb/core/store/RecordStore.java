package io.ferrydb.core.store;

import io.ferrydb.api.Digest;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Hlc;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.Verify;
import io.ferrydb.core.clock.Clock;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.log.AckPolicy;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.loss.DivergentTail;
import io.ferrydb.core.loss.LossRecord;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.RecordCodec;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.record.WritePlan;
import io.ferrydb.core.record.WritePlanner;
import io.ferrydb.core.storage.Batch;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.storage.Cursor;
import io.ferrydb.core.storage.KeyLayout;
import io.ferrydb.core.storage.Storage;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;
import java.util.function.Predicate;

/**
 * The record engine of one node: applies writes to the data column family together
 * with their partition-log entry and the partition's high-water mark, in one atomic
 * batch.
 *
 * <p>Per partition, a lock orders writes so that the LSN sequence is gapless: the lsn
 * is assigned, the batch written and the high-water mark advanced under the same
 * lock. Because a crash keeps a prefix of completed batches (see {@link Storage}),
 * recovery finds the log contiguous and resumes at the last committed LSN + 1; it
 * verifies that on every start. Durability (sync) is the caller's business: the
 * store writes, the runtime decides when to fsync.
 */
public final class RecordStore {
    /** Epoch of a single node that has never been in a cluster. */
    public static final int INITIAL_EPOCH = 1;

    private final Storage storage;
    private final Clock clock;
    private final HybridLogicalClock hlc;
    private final Map<String, NamespaceState> namespaces = new LinkedHashMap<>();

    public final LongAdder putsApplied = new LongAdder();
    public final LongAdder deletesApplied = new LongAdder();
    public final LongAdder expiredPurged = new LongAdder();
    public final LongAdder tombstonesPurged = new LongAdder();
    public final LongAdder logEntriesTrimmed = new LongAdder();
    /** Loss ledger ids: handed out atomically (partitions account for divergent tails concurrently). */
    private final java.util.concurrent.atomic.AtomicLong nextLossId = new java.util.concurrent.atomic.AtomicLong(1);

    private static final class NamespaceState {
        final NamespaceConfig config;
        final PartitionState[] partitions = new PartitionState[Limits.PARTITION_COUNT];

        NamespaceState(NamespaceConfig config, int index) {
            this.config = config;
            for (int p = 0; p < partitions.length; p++) {
                partitions[p] = new PartitionState((long) index * Limits.PARTITION_COUNT + p, p);
            }
        }
    }

    /** Fields guarded by {@link #lock}. */
    private static final class PartitionState {
        final ReentrantLock lock = new ReentrantLock();
        /** Global lock order: namespace index × 4096 + partition. */
        final long order;
        final int partition;
        int epoch = INITIAL_EPOCH;
        /** Written under the lock; volatile so that reports may read it without the lock ({@link #lastLsnUnlocked}). */
        volatile long lastLsn;
        long lastHlc;
        long firstLsn = 1;
        long logBytes;
        long logEntries;
        // Staged by a batch being built, committed after its write succeeds.
        long stagedLsn;
        long stagedBytes;
        long stagedHlc;
        /** The epoch the partition had when this process opened the store. */
        int epochAtOpen = INITIAL_EPOCH;
        /** Where recent epochs began in this partition's log (persisted in meta). */
        List<EpochStart> epochStarts = List.of();
        /** Digests changed since a mirror went away (persisted in meta), or null when not tracking. */
        Tracking tracking;
        /**
         * A sync is rewriting this replica (persisted in meta from its first chunk to its last):
         * what it holds is neither its old copy nor the master's, so it must not be promoted.
         */
        volatile boolean rewriting;

        PartitionState(long order, int partition) {
            this.order = order;
            this.partition = partition;
        }

        void lock() {
            lock.lock();
        }

        void unlock() {
            lock.unlock();
        }
    }

    /** Change tracking of one partition: the digests written since {@code sinceLsn}, up to {@code maxKeys}. */
    private static final class Tracking {
        final long sinceLsn;
        final int maxKeys;
        boolean overflowed;
        final java.util.Set<Digest> keys = new java.util.HashSet<>();

        Tracking(long sinceLsn, int maxKeys, boolean overflowed) {
            this.sinceLsn = sinceLsn;
            this.maxKeys = maxKeys;
            this.overflowed = overflowed;
        }
    }

    /** What a partition's change tracking holds: since which LSN, how many digests, and whether it gave up (too many). */
    public record TrackingInfo(long sinceLsn, int keys, int maxKeys, boolean overflowed) {}

    private RecordStore(Storage storage, Clock clock, HybridLogicalClock hlc, Collection<NamespaceConfig> configs) {
        this.storage = storage;
        this.clock = clock;
        this.hlc = hlc;
        Map<String, String> codes = new HashMap<>();
        for (NamespaceConfig c : configs) {
            Verify.that(namespaces.put(c.name(), new NamespaceState(c, namespaces.size())) == null, "namespace %s configured twice", c.name());
            String other = codes.put(java.util.HexFormat.of().formatHex(KeyLayout.namespaceCode(c.name())), c.name());
            if (other != null) {
                throw FerryException.invalid("namespaces '%s' and '%s' share a key code; rename one of them", other, c.name());
            }
        }
    }

    /**
     * Opens the store and recovers every partition's position from meta and log.
     * {@code progress} receives the number of log entries scanned so far.
     */
    public static RecordStore open(Storage storage, Clock clock, HybridLogicalClock hlc,
                                   Collection<NamespaceConfig> configs, LongConsumer progress) {
        RecordStore store = new RecordStore(storage, clock, hlc, configs);
        store.recover(progress);
        return store;
    }

    /**
     * Rebuilds every partition's position. The log is authoritative; {@code meta}
     * holds the high-water mark written when retention trims the log, so the LSN
     * sequence continues even when a whole log was trimmed.
     */
    private void recover(LongConsumer progress) {
        long scanned = 0;
        long maxHlc = 0;
        for (Map.Entry<String, NamespaceState> e : namespaces.entrySet()) {
            String ns = e.getKey();
            for (PartitionState ps : e.getValue().partitions) {
                byte[] meta = storage.get(Column.META, KeyLayout.metaPartitionKey(ns, ps.partition));
                long metaLastLsn = 0;
                if (meta != null) {
                    ps.epoch = KeyLayout.epochOfMeta(meta);
                    metaLastLsn = KeyLayout.lastLsnOfMeta(meta);
                    maxHlc = Math.max(maxHlc, KeyLayout.hlcOfMeta(meta));
                    ps.lastHlc = KeyLayout.hlcOfMeta(meta);
                }
                byte[] prefix = KeyLayout.partitionPrefix(ns, ps.partition);
                long prev = -1;
                try (Cursor c = storage.scan(Column.LOG, prefix, KeyLayout.prefixEnd(prefix))) {
                    while (c.next()) {
                        long lsn = KeyLayout.lsnOfLogKey(c.key());
                        Verify.that(prev == -1 || lsn == prev + 1, "log gap in %s/%d: %d then %d", ns, ps.partition, prev, lsn);
                        if (prev == -1) {
                            ps.firstLsn = lsn;
                            Verify.that(lsn <= metaLastLsn + 1, "log of %s/%d starts at %d but the trimmed high-water mark is %d",
                                    ns, ps.partition, lsn, metaLastLsn);
                        }
                        prev = lsn;
                        ps.logBytes += c.key().length + c.value().length;
                        ps.logEntries++;
                        long entryHlc = LogEntry.hlcOf(c.value());
                        maxHlc = Math.max(maxHlc, entryHlc);
                        ps.lastHlc = Math.max(ps.lastHlc, entryHlc);
                        if (++scanned % 100_000 == 0) {
                            progress.accept(scanned);
                        }
                    }
                }
                if (prev != -1) {
                    Verify.that(prev >= metaLastLsn, "partition %s/%d: log ends at %d below the high-water mark %d", ns, ps.partition, prev, metaLastLsn);
                    ps.lastLsn = prev;
                } else {
                    ps.lastLsn = metaLastLsn;
                    ps.firstLsn = metaLastLsn + 1;
                }
                ps.stagedLsn = ps.lastLsn;
                ps.epochAtOpen = ps.epoch;
                byte[] starts = storage.get(Column.META, KeyLayout.metaEpochStartsKey(ns, ps.partition));
                if (starts != null) {
                    ps.epochStarts = EpochStart.decode(starts);
                }
                ps.rewriting = storage.get(Column.META, KeyLayout.metaRewritingKey(ns, ps.partition)) != null;
                byte[] tracking = storage.get(Column.META, KeyLayout.metaTrackingKey(ns, ps.partition));
                if (tracking != null) {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(tracking);
                    ps.tracking = new Tracking(b.getLong(), b.getInt(), b.get() == 1);
                    byte[] tp = KeyLayout.trackedPrefix(ns, ps.partition);
                    try (Cursor c = storage.scan(Column.META, tp, KeyLayout.prefixEnd(tp))) {
                        while (c.next()) {
                            ps.tracking.keys.add(KeyLayout.digestOfTrackedKey(c.key()));
                        }
                    }
                }
            }
        }
        try (Cursor c = storage.scan(Column.META, KeyLayout.lossPrefix(), KeyLayout.prefixEnd(KeyLayout.lossPrefix()))) {
            while (c.next()) {
                long id = LossRecord.decode(c.value()).id();
                nextLossId.accumulateAndGet(id + 1, Math::max);
            }
        }
        // The HLC must not go back across a restart even if the wall clock did.
        hlc.update(maxHlc);
        progress.accept(scanned);
    }

    public Collection<NamespaceConfig> namespaces() {
        List<NamespaceConfig> out = new ArrayList<>();
        for (NamespaceState s : namespaces.values()) {
            out.add(s.config);
        }
        return out;
    }

    public NamespaceConfig namespace(String field, String name) {
        NamespaceState s = namespaces.get(name);
        if (s == null) {
            throw new FerryException(ErrorCode.INVALID_ARGUMENT,
                    String.format("%s '%s' is not a configured namespace (configured: %s)", field, name, namespaces.keySet()));
        }
        return s.config;
    }

    private NamespaceState state(String name) {
        namespace("key.namespace", name);
        return namespaces.get(name);
    }

    /** The live record, or null if absent, deleted or expired. */
    public StoredRecord get(Key key) {
        state(key.namespace());
        StoredRecord r = readRaw(key.namespace(), key.digest());
        return r != null && r.isLive(clock.wallMillis()) ? r : null;
    }

    private StoredRecord readRaw(String ns, Digest digest) {
        byte[] bytes = storage.get(Column.DATA, KeyLayout.dataKey(ns, digest));
        return bytes == null ? null : RecordCodec.decode(bytes);
    }

    public WriteOutcome put(Key key, List<BinValidator.NamedValue> bins, WritePolicy policy) {
        state(key.namespace());
        BinValidator.check("bins", bins);
        return writeAll(List.of(new WriteOp.Put(key, bins, policy))).get(0);
    }

    public WriteOutcome delete(Key key, WritePolicy policy) {
        state(key.namespace());
        return writeAll(List.of(new WriteOp.Delete(key, policy))).get(0);
    }

    /**
     * Applies writes in order as one atomic storage batch: the partitions involved are
     * locked in a global order, each write sees the ones before it (also to the same
     * key), and LSNs are assigned per partition in order. One WriteBatch for many
     * writes shares the WAL append and the write-thread hand-off between them.
     * Invalid writes are refused individually; the others still apply.
     */
    public List<WriteOutcome> writeAll(List<WriteOp> ops) {
        return writeAll(ops, null);
    }

    /**
     * {@link #writeAll(List)}, calling {@code whileLocked} with the outcomes before the
     * partitions' locks are released: whatever it does for the written changes happens
     * in LSN order per partition (mirroring hands them to the replicator there).
     */
    public List<WriteOutcome> writeAll(List<WriteOp> ops, java.util.function.Consumer<List<WriteOutcome>> whileLocked) {
        WriteOutcome[] out = new WriteOutcome[ops.size()];
        PartitionState[] pss = new PartitionState[ops.size()];
        List<PartitionState> locks = new ArrayList<>();
        for (int i = 0; i < ops.size(); i++) {
            WriteOp op = ops.get(i);
            try {
                NamespaceState ns = state(op.key().namespace());
                if (op instanceof WriteOp.Put put) {
                    BinValidator.check("bins", put.bins());
                }
                pss[i] = ns.partitions[op.key().digest().partition()];
                if (!locks.contains(pss[i])) {
                    locks.add(pss[i]);
                }
            } catch (FerryException e) {
                out[i] = new WriteOutcome.Refused(e.code(), e.reason());
            }
        }
        locks.sort((a, b) -> Long.compare(a.order, b.order));
        for (PartitionState ps : locks) {
            ps.lock();
        }
        try {
            Batch batch = new Batch();
            Map<String, StoredRecord> overlay = new HashMap<>();
            long nowMs = clock.wallMillis();
            for (int i = 0; i < ops.size(); i++) {
                if (out[i] == null) {
                    out[i] = stageOne(ops.get(i), pss[i], batch, overlay, nowMs);
                }
            }
            if (!batch.isEmpty()) {
                try {
                    storage.write(batch);
                } catch (RuntimeException e) {
                    for (PartitionState ps : locks) {
                        unstage(ps);
                    }
                    throw e;
                }
            }
            for (PartitionState ps : locks) {
                commitStaged(ps);
            }
            if (whileLocked != null) {
                whileLocked.accept(java.util.Arrays.asList(out));
            }
        } finally {
            for (int i = locks.size() - 1; i >= 0; i--) {
                locks.get(i).unlock();
            }
        }
        for (WriteOutcome o : out) {
            if (o instanceof WriteOutcome.Written w) {
                if (w.op() == LogOp.DELETE) {
                    deletesApplied.increment();
                } else {
                    putsApplied.increment();
                }
            }
        }
        return java.util.Arrays.asList(out);
    }

    private WriteOutcome stageOne(WriteOp op, PartitionState ps, Batch batch, Map<String, StoredRecord> overlay, long nowMs) {
        String ns = op.key().namespace();
        Digest digest = op.key().digest();
        String overlayKey = ns + '/' + digest.toHex();
        StoredRecord current = overlay.containsKey(overlayKey) ? overlay.get(overlayKey) : readRaw(ns, digest);
        long ts = hlc.now();
        WritePlan plan;
        LogOp logOp;
        if (op instanceof WriteOp.Put put) {
            plan = WritePlanner.planPut(namespaces.get(ns).config, put.key(), current, put.bins(), put.policy(), put.expiresAtMs(), nowMs, ts);
            logOp = LogOp.PUT;
        } else {
            plan = WritePlanner.planDelete(current, op.policy(), nowMs, ts);
            logOp = LogOp.DELETE;
            if (plan == null) {
                return new WriteOutcome.Absent();
            }
        }
        if (plan instanceof WritePlan.Refuse r) {
            return new WriteOutcome.Refused(r.code(), r.message());
        }
        WritePlan.Apply apply = (WritePlan.Apply) plan;
        NamespaceConfig config = namespaces.get(ns).config;
        AckPolicy ack = AckPolicy.of(op.policy().commitLevel() != null ? op.policy().commitLevel() : config.defaultCommitLevel(),
                op.policy().durability() != null ? op.policy().durability() : config.defaultDurability());
        LogEntry entry = stage(ns, ps, logOp, ack, digest, ts, apply.encoded(), false, batch);
        overlay.put(overlayKey, apply.record());
        return new WriteOutcome.Written(ps.epoch, entry.lsn(), apply.record().generation(), ts, logOp, entry);
    }

    /**
     * Adds a change and its log entry to {@code batch} and stages the partition's next
     * LSN. Caller holds the partition lock and later commits or unstages.
     */
    private LogEntry stage(String ns, PartitionState ps, LogOp op, AckPolicy ack, Digest digest, long ts, byte[] image,
                           boolean removeData, Batch batch) {
        long lsn = ps.stagedLsn + 1;
        LogEntry entry = new LogEntry(ps.epoch, lsn, ts, op, ack, digest, image);
        stageEntry(ns, ps, entry, removeData, batch);
        if (op != LogOp.BULK_LOAD) {
            track(ns, ps, digest, batch);
        }
        return entry;
    }

    /** Adds a logged change (ours or the master's) to {@code batch} and stages its LSN. */
    private void stageEntry(String ns, PartitionState ps, LogEntry entry, boolean removeData, Batch batch) {
        long lsn = entry.lsn();
        Verify.that(lsn == ps.stagedLsn + 1, "log gap in %s/%d: staged=%d lsn=%d", ns, ps.partition, ps.stagedLsn, lsn);
        Digest digest = entry.digest();
        byte[] image = entry.afterImage();
        long ts = entry.hlc();
        byte[] logKey = KeyLayout.logKey(ns, ps.partition, lsn);
        byte[] logValue = entry.encode();
        byte[] dataKey = KeyLayout.dataKey(ns, digest);
        if (entry.op() == LogOp.BULK_LOAD) {
            // A boundary only: the bulk load's records were ingested, not logged.
        } else if (removeData) {
            batch.delete(Column.DATA, dataKey);
        } else {
            batch.put(Column.DATA, dataKey, image);
        }
        batch.put(Column.LOG, logKey, logValue);
        ps.stagedLsn = lsn;
        ps.stagedBytes += logKey.length + logValue.length;
        ps.stagedHlc = ts;
    }

    /**
     * A mirror applies the master's changes, consecutive after its last LSN, as one
     * atomic batch: the records' after-images and the same log entries, so its log is a
     * copy of the master's. The partition takes the entries' epoch and the node's clock
     * advances past their HLC timestamps. Returns the last LSN applied.
     */
    public long applyReplicated(String ns, int partition, List<LogEntry> entries) {
        applyReplicatedAll(List.of(new Replicated(ns, partition, entries)));
        return state(ns).partitions[partition].lastLsn;
    }

    /** Changes a mirror applies to one partition: consecutive after its last LSN. */
    public record Replicated(String namespace, int partition, List<LogEntry> entries) {
        public Replicated {
            Verify.that(!entries.isEmpty(), "no entries to apply to %s/%d", namespace, partition);
        }
    }

    /**
     * {@link #applyReplicated} for many partitions (each at most once) as one storage
     * write: a mirror flushing thousands of partitions with a change or two each pays one
     * WAL append and one write-thread hand-off, not one per partition.
     */
    public void applyReplicatedAll(List<Replicated> changes) {
        List<PartitionState> locks = new ArrayList<>(changes.size());
        for (Replicated r : changes) {
            checkPartition(r.partition());
            PartitionState ps = state(r.namespace()).partitions[r.partition()];
            Verify.that(!locks.contains(ps), "%s/%d twice in one replicated write", r.namespace(), r.partition());
            locks.add(ps);
        }
        List<PartitionState> ordered = new ArrayList<>(locks);
        ordered.sort((a, b) -> Long.compare(a.order, b.order));
        for (PartitionState ps : ordered) {
            ps.lock();
        }
        try {
            Batch batch = new Batch();
            int[] epochs = new int[changes.size()];
            List<List<EpochStart>> starts = new ArrayList<>(changes.size());
            try {
                for (int i = 0; i < changes.size(); i++) {
                    Replicated r = changes.get(i);
                    PartitionState ps = locks.get(i);
                    starts.add(stageReplicated(r.namespace(), r.partition(), ps, r.entries(), batch));
                    epochs[i] = r.entries().get(r.entries().size() - 1).epoch();
                }
                storage.write(batch);
            } catch (RuntimeException e) {
                for (PartitionState ps : locks) {
                    unstage(ps);
                }
                throw e;
            }
            for (int i = 0; i < changes.size(); i++) {
                PartitionState ps = locks.get(i);
                commitStaged(ps);
                ps.epoch = epochs[i];
                ps.epochStarts = starts.get(i);
            }
        } finally {
            for (int i = ordered.size() - 1; i >= 0; i--) {
                ordered.get(i).unlock();
            }
        }
    }

    /** Stages one partition's replicated entries into {@code batch}; returns its epoch starts after them. Caller holds the lock. */
    private List<EpochStart> stageReplicated(String ns, int partition, PartitionState ps, List<LogEntry> entries, Batch batch) {
        int epoch = ps.epoch;
        List<EpochStart> starts = ps.epochStarts;
        for (LogEntry e : entries) {
            Verify.that(e.epoch() >= epoch, "replicated entry %d of %s/%d from epoch %d after epoch %d", e.lsn(), ns, partition, e.epoch(), epoch);
            if (e.epoch() > EpochStart.epochAt(starts, e.lsn())) {
                starts = EpochStart.append(starts, new EpochStart(e.epoch(), e.lsn(), false));
            }
            epoch = e.epoch();
            stageEntry(ns, ps, e, e.op() == LogOp.EXPIRE, batch);
            hlc.update(e.hlc());
        }
        if (epoch != ps.epoch) {
            batch.put(Column.META, KeyLayout.metaPartitionKey(ns, partition), KeyLayout.metaPartitionValue(epoch, ps.stagedLsn, ps.stagedHlc));
        }
        if (starts != ps.epochStarts) {
            batch.put(Column.META, KeyLayout.metaEpochStartsKey(ns, partition), EpochStart.encode(starts));
        }
        return starts;
    }

    private static void commitStaged(PartitionState ps) {
        long added = ps.stagedLsn - ps.lastLsn;
        Verify.that(added >= 0, "staged lsn %d below last %d", ps.stagedLsn, ps.lastLsn);
        if (added > 0) {
            ps.lastLsn = ps.stagedLsn;
            ps.logEntries += added;
            ps.logBytes += ps.stagedBytes;
            ps.lastHlc = ps.stagedHlc;
        }
        ps.stagedBytes = 0;
    }

    private static void unstage(PartitionState ps) {
        ps.stagedLsn = ps.lastLsn;
        ps.stagedBytes = 0;
    }

    /** Writes one change and its log entry on its own. Caller holds the partition lock. */
    private LogEntry append(String ns, PartitionState ps, LogOp op, Digest digest, long ts, byte[] image, boolean removeData) {
        Batch batch = new Batch();
        LogEntry entry = stage(ns, ps, op, AckPolicy.NONE, digest, ts, image, removeData, batch);
        writeStaged(ps, batch);
        return entry;
    }

    /** Writes a batch staged on one partition and commits its position; on failure unstages. Caller holds the lock. */
    private void writeStaged(PartitionState ps, Batch batch) {
        try {
            storage.write(batch);
        } catch (RuntimeException e) {
            unstage(ps);
            throw e;
        }
        commitStaged(ps);
    }

    /** A consistent copy of one partition: its stored records (tombstones too) through {@code lastLsn}. */
    public record PartitionSnapshot(int epoch, long lastLsn, long lastHlc, List<byte[]> records, List<EpochStart> epochStarts) {
        public PartitionSnapshot {
            epochStarts = List.copyOf(epochStarts);
        }
    }

    /**
     * Reads the partition's stored records under its lock, so the copy is exactly the
     * state at {@code lastLsn}: the source of a resync by copy.
     */
    public PartitionSnapshot snapshotPartition(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        ps.lock();
        try {
            List<byte[]> records = new ArrayList<>();
            try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
                while (c.next()) {
                    records.add(c.value());
                }
            }
            return new PartitionSnapshot(ps.epoch, ps.lastLsn, ps.lastHlc, records, ps.epochStarts);
        } finally {
            ps.unlock();
        }
    }

    /**
     * A mirror replaces its copy of the partition with the master's snapshot: records
     * and position (epoch, last LSN) as the master had them; its own log of the partition
     * is dropped, so its log resumes gaplessly at {@code lastLsn + 1}. Entries of its log
     * that a newer epoch of the master replaced (its divergent tail) are accounted for
     * first: the acknowledged ones go into the loss ledger in the same atomic batch.
     * {@code node} names this node in the ledger.
     */
    public DivergentTail.Accounting replacePartition(String ns, int partition, PartitionSnapshot snapshot, String node) {
        DivergentTail.Accounting accounting = beginSync(ns, partition, true, snapshot.epoch(), snapshot.lastLsn(), snapshot.epochStarts(), node);
        applySyncRecords(ns, partition, snapshot.records(), List.of());
        finishSync(ns, partition, snapshot.epoch(), snapshot.lastLsn(), snapshot.lastHlc(), snapshot.epochStarts());
        return accounting;
    }

    /**
     * This replica's entries at LSNs where the snapshot's master logged a newer epoch:
     * the first epoch start of the master that finds an older entry of ours at its LSN
     * begins the divergent tail, which runs to our last LSN. Caller holds the lock.
     */
    private DivergentTail.Accounting divergentTail(String ns, PartitionState ps, PartitionSnapshot snapshot, String node) {
        List<EpochStart> masterStarts = new ArrayList<>(snapshot.epochStarts());
        if (masterStarts.isEmpty() || masterStarts.get(masterStarts.size() - 1).epoch() < snapshot.epoch()) {
            // The master's current epoch began after its last logged start (no write in it yet).
            masterStarts.add(new EpochStart(snapshot.epoch(), snapshot.lastLsn() + 1, false));
        }
        for (EpochStart start : masterStarts) {
            if (start.startLsn() > ps.lastLsn) {
                break;
            }
            if (start.startLsn() < ps.firstLsn) {
                continue; // our log no longer reaches back there
            }
            byte[] ours = storage.get(Column.LOG, KeyLayout.logKey(ns, ps.partition, start.startLsn()));
            if (ours == null || LogEntry.decode(ours).epoch() >= start.epoch()) {
                continue;
            }
            List<LogEntry> tail = readLog(ns, ps.partition, start.startLsn(), Integer.MAX_VALUE);
            return DivergentTail.account(ns, ps.partition, tail, start, node, clock.wallMillis(), nextLossId::getAndIncrement);
        }
        return new DivergentTail.Accounting(List.of(), 0);
    }

    // ---- bulk load ------------------------------------------------------------------

    /** One record of a bulk load. */
    public record BulkRecord(Key key, List<BinValidator.NamedValue> bins) {}

    /** A partition's share of a bulk load, encoded and sorted by storage key, ready to ingest. */
    public record BulkPlan(String namespace, int partition, long loadId, List<byte[][]> keyValues, List<Digest> digests) {
        public BulkPlan {
            keyValues = List.copyOf(keyValues);
            digests = List.copyOf(digests);
        }
    }

    /**
     * Validates and encodes one partition's records of a bulk load (each a new record:
     * generation 1, the namespace's TTL, this node's HLC time; a key given twice keeps
     * its last). Refuses the whole set with INVALID_ARGUMENT naming the record's index.
     */
    public BulkPlan planBulk(String ns, int partition, long loadId, List<BulkRecord> records) {
        checkPartition(partition);
        NamespaceConfig config = state(ns).config;
        long nowMs = clock.wallMillis();
        java.util.TreeMap<byte[], byte[]> sorted = new java.util.TreeMap<>(java.util.Arrays::compareUnsigned);
        java.util.Map<Digest, Boolean> digests = new java.util.LinkedHashMap<>();
        for (int i = 0; i < records.size(); i++) {
            BulkRecord r = records.get(i);
            if (!r.key().namespace().equals(ns) || r.key().partition() != partition) {
                throw FerryException.invalid("records[%d].key %s is not of namespace %s partition %d", i, r.key(), ns, partition);
            }
            BinValidator.check("records[" + i + "].bins", r.bins());
            WritePlan plan = WritePlanner.planPut(config, r.key(), null, r.bins(), WritePolicy.DEFAULT, nowMs, hlc.now());
            if (plan instanceof WritePlan.Refuse refuse) {
                throw new FerryException(refuse.code(), "records[" + i + "]: " + refuse.message(), null, false);
            }
            sorted.put(KeyLayout.dataKey(ns, r.key().digest()), ((WritePlan.Apply) plan).encoded());
            digests.put(r.key().digest(), true);
        }
        List<byte[][]> kvs = new ArrayList<>(sorted.size());
        sorted.forEach((k, v) -> kvs.add(new byte[][] {k, v}));
        return new BulkPlan(ns, partition, loadId, kvs, new ArrayList<>(digests.keySet()));
    }

    /**
     * The master ingests a bulk load: under the partition's lock it first runs
     * {@code beforeIngest} (the runtime hands the records to the mirrors there, so they
     * are ordered exactly after the changes logged before), ingests the records without
     * log entries, then logs one BULK_LOAD entry: the LSN boundary that change streams and
     * resyncs see. Changes tracked for an absent mirror include the loaded keys.
     */
    public LogEntry ingestBulk(BulkPlan plan, Runnable beforeIngest, java.util.function.Consumer<LogEntry> whileLocked) {
        String ns = plan.namespace();
        PartitionState ps = state(ns).partitions[plan.partition()];
        ps.lock();
        try {
            beforeIngest.run();
            storage.ingest(Column.DATA, plan.keyValues());
            Batch batch = new Batch();
            for (Digest d : plan.digests()) {
                track(ns, ps, d, batch);
            }
            byte[] image = new io.ferrydb.core.record.ByteWriter(16).i64(plan.keyValues().size()).i64(plan.loadId()).toByteArray();
            LogEntry marker = stage(ns, ps, LogOp.BULK_LOAD, AckPolicy.ALL_SYNC, Digest.wrap(new byte[20]), hlc.now(), image, false, batch);
            writeStaged(ps, batch);
            putsApplied.add(plan.keyValues().size());
            whileLocked.accept(marker);
            return marker;
        } finally {
            ps.unlock();
        }
    }

    /** A mirror ingests the master's bulk load records (its BULK_LOAD entry follows in the stream). */
    public void applyBulk(String ns, int partition, List<byte[][]> keyValues) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            storage.ingest(Column.DATA, keyValues);
        } finally {
            ps.unlock();
        }
    }

    /** The load id of a BULK_LOAD entry. */
    public static long bulkLoadId(LogEntry marker) {
        Verify.that(marker.op() == LogOp.BULK_LOAD, "lsn %d is a %s entry, not a bulk load", marker.lsn(), marker.op());
        io.ferrydb.core.record.ByteReader r = new io.ferrydb.core.record.ByteReader(marker.afterImage());
        r.i64();
        return r.i64();
    }

    // ---- change tracking (master side, while a mirror is away) ----------------------

    /**
     * Starts recording the digests written to the partition from {@code sinceLsn} on,
     * durably (a key per digest in meta, in the same batch as the write) and at most
     * {@code maxKeys} of them: past that it marks itself overflowed (a resync must copy)
     * and stops adding. Digests already logged from {@code sinceLsn} are added now.
     * Tracking already running from an earlier LSN is kept.
     */
    public void startTracking(String ns, int partition, long sinceLsn, int maxKeys) {
        checkPartition(partition);
        Verify.that(maxKeys >= 1, "maxKeys must be >= 1, got %d", maxKeys);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            if (ps.tracking != null && ps.tracking.sinceLsn <= sinceLsn) {
                return;
            }
            Batch batch = new Batch();
            if (ps.tracking != null) {
                clearTracked(ns, ps, batch);
            }
            long from = Math.max(1, sinceLsn);
            boolean covered = from >= ps.firstLsn || from > ps.lastLsn;
            ps.tracking = new Tracking(from, maxKeys, !covered);
            if (covered) {
                for (LogEntry e : readLog(ns, partition, from, Integer.MAX_VALUE)) {
                    if (e.op() == LogOp.BULK_LOAD) {
                        // Its records have no log entries to seed from: only a copy will do.
                        ps.tracking.overflowed = true;
                        break;
                    }
                    track(ns, ps, e.digest(), batch);
                }
            }
            batch.put(Column.META, KeyLayout.metaTrackingKey(ns, partition), trackingValue(ps.tracking));
            storage.write(batch);
        } finally {
            ps.unlock();
        }
    }

    /** Stops tracking the partition (every mirror is back in sync) and forgets its digests. */
    public void stopTracking(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            if (ps.tracking == null) {
                return;
            }
            Batch batch = new Batch();
            clearTracked(ns, ps, batch);
            storage.write(batch);
            ps.tracking = null;
        } finally {
            ps.unlock();
        }
    }

    public TrackingInfo tracking(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            Tracking t = ps.tracking;
            return t == null ? null : new TrackingInfo(t.sinceLsn, t.keys.size(), t.maxKeys, t.overflowed);
        } finally {
            ps.unlock();
        }
    }

    private void clearTracked(String ns, PartitionState ps, Batch batch) {
        for (Digest d : ps.tracking.keys) {
            batch.delete(Column.META, KeyLayout.trackedKey(ns, ps.partition, d));
        }
        batch.delete(Column.META, KeyLayout.metaTrackingKey(ns, ps.partition));
    }

    /** Adds a written digest to the partition's tracking, if it tracks. Caller holds the lock. */
    private void track(String ns, PartitionState ps, Digest digest, Batch batch) {
        Tracking t = ps.tracking;
        if (t == null || t.overflowed || t.keys.contains(digest)) {
            return;
        }
        if (t.keys.size() >= t.maxKeys) {
            t.overflowed = true;
            batch.put(Column.META, KeyLayout.metaTrackingKey(ns, ps.partition), trackingValue(t));
            return;
        }
        t.keys.add(digest);
        batch.put(Column.META, KeyLayout.trackedKey(ns, ps.partition, digest), new byte[0]);
    }

    private static byte[] trackingValue(Tracking t) {
        return java.nio.ByteBuffer.allocate(13).putLong(t.sinceLsn).putInt(t.maxKeys).put((byte) (t.overflowed ? 1 : 0)).array();
    }

    /**
     * The current state of every tracked digest, consistent at the partition's last LSN:
     * stored records (tombstones too) and the digests with nothing stored any more. The
     * source of a resync by tracked keys; null when the partition does not track from
     * {@code neededFromLsn} or gave up.
     */
    public TrackedSnapshot snapshotTracked(String ns, int partition, long neededFromLsn) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            Tracking t = ps.tracking;
            if (t == null || t.overflowed || t.sinceLsn > neededFromLsn) {
                return null;
            }
            List<byte[]> records = new ArrayList<>();
            List<Digest> gone = new ArrayList<>();
            for (Digest d : new java.util.TreeSet<>(t.keys)) {
                byte[] v = storage.get(Column.DATA, KeyLayout.dataKey(ns, d));
                if (v == null) {
                    gone.add(d);
                } else {
                    records.add(v);
                }
            }
            return new TrackedSnapshot(new PartitionSnapshot(ps.epoch, ps.lastLsn, ps.lastHlc, records, ps.epochStarts), gone);
        } finally {
            ps.unlock();
        }
    }

    /** A resync by tracked keys: the records to write and the digests to delete. */
    public record TrackedSnapshot(PartitionSnapshot snapshot, List<Digest> gone) {
        public TrackedSnapshot {
            gone = List.copyOf(gone);
        }
    }

    /**
     * The epoch this node's log holds at {@code lsn}: the entry's own epoch while the log
     * reaches back there, else from the partition's epoch starts; 0 when unknown.
     */
    public long epochAt(String ns, int partition, long lsn) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        byte[] entry = storage.get(Column.LOG, KeyLayout.logKey(ns, partition, lsn));
        if (entry != null) {
            return LogEntry.decode(entry).epoch();
        }
        ps.lock();
        try {
            if (lsn < 1 || lsn > ps.lastLsn) {
                return 0;
            }
            long epoch = EpochStart.epochAt(ps.epochStarts, lsn);
            // Before the first recorded start: the partition's first epoch, which a master
            // never records (adopting the initial epoch changes nothing), unless the list was
            // trimmed. Answering 0 there made every resync of such a mirror a full copy.
            return epoch == 0 && ps.epochStarts.size() < EpochStart.KEPT ? INITIAL_EPOCH : epoch;
        } finally {
            ps.unlock();
        }
    }

    /**
     * Runs {@code action} holding the partition's lock, which writers hold while they hand a
     * change to mirroring ({@link #writeAll} with {@code whileLocked}): no write of the
     * partition interleaves, and a caller that also takes a lock writers take inside theirs
     * (a replicator's) must take it inside this one, in that order. (A sync's start took
     * the replicator first and the partition second, and deadlocked with a write of the
     * partition: HandoffBenchmark, a node's writes stuck until it was declared failed.)
     */
    public <T> T withPartitionLocked(String ns, int partition, java.util.function.Supplier<T> action) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            return action.get();
        } finally {
            ps.unlock();
        }
    }

    /** Where the partition's recent epochs began in its log (ascending): what a replica's divergent tail is judged against. */
    public List<EpochStart> epochStarts(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            return List.copyOf(ps.epochStarts);
        } finally {
            ps.unlock();
        }
    }

    /**
     * Drops a partition this node no longer holds a replica of, after accounting for its
     * divergent tail against the master's history ({@code masterEpoch}, {@code masterLastLsn},
     * {@code masterStarts}), exactly as a full copy would before truncating. A deposed master
     * that comes back after its replica was given to another node holds the writes only it
     * had; without this they were never recorded. Returns the accounting.
     */
    public DivergentTail.Accounting release(String ns, int partition, int masterEpoch, long masterLastLsn, List<EpochStart> masterStarts,
                                            String node) {
        return truncate(ns, partition, true, masterEpoch, masterLastLsn, masterStarts, node, false);
    }

    /** Stored records of the partition (tombstones included): what a copy would ship. */
    public long countRecords(String ns, int partition) {
        checkPartition(partition);
        state(ns);
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        long n = 0;
        try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                n++;
            }
        }
        return n;
    }

    // ---- mirror side of a sync in chunks ---------------------------------------------

    /**
     * A mirror starts receiving a sync: a full copy drops its data and log (after
     * accounting for its divergent tail, as {@link #replacePartition}); a tracked-keys
     * sync keeps its data and drops only its log. Until {@link #finishSync} the
     * partition claims no LSN (last LSN 0), so a crash in between makes the next resync
     * start over, and it is marked as being rewritten ({@link #rewriting}): a replica in
     * that state holds neither its old copy nor the master's and must not be promoted.
     */
    public DivergentTail.Accounting beginSync(String ns, int partition, boolean fullCopy, int masterEpoch, long masterLastLsn,
                                              List<EpochStart> masterStarts, String node) {
        return truncate(ns, partition, fullCopy, masterEpoch, masterLastLsn, masterStarts, node, true);
    }

    /**
     * Whether a sync is rewriting this replica of the partition (its first chunk applied,
     * its last not yet, even across a restart). Read without the partition's lock, for
     * heartbeats: such a replica reports itself as not promotable.
     */
    public boolean rewriting(String ns, int partition) {
        checkPartition(partition);
        return state(ns).partitions[partition].rewriting;
    }

    /**
     * A master just promoted in {@code askerEpoch} asked this replica what it holds above
     * its own end ({@code askerLsn}), and this replica's store holds more: entries of an
     * older epoch at LSNs the new epoch takes over, a divergent tail. Until a sync rewrites
     * it, this replica's history is neither the new master's nor safe to continue, so it is
     * marked like a replica being rewritten and reported as not promotable. Without this,
     * a replica the asker never streamed to stayed IN_SYNC and, promoted when the asker
     * died, took its old tail for the partition's history: the asker's writes at those
     * LSNs were lost and no rule recorded them (NodeSimulationTest seed 8158).
     *
     * <p>Only a stored tail marks: the new master's stream is refused as DIVERGED below it,
     * so a sync follows and clears the mark. A tail still only in the mirror's cache is
     * replaced by that stream without a sync, and a mark would then stay on a replica that
     * holds the new history. Ignored when this replica has seen a newer epoch than the
     * asker's (a late question). Returns whether it marked the partition.
     */
    public boolean markDivergent(String ns, int partition, long askerEpoch, long askerLsn) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            if (askerEpoch < ps.epoch || ps.rewriting || ps.lastLsn <= askerLsn) {
                return false;
            }
            storage.write(new Batch().put(Column.META, KeyLayout.metaRewritingKey(ns, partition), new byte[] {1}));
            ps.rewriting = true;
            return true;
        } finally {
            ps.unlock();
        }
    }

    private DivergentTail.Accounting truncate(String ns, int partition, boolean fullCopy, int masterEpoch, long masterLastLsn,
                                              List<EpochStart> masterStarts, String node, boolean rewrite) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        ps.lock();
        try {
            Batch batch = new Batch();
            DivergentTail.Accounting accounting = fullCopy
                    ? divergentTail(ns, ps, new PartitionSnapshot(masterEpoch, masterLastLsn, 0, List.of(), masterStarts), node)
                    : new DivergentTail.Accounting(List.of(), 0);
            for (LossRecord r : accounting.records()) {
                batch.put(Column.META, KeyLayout.lossKey(r.id()), r.encode());
            }
            if (fullCopy) {
                deleteAll(Column.DATA, prefix, batch);
            }
            deleteAll(Column.LOG, prefix, batch);
            batch.put(Column.META, KeyLayout.metaPartitionKey(ns, partition), KeyLayout.metaPartitionValue(ps.epoch, 0, ps.lastHlc));
            if (rewrite) {
                batch.put(Column.META, KeyLayout.metaRewritingKey(ns, partition), new byte[] {1});
            } else {
                batch.delete(Column.META, KeyLayout.metaRewritingKey(ns, partition));
            }
            storage.write(batch);
            ps.rewriting = rewrite;
            ps.lastLsn = 0;
            ps.stagedLsn = 0;
            ps.firstLsn = 1;
            ps.logEntries = 0;
            ps.logBytes = 0;
            return accounting;
        } finally {
            ps.unlock();
        }
    }

    /** Writes records (stored encodings) and deletes digests of a sync in progress. */
    public void applySyncRecords(String ns, int partition, List<byte[]> records, List<Digest> gone) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            Batch batch = new Batch();
            for (byte[] encoded : records) {
                StoredRecord r = RecordCodec.decode(encoded);
                Key key = r.key(ns);
                Verify.that(key.partition() == partition, "record of partition %d in a sync of %s/%d", key.partition(), ns, partition);
                batch.put(Column.DATA, KeyLayout.dataKey(ns, key.digest()), encoded);
            }
            for (Digest d : gone) {
                Verify.that(d.partition() == partition, "digest of partition %d in a sync of %s/%d", d.partition(), ns, partition);
                batch.delete(Column.DATA, KeyLayout.dataKey(ns, d));
            }
            if (!batch.isEmpty()) {
                storage.write(batch);
            }
        } finally {
            ps.unlock();
        }
    }

    /** The sync is complete: the partition is the master's through {@code lastLsn}; its log resumes after it. */
    public void finishSync(String ns, int partition, int epoch, long lastLsn, long lastHlc, List<EpochStart> starts) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            storage.write(new Batch()
                    .put(Column.META, KeyLayout.metaPartitionKey(ns, partition), KeyLayout.metaPartitionValue(epoch, lastLsn, lastHlc))
                    .put(Column.META, KeyLayout.metaEpochStartsKey(ns, partition), EpochStart.encode(starts))
                    .delete(Column.META, KeyLayout.metaRewritingKey(ns, partition)));
            ps.rewriting = false;
            ps.epoch = epoch;
            ps.epochStarts = List.copyOf(starts);
            ps.lastLsn = lastLsn;
            ps.stagedLsn = lastLsn;
            ps.firstLsn = lastLsn + 1;
            ps.logEntries = 0;
            ps.logBytes = 0;
            ps.lastHlc = Math.max(ps.lastHlc, lastHlc);
            hlc.update(lastHlc);
        } finally {
            ps.unlock();
        }
    }

    /**
     * The failover check of a partition this node was just promoted to master of
     * ({@link io.ferrydb.core.loss.FailoverCheck}): its log ends where the new epoch
     * continues, so whatever the failed master reported in its last heartbeat
     * ({@code reportedLsn}) or another reachable replica holds beyond that existed on the
     * old master's side only. Those writes may have been acknowledged (commit level
     * MASTER; an ALL write waits for this replica) and are recorded in the ledger as a
     * FAILOVER record, with the digests the survivors named. Returns the record, or null
     * when nothing is missing.
     */
    public LossRecord recordFailoverGap(String ns, int partition, long lostEpoch, long newEpoch, String failedMaster, long reportedLsn,
                                        List<io.ferrydb.core.loss.FailoverCheck.Survivor> survivors, List<String> unreached, String node) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            io.ferrydb.core.loss.FailoverCheck.Finding f = io.ferrydb.core.loss.FailoverCheck.check(node, ps.lastLsn, lostEpoch, failedMaster,
                    reportedLsn, survivors, unreached);
            if (!f.lost()) {
                return null;
            }
            LossRecord r = new LossRecord(nextLossId.getAndIncrement(), ns, partition, lostEpoch, newEpoch, f.lostFromLsn(), f.lostToLsn(),
                    f.count(), f.digests(), LossRecord.Certainty.POSSIBLY_ACKNOWLEDGED, LossRecord.Kind.FAILOVER, node,
                    clock.wallMillis(), f.detail());
            Batch batch = new Batch();
            batch.put(Column.META, KeyLayout.lossKey(r.id()), r.encode());
            storage.write(batch);
            return r;
        } finally {
            ps.unlock();
        }
    }

    /** The loss ledger kept on this node, oldest first. */
    public List<LossRecord> losses() {
        List<LossRecord> out = new ArrayList<>();
        try (Cursor c = storage.scan(Column.META, KeyLayout.lossPrefix(), KeyLayout.prefixEnd(KeyLayout.lossPrefix()))) {
            while (c.next()) {
                out.add(LossRecord.decode(c.value()));
            }
        }
        return out;
    }

    /**
     * Deletes a partition's keys of one column: point deletes for a small partition (and
     * nothing for an empty one), a range delete beyond that. Thousands of range
     * tombstones (one per copied partition) would slow every later read of RocksDB.
     */
    private void deleteAll(Column column, byte[] prefix, Batch batch) {
        List<byte[]> keys = new ArrayList<>();
        try (Cursor c = storage.scan(column, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                if (keys.size() == POINT_DELETES_MAX) {
                    batch.deleteRange(column, prefix, KeyLayout.prefixEnd(prefix));
                    return;
                }
                keys.add(c.key());
            }
        }
        for (byte[] k : keys) {
            batch.delete(column, k);
        }
    }

    private static final int POINT_DELETES_MAX = 1024;

    /**
     * Visits live records of one partition in digest order, optionally of one set.
     * The visitor returns false to stop. Returns the number of records visited.
     */
    public long scan(String ns, int partition, String setOrNull, Predicate<StoredRecord> visitor) {
        state(ns);
        checkPartition(partition);
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        long nowMs = clock.wallMillis();
        long visited = 0;
        try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                StoredRecord r = RecordCodec.decode(c.value());
                if (!r.isLive(nowMs) || (setOrNull != null && !setOrNull.equals(r.set()))) {
                    continue;
                }
                visited++;
                if (!visitor.test(r)) {
                    break;
                }
            }
        }
        return visited;
    }

    /** Log entries of a partition from {@code fromLsn}, at most {@code max}. */
    public List<LogEntry> readLog(String ns, int partition, long fromLsn, int max) {
        state(ns);
        checkPartition(partition);
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        List<LogEntry> out = new ArrayList<>();
        try (Cursor c = storage.scan(Column.LOG, KeyLayout.logKey(ns, partition, Math.max(0, fromLsn)), KeyLayout.prefixEnd(prefix))) {
            while (out.size() < max && c.next()) {
                LogEntry e = LogEntry.decode(c.value());
                Verify.that(e.lsn() == KeyLayout.lsnOfLogKey(c.key()), "log key lsn %d holds entry lsn %d", KeyLayout.lsnOfLogKey(c.key()), e.lsn());
                out.add(e);
            }
        }
        return out;
    }

    /**
     * Makes {@code epoch} the partition's epoch for the changes this node logs from now
     * on, when it is newer (a node becomes master of the partition in a new table epoch).
     * Persisted in {@code meta} before it is used, so a restart keeps it. Returns whether
     * it changed.
     */
    public boolean adoptEpoch(String ns, int partition, long epoch) {
        return adoptEpochs(ns, Map.of(partition, epoch)) == 1;
    }

    /**
     * {@link #adoptEpoch} for many partitions of a namespace in one storage write: a view
     * handing a thousand partitions over (a decommission) paid a write per partition on the
     * view thread, 100-600 ms. Their locks are taken in the global order and held until
     * the write is done. Returns how many partitions changed epoch.
     */
    public int adoptEpochs(String ns, Map<Integer, Long> epochs) {
        NamespaceState st = state(ns);
        List<PartitionState> ordered = new ArrayList<>(epochs.size());
        for (Map.Entry<Integer, Long> e : epochs.entrySet()) {
            checkPartition(e.getKey());
            long epoch = e.getValue();
            Verify.that(epoch > 0 && epoch <= Integer.MAX_VALUE, "epoch of %s/%d out of range: %d", ns, e.getKey(), epoch);
            ordered.add(st.partitions[e.getKey()]);
        }
        ordered.sort((a, b) -> Long.compare(a.order, b.order));
        for (PartitionState ps : ordered) {
            ps.lock();
        }
        try {
            Batch batch = new Batch();
            List<PartitionState> changed = new ArrayList<>();
            List<List<EpochStart>> newStarts = new ArrayList<>();
            for (PartitionState ps : ordered) {
                long epoch = epochs.get(ps.partition);
                if (epoch <= ps.epoch) {
                    continue;
                }
                // A node that restarted during the epoch it now ends may have lost changes from its mirror cache.
                boolean cacheLost = ps.epoch == ps.epochAtOpen;
                // An epoch that logged nothing is replaced by this one at the same LSN: the epoch this one
                // really follows is the one before it, so its flag carries over (a node that restarted
                // during epoch 1, then adopted epochs 4 and 5 without writing, lost it: NodeSimulationTest).
                EpochStart last = ps.epochStarts.isEmpty() ? null : ps.epochStarts.get(ps.epochStarts.size() - 1);
                if (last != null && last.startLsn() == ps.lastLsn + 1 && last.cacheLost()) {
                    cacheLost = true;
                }
                List<EpochStart> starts = EpochStart.append(ps.epochStarts, new EpochStart(epoch, ps.lastLsn + 1, cacheLost));
                batch.put(Column.META, KeyLayout.metaPartitionKey(ns, ps.partition),
                                KeyLayout.metaPartitionValue((int) epoch, ps.lastLsn, ps.lastHlc))
                        .put(Column.META, KeyLayout.metaEpochStartsKey(ns, ps.partition), EpochStart.encode(starts));
                changed.add(ps);
                newStarts.add(starts);
            }
            if (changed.isEmpty()) {
                return 0;
            }
            storage.write(batch);
            for (int i = 0; i < changed.size(); i++) {
                PartitionState ps = changed.get(i);
                ps.epoch = (int) (long) epochs.get(ps.partition);
                ps.epochStarts = newStarts.get(i);
            }
            return changed.size();
        } finally {
            for (PartitionState ps : ordered) {
                ps.unlock();
            }
        }
    }

    /**
     * The partition's last committed LSN, read without its lock: a value it had at some
     * moment of the call. For periodic reports (heartbeats read all 4096 partitions several
     * times a second; taking each lock queued them behind the partitions' writers).
     */
    public long lastLsnUnlocked(String ns, int partition) {
        checkPartition(partition);
        return state(ns).partitions[partition].lastLsn;
    }

    public PartitionInfo partitionInfo(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            return new PartitionInfo(ns, partition, ps.epoch, ps.firstLsn, ps.lastLsn, ps.logBytes, ps.logEntries);
        } finally {
            ps.unlock();
        }
    }

    private static void checkPartition(int partition) {
        if (partition < 0 || partition >= Limits.PARTITION_COUNT) {
            throw FerryException.invalid("partition must be 0..%d, got %d", Limits.PARTITION_COUNT - 1, partition);
        }
    }

    /**
     * Removes records of a partition whose TTL has passed, logging each removal as an
     * EXPIRE entry so that replicas and change streams see it. Returns how many.
     */
    public int purgeExpired(String ns, int partition, int maxRecords) {
        return purgeExpired(ns, partition, maxRecords, e -> { });
    }

    /**
     * {@link #purgeExpired(String, int, int)}, calling {@code whileLocked} with each EXPIRE
     * entry before the partition's lock is released (a master hands it to mirroring in
     * LSN order; mirrors do not purge expiries themselves, they apply the master's).
     */
    public int purgeExpired(String ns, int partition, int maxRecords, java.util.function.Consumer<LogEntry> whileLocked) {
        NamespaceState s = state(ns);
        checkPartition(partition);
        long nowMs = clock.wallMillis();
        List<Digest> expired = new ArrayList<>();
        forEachHeader(ns, partition, (digest, h) -> {
            if (expired.size() >= maxRecords) {
                return false;
            }
            if (!h.tombstone() && h.expiresAtMs() != 0 && h.expiresAtMs() <= nowMs) {
                expired.add(digest);
            }
            return true;
        });
        PartitionState ps = s.partitions[partition];
        int purged = 0;
        for (Digest d : expired) {
            ps.lock();
            try {
                StoredRecord r = readRaw(ns, d);
                // Re-check under the lock: a write may have renewed the record meanwhile.
                if (r == null || r.tombstone() || r.expiresAtMs() == 0 || r.expiresAtMs() > clock.wallMillis()) {
                    continue;
                }
                long ts = hlc.now();
                whileLocked.accept(append(ns, ps, LogOp.EXPIRE, d, ts, RecordCodec.encode(StoredRecord.tombstone(r, ts)), true));
                purged++;
            } finally {
                ps.unlock();
            }
        }
        expiredPurged.add(purged);
        return purged;
    }

    /** Drops tombstones older than the namespace's tombstone retention. Returns how many. */
    public int purgeTombstones(String ns, int partition, int maxRecords) {
        NamespaceState s = state(ns);
        checkPartition(partition);
        long cutoffMs = clock.wallMillis() - s.config.tombstoneRetentionMs();
        List<Digest> old = new ArrayList<>();
        forEachHeader(ns, partition, (digest, h) -> {
            if (old.size() >= maxRecords) {
                return false;
            }
            if (h.tombstone() && Hlc.physicalMs(h.lastUpdateHlc()) < cutoffMs) {
                old.add(digest);
            }
            return true;
        });
        PartitionState ps = s.partitions[partition];
        int purged = 0;
        for (Digest d : old) {
            ps.lock();
            try {
                StoredRecord r = readRaw(ns, d);
                if (r == null || !r.tombstone() || Hlc.physicalMs(r.lastUpdateHlc()) >= cutoffMs) {
                    continue;
                }
                storage.write(new Batch().delete(Column.DATA, KeyLayout.dataKey(ns, d)));
                purged++;
            } finally {
                ps.unlock();
            }
        }
        tombstonesPurged.add(purged);
        return purged;
    }

    private interface HeaderVisitor {
        boolean visit(Digest digest, RecordCodec.Header header);
    }

    /** Background passes read only record headers: no key, no bins. */
    private void forEachHeader(String ns, int partition, HeaderVisitor visitor) {
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                if (!visitor.visit(KeyLayout.digestOfDataKey(c.key()), RecordCodec.peekHeader(c.value()))) {
                    return;
                }
            }
        }
    }

    /**
     * Trims the oldest log entries of a partition beyond the namespace's retention by
     * size (bytes per partition) or age. Returns the number of entries removed.
     */
    public long trimLog(String ns, int partition) {
        NamespaceState s = state(ns);
        checkPartition(partition);
        PartitionState ps = s.partitions[partition];
        long first;
        long bytes;
        ps.lock();
        try {
            first = ps.firstLsn;
            bytes = ps.logBytes;
        } finally {
            ps.unlock();
        }
        long cutoffMs = clock.wallMillis() - s.config.logRetentionMs();
        long maxBytes = s.config.logRetentionBytes();
        long newFirst = first;
        long trimmedBytes = 0;
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        try (Cursor c = storage.scan(Column.LOG, KeyLayout.logKey(ns, partition, first), KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                long entryBytes = c.key().length + c.value().length;
                boolean tooBig = bytes - trimmedBytes > maxBytes;
                boolean tooOld = Hlc.physicalMs(LogEntry.hlcOf(c.value())) < cutoffMs;
                if (!tooBig && !tooOld) {
                    break;
                }
                newFirst = KeyLayout.lsnOfLogKey(c.key()) + 1;
                trimmedBytes += entryBytes;
            }
        }
        if (newFirst == first) {
            return 0;
        }
        ps.lock();
        try {
            Verify.that(ps.firstLsn == first, "log of %s/%d trimmed concurrently", ns, partition);
            // The high-water mark goes with the trim, so the LSN sequence survives a
            // restart even when the whole log was trimmed.
            storage.write(new Batch()
                    .deleteRange(Column.LOG, KeyLayout.logKey(ns, partition, first), KeyLayout.logKey(ns, partition, newFirst))
                    .put(Column.META, KeyLayout.metaPartitionKey(ns, partition), KeyLayout.metaPartitionValue(ps.epoch, ps.lastLsn, ps.lastHlc)));
            ps.firstLsn = newFirst;
            ps.logBytes -= trimmedBytes;
            ps.logEntries -= newFirst - first;
            Verify.that(ps.logEntries >= 0, "log entry count of %s/%d went negative", ns, partition);
            Verify.that(ps.logBytes >= 0, "log bytes of %s/%d went negative", ns, partition);
        } finally {
            ps.unlock();
        }
        logEntriesTrimmed.add(newFirst - first);
        return newFirst - first;
    }

    public HybridLogicalClock hlc() {
        return hlc;
    }

    public Clock clock() {
        return clock;
    }

    public Storage storage() {
        return storage;
    }
}
