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
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
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

        NamespaceState(NamespaceConfig config) {
            this.config = config;
            for (int p = 0; p < partitions.length; p++) {
                partitions[p] = new PartitionState(p);
            }
        }
    }

    /** Guarded by its own monitor. */
    private static final class PartitionState {
        final int partition;
        int epoch = INITIAL_EPOCH;
        long lastLsn;
        long firstLsn = 1;
        long logBytes;
        long logEntries;

        PartitionState(int partition) {
            this.partition = partition;
        }
    }

    private RecordStore(Storage storage, Clock clock, HybridLogicalClock hlc, Collection<NamespaceConfig> configs) {
        this.storage = storage;
        this.clock = clock;
        this.hlc = hlc;
        for (NamespaceConfig c : configs) {
            Verify.that(namespaces.put(c.name(), new NamespaceState(c)) == null, "namespace %s configured twice", c.name());
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
                }
                byte[] prefix = KeyLayout.partitionPrefix(ns, ps.partition);
                long prev = -1;
                try (Cursor c = storage.scan(Column.LOG, prefix, KeyLayout.prefixEnd(prefix))) {
                    while (c.next()) {
                        long lsn = KeyLayout.lsnOfLogKey(c.key());
                        Verify.that(prev == -1 || lsn == prev + 1, "log gap in %s/%d: %d then %d", ns, ps.partition, prev, lsn);
                        if (prev == -1) {
                            ps.firstLsn = lsn;
                        }
                        prev = lsn;
                        ps.logBytes += c.key().length + c.value().length;
                        ps.logEntries++;
                        maxHlc = Math.max(maxHlc, LogEntry.hlcOf(c.value()));
                        if (++scanned % 100_000 == 0) {
                            progress.accept(scanned);
                        }
                    }
                }
                if (prev != -1) {
                    Verify.that(prev == metaLastLsn, "partition %s/%d: log ends at %d but meta says %d", ns, ps.partition, prev, metaLastLsn);
                }
                ps.lastLsn = metaLastLsn;
                if (ps.logEntries == 0) {
                    ps.firstLsn = metaLastLsn + 1;
                }
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
        NamespaceState ns = state(key.namespace());
        BinValidator.check("bins", bins);
        Digest digest = key.digest();
        PartitionState ps = ns.partitions[digest.partition()];
        synchronized (ps) {
            StoredRecord current = readRaw(ns.config.name(), digest);
            long nowMs = clock.wallMillis();
            long ts = hlc.now();
            WritePlan plan = WritePlanner.planPut(ns.config, key, current, bins, policy, nowMs, ts);
            if (plan instanceof WritePlan.Refuse r) {
                return new WriteOutcome.Refused(r.code(), r.message());
            }
            WritePlan.Apply apply = (WritePlan.Apply) plan;
            long lsn = append(ns.config.name(), ps, LogOp.PUT, digest, ts, apply.encoded(), false);
            putsApplied.increment();
            return new WriteOutcome.Written(ps.epoch, lsn, apply.record().generation(), ts);
        }
    }

    public WriteOutcome delete(Key key, WritePolicy policy) {
        NamespaceState ns = state(key.namespace());
        Digest digest = key.digest();
        PartitionState ps = ns.partitions[digest.partition()];
        synchronized (ps) {
            StoredRecord current = readRaw(ns.config.name(), digest);
            long ts = hlc.now();
            WritePlan plan = WritePlanner.planDelete(current, policy, clock.wallMillis(), ts);
            if (plan == null) {
                return new WriteOutcome.Absent();
            }
            if (plan instanceof WritePlan.Refuse r) {
                return new WriteOutcome.Refused(r.code(), r.message());
            }
            WritePlan.Apply apply = (WritePlan.Apply) plan;
            long lsn = append(ns.config.name(), ps, LogOp.DELETE, digest, ts, apply.encoded(), false);
            deletesApplied.increment();
            return new WriteOutcome.Written(ps.epoch, lsn, apply.record().generation(), ts);
        }
    }

    /**
     * Writes data (or removes it), the log entry and the high-water mark in one batch.
     * Caller holds the partition lock.
     */
    private long append(String ns, PartitionState ps, LogOp op, Digest digest, long ts, byte[] image, boolean removeData) {
        long lsn = ps.lastLsn + 1;
        LogEntry entry = new LogEntry(ps.epoch, lsn, ts, op, digest, image);
        byte[] logKey = KeyLayout.logKey(ns, ps.partition, lsn);
        byte[] logValue = entry.encode();
        Batch batch = new Batch();
        byte[] dataKey = KeyLayout.dataKey(ns, digest);
        if (removeData) {
            batch.delete(Column.DATA, dataKey);
        } else {
            batch.put(Column.DATA, dataKey, image);
        }
        batch.put(Column.LOG, logKey, logValue)
                .put(Column.META, KeyLayout.metaPartitionKey(ns, ps.partition), KeyLayout.metaPartitionValue(ps.epoch, lsn, ts));
        storage.write(batch);
        Verify.that(lsn == ps.lastLsn + 1, "log gap: last=%d lsn=%d", ps.lastLsn, lsn);
        ps.lastLsn = lsn;
        ps.logBytes += logKey.length + logValue.length;
        ps.logEntries++;
        return lsn;
    }

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

    public PartitionInfo partitionInfo(String ns, int partition) {
        checkPartition(partition);
        PartitionState ps = state(ns).partitions[partition];
        synchronized (ps) {
            return new PartitionInfo(ns, partition, ps.epoch, ps.firstLsn, ps.lastLsn, ps.logBytes, ps.logEntries);
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
        forEachRaw(ns, partition, (digest, r) -> {
            if (expired.size() >= maxRecords) {
                return false;
            }
            if (!r.tombstone() && r.expiresAtMs() != 0 && r.expiresAtMs() <= nowMs) {
                expired.add(digest);
            }
            return true;
        });
        PartitionState ps = s.partitions[partition];
        int purged = 0;
        for (Digest d : expired) {
            synchronized (ps) {
                StoredRecord r = readRaw(ns, d);
                // Re-check under the lock: a write may have renewed the record meanwhile.
                if (r == null || r.tombstone() || r.expiresAtMs() == 0 || r.expiresAtMs() > clock.wallMillis()) {
                    continue;
                }
                long ts = hlc.now();
                append(ns, ps, LogOp.EXPIRE, d, ts, RecordCodec.encode(StoredRecord.tombstone(r, ts)), true);
                purged++;
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
        forEachRaw(ns, partition, (digest, r) -> {
            if (old.size() >= maxRecords) {
                return false;
            }
            if (r.tombstone() && Hlc.physicalMs(r.lastUpdateHlc()) < cutoffMs) {
                old.add(digest);
            }
            return true;
        });
        PartitionState ps = s.partitions[partition];
        int purged = 0;
        for (Digest d : old) {
            synchronized (ps) {
                StoredRecord r = readRaw(ns, d);
                if (r == null || !r.tombstone() || Hlc.physicalMs(r.lastUpdateHlc()) >= cutoffMs) {
                    continue;
                }
                storage.write(new Batch().delete(Column.DATA, KeyLayout.dataKey(ns, d)));
                purged++;
            }
        }
        tombstonesPurged.add(purged);
        return purged;
    }

    private interface RawVisitor {
        boolean visit(Digest digest, StoredRecord r);
    }

    private void forEachRaw(String ns, int partition, RawVisitor visitor) {
        byte[] prefix = KeyLayout.partitionPrefix(ns, partition);
        try (Cursor c = storage.scan(Column.DATA, prefix, KeyLayout.prefixEnd(prefix))) {
            while (c.next()) {
                if (!visitor.visit(KeyLayout.digestOfDataKey(c.key()), RecordCodec.decode(c.value()))) {
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
        synchronized (ps) {
            first = ps.firstLsn;
            bytes = ps.logBytes;
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
        synchronized (ps) {
            Verify.that(ps.firstLsn == first, "log of %s/%d trimmed concurrently", ns, partition);
            storage.write(new Batch().deleteRange(Column.LOG, KeyLayout.logKey(ns, partition, first), KeyLayout.logKey(ns, partition, newFirst)));
            ps.firstLsn = newFirst;
            ps.logBytes -= trimmedBytes;
            ps.logEntries -= newFirst - first;
            Verify.that(ps.logEntries >= 0 && ps.logBytes >= 0, "log accounting of %s/%d went negative", ns, partition);
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
