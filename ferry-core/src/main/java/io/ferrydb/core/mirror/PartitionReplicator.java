package io.ferrydb.core.mirror;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.core.Verify;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.core.log.LogEntry;

import java.util.ArrayList;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The master's side of one partition's mirroring: every change the master commits
 * locally is streamed, in LSN order and in parallel with the master's own fsync, to
 * every mirror of the current epoch; client acknowledgements are released when the
 * write's commit level and durability are met: MASTER waits for the master alone,
 * ALL also for every IN_SYNC mirror (its cache for ASYNC, its disk for SYNC).
 *
 * <p>Greenplum-style parallel primary/mirror writes: the master does not wait for its
 * own disk before sending. A mirror's reply carries its {@link AckTriplet}, which this
 * replicator keeps as the latest word on what the mirror holds. Mirrors that are not
 * IN_SYNC (RESYNCING, CLONING) receive the stream too but nobody waits for them. A
 * mirror that refuses with a hole is resent from its expected LSN while the buffer
 * still has it; otherwise (or when it diverged) it is handed to resync. A STALE_EPOCH
 * refusal means this master was deposed: it stops sending.
 *
 * <p>Sans-IO and single-threaded; tokens identify the waiting client requests.
 */
public final class PartitionReplicator {
    /**
     * @param maxBatchEntries    changes per batch sent to a mirror
     * @param maxBufferedEntries changes kept for resending; a mirror further behind is resynced instead
     * @param resendAfterMs      a mirror that acknowledged nothing new for this long is sent again what it has
     *                           not acknowledged (a lost batch or a lost reply)
     */
    public record Config(int maxBatchEntries, int maxBufferedEntries, long resendAfterMs) {
        public Config(int maxBatchEntries, int maxBufferedEntries) {
            this(maxBatchEntries, maxBufferedEntries, 200);
        }

        public Config {
            Verify.that(resendAfterMs >= 1, "resendAfterMs must be >= 1, got %d", resendAfterMs);
            Verify.that(maxBatchEntries >= 1, "maxBatchEntries must be >= 1, got %d", maxBatchEntries);
            Verify.that(maxBufferedEntries >= maxBatchEntries, "maxBufferedEntries (%d) must be >= maxBatchEntries (%d)",
                    maxBufferedEntries, maxBatchEntries);
        }
    }

    /** A batch for one mirror. */
    public record Send(String mirror, ReplicateBatch batch) {}

    /** What a reply changed: client requests to acknowledge, and mirrors the stream can no longer serve. */
    public record Outcome(List<Long> acknowledge, Set<String> needResync, boolean deposed) {
        public static final Outcome NOTHING = new Outcome(List.of(), Set.of(), false);
    }

    private record Buffered(LogEntry entry, boolean mirrorsMustBeDurable) {}

    private record Waiter(long lsn, CommitLevel level, Durability durability, long token) {}

    private static final class MirrorLink {
        final String node;
        ReplicaState state;
        long sentLsn;
        AckTriplet holds;
        boolean streaming = true;
        long lastProgressMs;
        boolean progressed;
        /** Whether the last tick found this mirror with something outstanding. */
        boolean wasOutstanding;
        /** The resend interval's multiplier: doubles with each resend that brought no progress. */
        long resendBackoff = 1;
        /** A sync copies the partition through this LSN: the buffer keeps what follows. -1: none. */
        long syncFromLsn = -1;
        /**
         * A RESYNCING or CLONING mirror whose sync finished: its catching up is reported to the
         * control plane, which makes it IN_SYNC in a later epoch, and from then on it may be
         * promoted. So from the sync's end ALL writes wait for it as for an IN_SYNC mirror: one
         * acknowledged meanwhile without it could be missing on it when the table calls it
         * IN_SYNC before this master sees that view (NodeSimulationTest, seed 744: an ALL+SYNC
         * write lost). Cleared when a view marks it ABSENT.
         */
        boolean caughtUp;
        /**
         * This master's last LSN when the mirror's sync finished. Writes through it may have
         * been acknowledged without the mirror (it was not waited for while being synced), so
         * its catching up is reported only once it holds them durably ({@link #mayReportCaughtUp}):
         * reported at the sync's end, the control plane made it IN_SYNC and then promoted it
         * without them (NodeSimulationTest, seeds 2126 and 2561: ALL writes acknowledged during
         * the sync lost and not in the ledger). -1: none.
         */
        long reportAfterLsn = -1;
        /** The LSN the stream to this mirror started after, when the link was made. */
        final long startLsn;
        /** Whether the mirror has answered anything on this link (until then {@link #holds} is no word of its). */
        boolean heard;
        /** Ask the silent mirror what it holds with the next poll (an empty batch when there is nothing to resend). */
        boolean probe;

        MirrorLink(String node, ReplicaState state, long startLsn) {
            this.node = node;
            this.state = state;
            this.sentLsn = startLsn;
            this.startLsn = startLsn;
            this.holds = AckTriplet.durable(0);
        }
    }

    private final String namespace;
    private final int partition;
    private final Config config;
    private long epoch;
    private long lastLsn;
    private long localDurableLsn;
    private boolean deposed;
    private static final long MAX_RESEND_BACKOFF = 32;
    /** Times a mirror was rewound to resend what it had not acknowledged (for metrics). */
    private long resends;
    private final ArrayDeque<Buffered> buffer = new ArrayDeque<>();
    private final Map<String, MirrorLink> mirrors = new LinkedHashMap<>();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

    /** A master of the partition in {@code epoch} whose log ends (durably) at {@code lastLsn}. */
    public PartitionReplicator(String namespace, int partition, long epoch, long lastLsn, Config config) {
        this.namespace = namespace;
        this.partition = partition;
        this.epoch = epoch;
        this.lastLsn = lastLsn;
        this.localDurableLsn = lastLsn;
        this.config = config;
    }

    /**
     * A new epoch's mirrors and their states. An IN_SYNC mirror new to this master is
     * streamed from the master's current end; a RESYNCING or CLONING one waits for its
     * sync ({@link #onResynced}); an ABSENT one gets nothing. Waiters stop waiting for
     * mirrors that are gone or no longer IN_SYNC.
     */
    public List<Long> onView(long newEpoch, Map<String, ReplicaState> states) {
        Verify.that(newEpoch >= epoch, "epoch of %s/%d went back from %d to %d", namespace, partition, epoch, newEpoch);
        epoch = newEpoch;
        mirrors.keySet().retainAll(states.keySet());
        // In node-id order, so the replicator behaves the same whatever map the caller built.
        for (Map.Entry<String, ReplicaState> e : new java.util.TreeMap<>(states).entrySet()) {
            MirrorLink l = mirrors.get(e.getKey());
            if (l == null) {
                l = new MirrorLink(e.getKey(), e.getValue(), lastLsn);
                l.streaming = e.getValue() == ReplicaState.IN_SYNC;
                mirrors.put(e.getKey(), l);
            } else {
                l.state = e.getValue();
                if (e.getValue() == ReplicaState.ABSENT) {
                    l.streaming = false;
                    l.caughtUp = false;
                }
            }
        }
        return release();
    }

    /**
     * The master applied a change locally (its fsync, if SYNC, may still be running).
     * Returns what that released (MASTER+ASYNC at once) and the mirrors that fell so far
     * behind that the buffer no longer holds what they lack: they need a resync.
     */
    public Outcome onCommitted(LogEntry e, CommitLevel level, Durability durability, long token) {
        Verify.that(!deposed, "%s/%d: a deposed master committed lsn %d", namespace, partition, e.lsn());
        Verify.that(e.lsn() == lastLsn + 1, "master log gap in %s/%d: last=%d lsn=%d", namespace, partition, lastLsn, e.lsn());
        lastLsn = e.lsn();
        buffer.addLast(new Buffered(e, level == CommitLevel.ALL && durability == Durability.SYNC));
        waiters.addLast(new Waiter(e.lsn(), level, durability, token));
        Set<String> behind = trimBuffer();
        return new Outcome(release(), behind, false);
    }

    /** The tokens still waiting (to fail them when this node stops mastering the partition). */
    public List<Long> pendingTokens() {
        List<Long> out = new ArrayList<>(waiters.size());
        for (Waiter w : waiters) {
            out.add(w.token());
        }
        return out;
    }

    /** Nothing waits and every streaming mirror holds durably all it was sent: the timer can skip it. */
    public boolean idle() {
        if (!waiters.isEmpty()) {
            return false;
        }
        for (MirrorLink l : mirrors.values()) {
            if (l.streaming && l.sentLsn > l.holds.committedLsn() || l.syncFromLsn >= 0) {
                return false;
            }
        }
        return true;
    }

    /** Whether any mirror is in the table (a partition without mirrors needs no replicator work). */
    public boolean hasMirrors() {
        return !mirrors.isEmpty();
    }

    /** The master's own storage is durable through {@code lsn}. */
    public List<Long> onLocalDurable(long lsn) {
        localDurableLsn = Math.max(localDurableLsn, lsn);
        return release();
    }

    /** Batches to send now: everything each streaming mirror has not been sent yet. */
    public List<Send> poll() {
        List<Send> out = new ArrayList<>();
        if (deposed) {
            return out;
        }
        for (MirrorLink l : mirrors.values()) {
            if (l.probe && l.streaming && l.sentLsn >= lastLsn) {
                out.add(new Send(l.node, new ReplicateBatch(namespace, partition, epoch, l.sentLsn, List.of(), 0)));
            }
            l.probe = false;
            while (l.streaming && l.sentLsn < lastLsn) {
                List<LogEntry> entries = new ArrayList<>();
                long durableThrough = 0;
                for (Buffered b : buffer) {
                    long lsn = b.entry().lsn();
                    if (lsn <= l.sentLsn) {
                        continue;
                    }
                    if (entries.size() == config.maxBatchEntries()) {
                        break;
                    }
                    entries.add(b.entry());
                    if (b.mirrorsMustBeDurable()) {
                        durableThrough = lsn;
                    }
                }
                Verify.that(!entries.isEmpty() && entries.get(0).lsn() == l.sentLsn + 1,
                        "%s/%d: buffer lacks lsn %d for mirror %s", namespace, partition, l.sentLsn + 1, l.node);
                out.add(new Send(l.node, new ReplicateBatch(namespace, partition, epoch, l.sentLsn, entries, durableThrough)));
                l.sentLsn += entries.size();
            }
        }
        return out;
    }

    public Outcome onReply(String mirror, MirrorReply reply) {
        MirrorLink l = mirrors.get(mirror);
        if (l == null || deposed) {
            return Outcome.NOTHING;
        }
        if (reply.epoch() > epoch) {
            // A mirror has seen a newer master: this one must stop.
            deposed = true;
            return new Outcome(List.of(), Set.of(), true);
        }
        l.heard = true;
        if (reply instanceof MirrorReply.Acked a) {
            // Replies may arrive out of order: keep the newest word (its cache end or disk moved on).
            if (a.epoch() == epoch && (a.holds().cacheEndLsn() > l.holds.cacheEndLsn() || a.holds().committedLsn() > l.holds.committedLsn())) {
                l.holds = a.holds();
                l.progressed = true; // the resend timer starts over at the next tick
            }
            return new Outcome(release(), Set.of(), false);
        }
        MirrorReply.Refused r = (MirrorReply.Refused) reply;
        if (r.reason() == MirrorReply.Reason.STALE_EPOCH) {
            // A newer mirror epoch was handled above. At this epoch the refusal is of a batch
            // this master sent in its previous epoch (the same master across an epoch that
            // changed only a mirror's state), which reached a mirror that had adopted this
            // epoch from its view first (NodeSimulationTest seed 9630): stale, ignored, and
            // what it says the mirror holds is no newer word either.
            return new Outcome(release(), Set.of(), false);
        }
        l.holds = r.holds();
        Set<String> resync = new TreeSet<>();
        switch (r.reason()) {
            case GAP -> {
                long first = buffer.isEmpty() ? lastLsn + 1 : buffer.peekFirst().entry().lsn();
                if (r.expectedLsn() >= first && r.expectedLsn() <= lastLsn + 1) {
                    l.sentLsn = r.expectedLsn() - 1; // resend from the hole
                } else {
                    l.streaming = false;
                    resync.add(mirror);
                }
            }
            case DIVERGED -> {
                l.streaming = false;
                resync.add(mirror);
            }
        }
        return new Outcome(release(), resync, false);
    }

    /**
     * Timer: a mirror that has had batches outstanding without any progress for
     * {@code resendAfterMs} is rewound to what it acknowledged, so the next {@link #poll}
     * sends it again (the network may have lost a batch or its reply). Returns the
     * mirrors whose missing changes are no longer buffered: they need a resync.
     */
    public Set<String> tick(long nowMs) {
        Set<String> resync = new TreeSet<>();
        for (MirrorLink l : mirrors.values()) {
            // Outstanding until durable there: a lost reply to a flush would otherwise leave
            // SYNC waiters and the resend buffer waiting forever.
            boolean outstanding = l.streaming && l.sentLsn > l.holds.committedLsn();
            // The timer counts from the first tick that finds the mirror outstanding: a
            // partition with nothing outstanding is not ticked, so its last progress may be
            // minutes old, and every first write after a pause was sent twice at once.
            if (!outstanding || l.progressed || !l.wasOutstanding) {
                l.lastProgressMs = nowMs;
                if (!outstanding || l.progressed) {
                    l.resendBackoff = 1;
                }
                l.progressed = false;
                l.wasOutstanding = outstanding;
                continue;
            }
            // Each resend without progress doubles the wait (up to 32x): the stream is ordered
            // and reliable, so a missing answer usually means a queue, and resending into a
            // queue deeper than the interval only deepens it. A 2-node cluster grown by a join
            // collapsed that way: batches took 750 ms to arrive, every one was resent every
            // 200 ms, and 64x more entries were sent than written.
            if (nowMs - l.lastProgressMs >= config.resendAfterMs() * l.resendBackoff) {
                l.resendBackoff = Math.min(l.resendBackoff * 2, MAX_RESEND_BACKOFF);
                long first = buffer.isEmpty() ? lastLsn + 1 : buffer.peekFirst().entry().lsn();
                // A mirror that has not answered on this link yet has said nothing of what it
                // holds: the stream started after startLsn, so that is where a resend starts, and
                // with nothing to resend it is asked (an empty batch) what it holds; one lacking
                // what precedes answers GAP, and is resent or resynced from there. Taken for "holds
                // nothing", a new master's IN_SYNC mirror slow to answer went off the stream and
                // through the control plane to a resync, and the master's ALL writes waited for
                // that (HandoffBenchmark, session 14).
                long holds = l.heard ? l.holds.committedLsn() : Math.max(l.holds.committedLsn(), l.startLsn);
                if (holds + 1 >= first) {
                    // Resend what is not durable there; the mirror skips what it has and answers.
                    l.sentLsn = holds;
                    l.probe = !l.heard;
                    resends++;
                } else {
                    l.streaming = false; // what it lacks is no longer buffered: resync
                    resync.add(l.node);
                }
                l.lastProgressMs = nowMs;
            }
        }
        return resync;
    }

    /**
     * A mirror (re)connected and said what it holds: after a restart its cache is gone,
     * so the stream restarts after what it holds when the buffer still has the rest,
     * else it needs a resync.
     */
    public Outcome onMirrorConnected(String mirror, AckTriplet holds) {
        MirrorLink l = mirrors.get(mirror);
        if (l == null || deposed) {
            return Outcome.NOTHING;
        }
        if (!l.heard && l.streaming && l.sentLsn == l.startLsn) {
            // Nothing was sent to it yet, so nothing was lost in flight: the stream starts where
            // it was to (a mirror lacking some of it says so with a GAP). Taking the unknown
            // holdings for "holds nothing" sent every partition mirrored to a node off the stream
            // when a later stream to it opened (HandoffBenchmark: thousands of needless syncs).
            return new Outcome(release(), Set.of(), false);
        }
        l.holds = holds;
        long first = buffer.isEmpty() ? lastLsn + 1 : buffer.peekFirst().entry().lsn();
        if (l.state == ReplicaState.IN_SYNC && holds.cacheEndLsn() + 1 >= first && holds.cacheEndLsn() <= lastLsn) {
            l.sentLsn = holds.cacheEndLsn();
            l.streaming = true;
            return new Outcome(release(), Set.of(), false);
        }
        l.streaming = false;
        return new Outcome(release(), l.state == ReplicaState.ABSENT ? Set.of() : Set.of(mirror), false);
    }

    /**
     * A sync of {@code mirror} starts from a copy of the partition through {@code lsn}:
     * the buffer keeps the changes after it (within its bound), so the stream can resume
     * exactly there.
     */
    public void beginSync(String mirror, long lsn) {
        MirrorLink l = mirrors.get(mirror);
        if (l != null) {
            l.streaming = false;
            l.syncFromLsn = lsn;
        }
    }

    /**
     * A resynced mirror has everything through {@code lsn} and joins the stream after it;
     * if the buffer no longer holds what follows (the sync took too long), it needs another.
     */
    public Outcome onResynced(String mirror, long lsn) {
        MirrorLink l = mirrors.get(mirror);
        Set<String> again = Set.of();
        if (l != null) {
            long first = buffer.isEmpty() ? lastLsn + 1 : buffer.peekFirst().entry().lsn();
            l.syncFromLsn = -1;
            l.holds = AckTriplet.durable(lsn);
            if (lsn + 1 >= first && lsn <= lastLsn) {
                l.sentLsn = lsn;
                l.streaming = true;
                l.caughtUp = l.state != ReplicaState.ABSENT;
                l.reportAfterLsn = lastLsn;
            } else {
                l.streaming = false;
                again = Set.of(mirror);
            }
        }
        return new Outcome(release(), again, false);
    }

    /**
     * Whether the control plane may be told that {@code mirror}, whose sync finished, has
     * caught up: it is on the stream and holds durably everything this master had logged
     * when the sync finished (some of it acknowledged without the mirror). From then on
     * every write waits for it, so once the table calls it IN_SYNC it lacks nothing.
     */
    public boolean mayReportCaughtUp(String mirror) {
        MirrorLink l = mirrors.get(mirror);
        return l != null && !deposed && l.caughtUp && l.streaming && l.syncFromLsn < 0 && l.holds.committedLsn() >= l.reportAfterLsn;
    }

    /** Whether the mirror is being synced (between {@link #beginSync} and {@link #onResynced}). */
    public boolean syncing(String mirror) {
        MirrorLink l = mirrors.get(mirror);
        return l != null && l.syncFromLsn >= 0;
    }

    public long lastLsn() {
        return lastLsn;
    }

    /**
     * Whether {@code mirror} is an IN_SYNC mirror fed by this master's ordered stream: no
     * sync of it in progress, nothing to resend from scratch, this master not deposed. Such
     * a mirror needs no sync to take the partition over, only to have acknowledged the log
     * durably (see {@link #durableOn}).
     */
    public boolean streamedInSync(String mirror) {
        MirrorLink l = mirrors.get(mirror);
        return l != null && !deposed && l.state == ReplicaState.IN_SYNC && l.streaming && l.syncFromLsn < 0;
    }

    /** Whether {@code mirror} reported everything through {@code lsn} durable (committed, not only cached). */
    public boolean durableOn(String mirror, long lsn) {
        MirrorLink l = mirrors.get(mirror);
        return l != null && l.holds.committedLsn() >= lsn;
    }

    /** The latest triplet each mirror reported (for status and failover). */
    public Map<String, AckTriplet> mirrorHoldings() {
        Map<String, AckTriplet> out = new LinkedHashMap<>();
        mirrors.forEach((id, l) -> out.put(id, l.holds));
        return out;
    }

    public long epoch() {
        return epoch;
    }

    /** What the oldest waiting write waits for, and every mirror's stream state (for the slow-write log line). */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append(namespace).append('/').append(partition).append(" epoch ").append(epoch).append(" last ").append(lastLsn)
                .append(" durable here ").append(localDurableLsn);
        Waiter w = waiters.peekFirst();
        if (w != null) {
            sb.append("; oldest waiter lsn ").append(w.lsn()).append(' ').append(w.level()).append('+').append(w.durability())
                    .append(" of ").append(waiters.size());
        }
        for (MirrorLink l : mirrors.values()) {
            sb.append("; ").append(l.node).append(' ').append(l.state).append(l.caughtUp ? " caught-up" : "")
                    .append(l.streaming ? " streaming" : " not-streaming").append(" sent ").append(l.sentLsn).append(" holds ")
                    .append(l.holds.cacheEndLsn()).append('/').append(l.holds.committedLsn())
                    .append(l.syncFromLsn >= 0 ? " syncing from " + l.syncFromLsn : "");
        }
        return sb.toString();
    }

    /** How many times {@link #tick} rewound a mirror to resend (each costs a batch or more). */
    public long resends() {
        return resends;
    }

    public boolean deposed() {
        return deposed;
    }

    private List<Long> release() {
        List<Long> tokens = new ArrayList<>();
        for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
            Waiter w = it.next();
            if (satisfied(w)) {
                tokens.add(w.token());
                it.remove();
            }
        }
        return tokens;
    }

    private boolean satisfied(Waiter w) {
        boolean sync = w.durability() == Durability.SYNC;
        if (sync && localDurableLsn < w.lsn()) {
            return false;
        }
        if (w.level() == CommitLevel.MASTER) {
            return true;
        }
        for (MirrorLink l : mirrors.values()) {
            if (l.state != ReplicaState.IN_SYNC && !l.caughtUp) {
                continue;
            }
            long has = sync ? l.holds.committedLsn() : l.holds.cacheEndLsn();
            if (has < w.lsn()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Keeps what a streaming mirror may still need resent (everything after its durable
     * LSN: a mirror that crashes loses its cache and asks again), up to the bound.
     */
    private Set<String> trimBuffer() {
        long needed = lastLsn + 1;
        for (MirrorLink l : mirrors.values()) {
            if (l.streaming) {
                needed = Math.min(needed, l.holds.committedLsn() + 1);
            }
            if (l.syncFromLsn >= 0) {
                needed = Math.min(needed, l.syncFromLsn + 1);
            }
        }
        Set<String> behind = new TreeSet<>();
        while (!buffer.isEmpty() && (buffer.peekFirst().entry().lsn() < needed || buffer.size() > config.maxBufferedEntries())) {
            long dropped = buffer.pollFirst().entry().lsn();
            for (MirrorLink l : mirrors.values()) {
                if (l.streaming && l.sentLsn < dropped) {
                    // Too far behind to stream: the resync path takes it from here.
                    l.streaming = false;
                    behind.add(l.node);
                }
            }
        }
        return behind;
    }
}
