package io.ferrydb.core.mirror;

import io.ferrydb.api.Digest;
import io.ferrydb.core.log.EpochStart;
import io.ferrydb.core.log.LogEntry;
import io.ferrydb.core.log.LogOp;
import io.ferrydb.core.store.RecordStore;

import java.util.ArrayList;
import java.util.List;

/**
 * The master's side of one sync of one mirror's copy of a partition, sans-IO: the server's
 * {@code Resyncer} and the node simulation drive the same object. After the mirror's probe
 * is answered the runtime prepares a {@link SyncStart} (under the partition's lock) and
 * hands it to {@link #planned}; then {@link #next} cuts the next chunk from the store (or
 * says the path must escalate), and {@link #movesOn} tells whether an acknowledgement is
 * the one the session waits for. Time, leases, retries, rates and transport stay with the
 * runtime. Not thread-safe: one session is driven by one thread at a time.
 */
public final class SyncSession {
    /**
     * One message of a sync. The first chunk of a copy or tracked-keys sync carries the
     * master's epoch starts and the digests gone since; the last carries the position the
     * mirror then holds ({@code epoch}, {@code through}, {@code lastHlc}).
     */
    public record Chunk(long session, int seq, ResyncPath kind, long fence, int epoch, long through, long lastHlc,
                        List<EpochStart> starts, List<Digest> gone, List<byte[]> records, List<LogEntry> entries, boolean last,
                        int bytes) {}

    /** What to do next: send a chunk, or start a new sync from a higher path. */
    public sealed interface Next {
        record Send(Chunk chunk) implements Next {}

        record Escalate(ResyncPath floor, String why) implements Next {}
    }

    private final long id;
    private final String namespace;
    private final int partition;
    private final String mirror;
    private final ResyncPath floor;
    /** The master's epoch of the partition when the sync started: a mirror that has seen a newer one refuses it. */
    private final long fence;
    private ResyncPlanner.Plan plan;
    private int epoch;
    private long through;
    private long lastHlc;
    private List<EpochStart> starts = List.of();
    private List<byte[]> records = List.of();
    private List<Digest> gone = List.of();
    private int nextItem;
    private long nextLsn;
    private int seq = -1;
    private long shipped;
    private long bytes;

    public SyncSession(long id, String namespace, int partition, String mirror, ResyncPath floor, long fence) {
        this.id = id;
        this.namespace = namespace;
        this.partition = partition;
        this.mirror = mirror;
        this.floor = floor;
        this.fence = fence;
    }

    public long id() {
        return id;
    }

    public String namespace() {
        return namespace;
    }

    public int partition() {
        return partition;
    }

    public String mirror() {
        return mirror;
    }

    /** The lowest path this sync may take (an escalation's), or null. */
    public ResyncPath floor() {
        return floor;
    }

    public long fence() {
        return fence;
    }

    /** The plan, or null while the probe is unanswered. */
    public ResyncPlanner.Plan plan() {
        return plan;
    }

    public long through() {
        return through;
    }

    /** Records (or log entries) shipped so far. */
    public long shipped() {
        return shipped;
    }

    public long bytes() {
        return bytes;
    }

    /** The probe was answered and the sync planned from what the store held at that instant. */
    public void planned(SyncStart start) {
        plan = start.plan();
        epoch = start.epoch();
        through = start.through();
        lastHlc = start.lastHlc();
        starts = start.starts();
        records = start.records();
        gone = start.gone();
        nextLsn = start.nextLsn();
    }

    /**
     * Whether an acknowledgement moves this sync on: only the answer to the chunk in flight
     * does (a stale one must leave the runtime's retry timer running, or the session waits
     * for nothing).
     */
    public boolean movesOn(int ackedNextSeq) {
        return plan != null && ackedNextSeq == seq + 1;
    }

    /** The path to start over from when the mirror could not apply a chunk. */
    public ResyncPath escalation() {
        return plan == null ? ResyncPath.LOG.next() : plan.path().next();
    }

    /**
     * The next chunk, at most {@code maxItems} items and about {@code maxBytes} bytes, read
     * from {@code store}; or an escalation when a log replay finds its entries trimmed or a
     * bulk load (whose records have no log entries) in its range.
     */
    public Next next(RecordStore store, int maxItems, int maxBytes) {
        if (plan == null) {
            throw new IllegalStateException("sync " + id + " of " + namespace + "/" + partition + " has no plan yet");
        }
        int size = 0;
        Chunk c;
        if (plan.path() == ResyncPath.LOG) {
            List<LogEntry> read = nextLsn > through ? List.of()
                    : store.readLog(namespace, partition, nextLsn, (int) Math.min(maxItems, through - nextLsn + 1));
            if (nextLsn <= through && (read.isEmpty() || read.get(0).lsn() != nextLsn)) {
                return new Next.Escalate(ResyncPath.TRACKED, "the log no longer holds lsn " + nextLsn);
            }
            List<LogEntry> entries = new ArrayList<>(read.size());
            for (LogEntry e : read) {
                if (e.op() == LogOp.BULK_LOAD) {
                    return new Next.Escalate(ResyncPath.TRACKED, "a bulk load (no log entries for its records) lies at lsn " + e.lsn());
                }
                entries.add(e);
                size += e.encodedLength();
                if (size >= maxBytes) {
                    break;
                }
            }
            nextLsn += entries.size();
            shipped += entries.size();
            c = new Chunk(id, seq + 1, ResyncPath.LOG, fence, epoch, through, lastHlc, List.of(), List.of(), List.of(), entries,
                    nextLsn > through, size);
        } else {
            boolean first = seq < 0;
            if (first) {
                size += gone.size() * 20;
            }
            List<byte[]> recs = new ArrayList<>();
            while (nextItem < records.size() && recs.size() < maxItems && size < maxBytes) {
                byte[] r = records.get(nextItem++);
                recs.add(r);
                size += r.length;
            }
            shipped += recs.size();
            c = new Chunk(id, seq + 1, plan.path(), fence, epoch, through, lastHlc, first ? starts : List.of(), first ? gone : List.of(),
                    recs, List.of(), nextItem >= records.size(), size);
        }
        seq++;
        bytes += size;
        return new Next.Send(c);
    }
}
