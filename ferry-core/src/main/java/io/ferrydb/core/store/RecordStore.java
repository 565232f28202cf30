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
import io.ferrydb.core.log.LogEntry;
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
        long lastLsn;
        long lastHlc;
        long firstLsn = 1;
        long logBytes;
        long logEntries;
        // Staged by a batch being built, committed after its write succeeds.
        long stagedLsn;
        long stagedBytes;
        long stagedHlc;

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
        LogEntry entry = stage(ns, ps, logOp, digest, ts, apply.encoded(), false, batch);
        overlay.put(overlayKey, apply.record());
        return new WriteOutcome.Written(ps.epoch, entry.lsn(), apply.record().generation(), ts, logOp, entry);
    }

    /**
     * Adds a change and its log entry to {@code batch} and stages the partition's next
     * LSN. Caller holds the partition lock and later commits or unstages.
     */
    private LogEntry stage(String ns, PartitionState ps, LogOp op, Digest digest, long ts, byte[] image, boolean removeData, Batch batch) {
        long lsn = ps.stagedLsn + 1;
        LogEntry entry = new LogEntry(ps.epoch, lsn, ts, op, digest, image);
        stageEntry(ns, ps, entry, removeData, batch);
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
        if (removeData) {
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
        checkPartition(partition);
        Verify.that(!entries.isEmpty(), "no entries to apply to %s/%d", ns, partition);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            Batch batch = new Batch();
            int epoch = ps.epoch;
            for (LogEntry e : entries) {
                Verify.that(e.epoch() >= epoch, "replicated entry %d of %s/%d from epoch %d after epoch %d", e.lsn(), ns, partition, e.epoch(), epoch);
                epoch = e.epoch();
                stageEntry(ns, ps, e, e.op() == LogOp.EXPIRE, batch);
                hlc.update(e.hlc());
            }
            if (epoch != ps.epoch) {
                batch.put(Column.META, KeyLayout.metaPartitionKey(ns, partition), KeyLayout.metaPartitionValue(epoch, ps.stagedLsn, ps.stagedHlc));
            }
            writeStaged(ps, batch);
            ps.epoch = epoch;
            return ps.lastLsn;
        } finally {
            ps.unlock();
        }
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
    private long append(String ns, PartitionState ps, LogOp op, Digest digest, long ts, byte[] image, boolean removeData) {
        Batch batch = new Batch();
        long lsn = stage(ns, ps, op, digest, ts, image, removeData, batch).lsn();
        writeStaged(ps, batch);
        return lsn;
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
    public record PartitionSnapshot(int epoch, long lastLsn, long lastHlc, List<byte[]> records) {}

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
            return new PartitionSnapshot(ps.epoch, ps.lastLsn, ps.lastHlc, records);
        } finally {
            ps.unlock();
        }
    }

    /**
     * A mirror replaces its copy of the partition with the master's snapshot: records
     * and position (epoch, last LSN) as the master had them; its own log of the partition
     * is dropped, so its log resumes gaplessly at {@code lastLsn + 1}.
     */
    public void replacePartition(String ns, int partition, PartitionSnapshot snapshot) {
        checkPartition(partition);
        NamespaceState nss = state(ns);
        PartitionState ps = nss.partitions[partition];
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        ps.lock();
        try {
            Batch batch = new Batch();
            deleteAll(Column.DATA, prefix, batch);
            deleteAll(Column.LOG, prefix, batch);
            for (byte[] encoded : snapshot.records()) {
                StoredRecord r = RecordCodec.decode(encoded);
                Key key = r.key(ns);
                Verify.that(key.partition() == partition, "record of partition %d in a copy of %s/%d", key.partition(), ns, partition);
                batch.put(Column.DATA, KeyLayout.dataKey(ns, key.digest()), encoded);
            }
            batch.put(Column.META, KeyLayout.metaPartitionKey(ns, partition),
                    KeyLayout.metaPartitionValue(snapshot.epoch(), snapshot.lastLsn(), snapshot.lastHlc()));
            storage.write(batch);
            ps.epoch = snapshot.epoch();
            ps.lastLsn = snapshot.lastLsn();
            ps.stagedLsn = snapshot.lastLsn();
            ps.firstLsn = snapshot.lastLsn() + 1;
            ps.logEntries = 0;
            ps.logBytes = 0;
            ps.lastHlc = snapshot.lastHlc();
            hlc.update(snapshot.lastHlc());
        } finally {
            ps.unlock();
        }
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
        checkPartition(partition);
        Verify.that(epoch > 0 && epoch <= Integer.MAX_VALUE, "epoch of %s/%d out of range: %d", ns, partition, epoch);
        PartitionState ps = state(ns).partitions[partition];
        ps.lock();
        try {
            if (epoch <= ps.epoch) {
                return false;
            }
            storage.write(new Batch().put(Column.META, KeyLayout.metaPartitionKey(ns, partition),
                    KeyLayout.metaPartitionValue((int) epoch, ps.lastLsn, ps.lastHlc)));
            ps.epoch = (int) epoch;
            return true;
        } finally {
            ps.unlock();
        }
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
                append(ns, ps, LogOp.EXPIRE, d, ts, RecordCodec.encode(StoredRecord.tombstone(r, ts)), true);
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
