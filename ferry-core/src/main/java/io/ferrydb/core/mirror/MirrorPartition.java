package io.ferrydb.core.mirror;

import io.ferrydb.core.Verify;
import io.ferrydb.core.log.LogEntry;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A mirror's side of one partition: it applies the master's changes strictly in LSN
 * order, keeps them in a volatile write-behind cache, flushes the cache to storage in
 * batches (by size, by age, or at once when a change asked for SYNC durability), and
 * answers every batch with what it holds as an {@link AckTriplet}.
 *
 * <p>This follows replication servers with a write-behind cache: an ASYNC change is
 * acknowledged as soon as it is in memory, so the mirror's acknowledgement costs no
 * disk wait, and the triplet says precisely which acknowledged LSNs a crash would lose.
 * Batches from an older epoch are refused (a deposed master is fenced by its mirrors);
 * a batch after a hole is refused with the LSN the mirror expects, so the master
 * resends from there; a new epoch's master that continues below the mirror's cached
 * tail replaces that tail (it was never durable here), below its durable tail is
 * refused as DIVERGED, for a resync to truncate.
 *
 * <p>Sans-IO: the runtime applies {@link Flush}es to storage (one at a time) and calls
 * {@link #onFlushed}; time comes in with every call. Not thread-safe: one partition is
 * driven by one thread.
 */
public final class MirrorPartition {
    /**
     * @param maxCachedEntries flush once this many changes are cached (the cache's capacity)
     * @param flushIntervalMs  flush a cached change at the latest this long after it arrived
     */
    public record Config(int maxCachedEntries, long flushIntervalMs) {
        public Config {
            Verify.that(maxCachedEntries >= 1, "maxCachedEntries must be >= 1, got %d", maxCachedEntries);
            Verify.that(flushIntervalMs >= 1, "flushIntervalMs must be >= 1, got %d", flushIntervalMs);
        }
    }

    /** Changes to write to storage as one batch; {@code fsync} when a SYNC change is among them. */
    public record Flush(String namespace, int partition, List<LogEntry> entries, boolean fsync) {
        public long lastLsn() {
            return entries.get(entries.size() - 1).lsn();
        }
    }

    /** What to do after an input: a reply to send now (or null), and a flush to start (or null). */
    public record Step(MirrorReply reply, Flush flush) {}

    private record Cached(LogEntry entry, long arrivedMs) {}

    private final String namespace;
    private final int partition;
    private final Config config;
    private long epoch;
    private long committedLsn;
    /** The epoch of the log entry at {@link #committedLsn} (0: unknown). */
    private long committedEntryEpoch;
    /** Changes after {@link #committedLsn}, in LSN order; the head ones may be in {@link #flushing}. */
    private final ArrayDeque<Cached> cache = new ArrayDeque<>();
    private Flush flushing;
    /** Highest LSN a pending acknowledgement must wait to be durable for (a SYNC change). */
    private long mustBeDurableLsn;

    /** A mirror whose storage holds the partition through {@code committedLsn}, last written in {@code epoch}. */
    public MirrorPartition(String namespace, int partition, long epoch, long committedLsn, Config config) {
        this(namespace, partition, epoch, committedLsn, 0, config);
    }

    /**
     * As above, knowing the epoch its log entry at {@code committedLsn} was written in
     * ({@code committedEntryEpoch}, 0 when unknown): a new epoch's batch that holds that
     * very entry continues this mirror's history (see {@link #onBatch}).
     */
    public MirrorPartition(String namespace, int partition, long epoch, long committedLsn, long committedEntryEpoch, Config config) {
        Verify.that(committedLsn >= 0, "committedLsn must be >= 0, got %d", committedLsn);
        this.namespace = namespace;
        this.partition = partition;
        this.epoch = epoch;
        this.committedLsn = committedLsn;
        this.committedEntryEpoch = committedEntryEpoch;
        this.config = config;
    }

    public long epoch() {
        return epoch;
    }

    public long committedLsn() {
        return committedLsn;
    }

    public AckTriplet holds() {
        return new AckTriplet(committedLsn + 1, lastLsn(), committedLsn);
    }

    private long lastLsn() {
        return cache.isEmpty() ? committedLsn : cache.peekLast().entry().lsn();
    }

    public Step onBatch(ReplicateBatch b, long nowMs) {
        Verify.that(b.namespace().equals(namespace) && b.partition() == partition, "batch for %s/%d given to %s/%d",
                b.namespace(), b.partition(), namespace, partition);
        if (b.epoch() < epoch) {
            return new Step(refused(MirrorReply.Reason.STALE_EPOCH), null);
        }
        if (b.epoch() > epoch) {
            // A new epoch's batch starting below what this mirror holds durably (or is making
            // durable) diverges from it unless it carries the very entry there: one LSN written
            // in one epoch is one change, and the history up to it is the same (as Raft's log
            // matching). That is a resend by the same master whose epoch moved on for another
            // replica's sake, before this mirror's acknowledgement reached it; refused as
            // DIVERGED, it cost a needless sync through the control plane (HandoffBenchmark:
            // ~240 per decommission).
            long same = b.prevLsn();
            if (b.prevLsn() < committedLsn) {
                if (!carries(b, committedLsn, committedEntryEpoch)) {
                    // Durable changes beyond what the new master continues from: not ours to drop.
                    return new Step(refused(MirrorReply.Reason.DIVERGED), null);
                }
                same = committedLsn;
            }
            if (flushing != null && b.prevLsn() < flushing.lastLsn()) {
                LogEntry last = flushing.entries().get(flushing.entries().size() - 1);
                if (!carries(b, last.lsn(), last.epoch())) {
                    // Part of the divergent tail is being made durable right now.
                    return new Step(refused(MirrorReply.Reason.DIVERGED), null);
                }
                same = Math.max(same, last.lsn());
            }
            dropCachedAfter(same);
            epoch = b.epoch();
        }
        if (b.prevLsn() > lastLsn()) {
            return new Step(refused(MirrorReply.Reason.GAP), null);
        }
        for (LogEntry e : b.entries()) {
            if (e.lsn() <= lastLsn()) {
                continue; // a resend of what we have (same epoch): idempotent
            }
            Verify.that(e.lsn() == lastLsn() + 1, "mirror log gap in %s/%d: last=%d lsn=%d", namespace, partition, lastLsn(), e.lsn());
            cache.addLast(new Cached(e, nowMs));
        }
        if (b.durableThroughLsn() > committedLsn) {
            mustBeDurableLsn = Math.max(mustBeDurableLsn, b.durableThroughLsn());
        }
        Flush flush = maybeFlush(nowMs);
        // Ack from the cache unless a SYNC change still waits for its flush.
        return new Step(mustBeDurableLsn > committedLsn ? null : acked(), flush);
    }

    /** Starts a flush that is due by age; call on every timer tick. */
    public Flush tick(long nowMs) {
        return maybeFlush(nowMs);
    }

    /** The runtime wrote {@code flush} to storage. */
    public Step onFlushed(Flush flush, long nowMs) {
        Verify.that(flush == flushing, "flush completed for %s/%d that was not in flight", namespace, partition);
        flushing = null;
        long last = flush.lastLsn();
        Verify.that(last > committedLsn, "flush of %s/%d through %d does not advance committed %d", namespace, partition, last, committedLsn);
        while (!cache.isEmpty() && cache.peekFirst().entry().lsn() <= last) {
            cache.pollFirst();
        }
        committedLsn = last;
        committedEntryEpoch = flush.entries().get(flush.entries().size() - 1).epoch();
        return new Step(acked(), maybeFlush(nowMs));
    }

    /**
     * The cached changes not already in a flush in flight, to write before this node
     * stops being a mirror of the partition (a promotion: the new master must hold every
     * change it acknowledged). The state is discarded afterwards. Null when there are none.
     */
    public Flush flushAll() {
        long after = flushing == null ? committedLsn : flushing.lastLsn();
        List<LogEntry> entries = new ArrayList<>(cache.size());
        for (Cached c : cache) {
            if (c.entry().lsn() > after) {
                entries.add(c.entry());
            }
        }
        return entries.isEmpty() ? null : new Flush(namespace, partition, entries, true);
    }

    /** The cached changes above {@code lsn}, in LSN order (what a failover check asks a survivor for). */
    public List<LogEntry> cachedAbove(long lsn) {
        List<LogEntry> out = new ArrayList<>();
        for (Cached c : cache) {
            if (c.entry().lsn() > lsn) {
                out.add(c.entry());
            }
        }
        return out;
    }

    /** The process died: the cache is gone, storage kept what was flushed. */
    public void crash() {
        cache.clear();
        flushing = null;
        mustBeDurableLsn = 0;
    }

    private Flush maybeFlush(long nowMs) {
        if (flushing != null || cache.isEmpty()) {
            return null;
        }
        boolean due = mustBeDurableLsn > committedLsn
                || cache.size() >= config.maxCachedEntries()
                || nowMs - cache.peekFirst().arrivedMs() >= config.flushIntervalMs();
        if (!due) {
            return null;
        }
        List<LogEntry> entries = new ArrayList<>(cache.size());
        for (Cached c : cache) {
            entries.add(c.entry());
        }
        flushing = new Flush(namespace, partition, entries, mustBeDurableLsn > committedLsn);
        return flushing;
    }

    /** Whether the batch holds the entry at {@code lsn} written in {@code entryEpoch} (never when that epoch is unknown). */
    private static boolean carries(ReplicateBatch b, long lsn, long entryEpoch) {
        if (entryEpoch <= 0 || lsn <= b.prevLsn()) {
            return false;
        }
        long i = lsn - b.prevLsn() - 1; // in long: a batch far below the mirror's end must not wrap to an index
        if (i >= b.entries().size()) {
            return false;
        }
        LogEntry e = b.entries().get((int) i);
        return e.lsn() == lsn && e.epoch() == entryEpoch;
    }

    private void dropCachedAfter(long lsn) {
        while (!cache.isEmpty() && cache.peekLast().entry().lsn() > lsn) {
            cache.pollLast();
        }
    }

    private MirrorReply.Acked acked() {
        return new MirrorReply.Acked(namespace, partition, epoch, holds());
    }

    private MirrorReply.Refused refused(MirrorReply.Reason reason) {
        return new MirrorReply.Refused(namespace, partition, epoch, reason, lastLsn() + 1, holds());
    }
}
