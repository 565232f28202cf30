package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.record.ByteReader;
import io.ferrydb.core.record.ByteWriter;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Binary forms of the control plane's commands, results, views, snapshots and
 * heartbeats (big-endian, versioned by a leading format byte). The control-plane
 * log and snapshots hold these bytes, so a format change needs a new version byte
 * and a reader for the old one.
 */
public final class ClusterCodec {
    /** 2: views carry the failed masters' last reported LSNs (format 1 still decodes, without them). */
    /** 3: members and joins carry the process incarnation. 2: views carry failed masters' LSNs. */
    private static final int FORMAT = 3;
    private static final int JOIN = 1;
    private static final int FAILED = 2;
    private static final int DECOMMISSION = 3;
    private static final int CAUGHT_UP = 4;
    private static final int BULK_LOADED = 5;
    private static final int BEHIND = 6;
    private static final int APPLIED = 1;
    private static final int REFUSED = 2;
    private static final ReplicaState[] STATES = ReplicaState.values();
    private static final Liveness[] LIVENESS = Liveness.values();
    private static final ChangeReason[] REASONS = ChangeReason.values();

    private ClusterCodec() {}

    // --- commands ---

    public static byte[] encodeCommand(ClusterCommand c) {
        ByteWriter w = new ByteWriter(256).u8(FORMAT);
        if (c instanceof ClusterCommand.Join) {
            ClusterCommand.Join j = (ClusterCommand.Join) c;
            w.u8(JOIN).shortString(j.node()).shortString(j.address()).shortString(j.httpAddress()).u8(j.voter() ? 1 : 0);
            writeNamespaces(w, j.namespaces());
        } else if (c instanceof ClusterCommand.NodeFailed) {
            w.u8(FAILED).shortString(((ClusterCommand.NodeFailed) c).node());
        } else if (c instanceof ClusterCommand.Decommission) {
            w.u8(DECOMMISSION).shortString(((ClusterCommand.Decommission) c).node());
        } else if (c instanceof ClusterCommand.BulkLoaded b) {
            w.u8(BULK_LOADED).shortString(b.namespace()).i64(b.records()).i32(b.partitions().size());
            for (int i = 0; i < b.partitions().size(); i++) {
                w.u16(b.partitions().get(i)).i64(b.boundaryLsns().get(i));
            }
        } else if (c instanceof ClusterCommand.Behind b) {
            w.u8(BEHIND);
            writeRefs(w, b.replicas());
        } else {
            w.u8(CAUGHT_UP);
            writeRefs(w, ((ClusterCommand.CaughtUp) c).replicas());
        }
        w.i64(c.timeMs());
        writeLsns(w, c.lsns());
        if (c instanceof ClusterCommand.Join j) {
            w.i64(j.incarnation());
        }
        return w.toByteArray();
    }

    public static ClusterCommand decodeCommand(byte[] bytes) {
        ByteReader r = reader(bytes);
        int type = r.u8();
        switch (type) {
            case JOIN: {
                String node = r.shortString();
                String address = r.shortString();
                String http = r.shortString();
                boolean voter = r.u8() == 1;
                List<NamespaceSpec> nss = readNamespaces(r);
                long timeMs = r.i64();
                List<LsnReport> lsns = readLsns(r);
                return new ClusterCommand.Join(node, address, http, voter, nss, timeMs, lsns, bytes[0] >= 3 ? r.i64() : 0);
            }
            case FAILED: {
                String node = r.shortString();
                return new ClusterCommand.NodeFailed(node, r.i64(), readLsns(r));
            }
            case DECOMMISSION: {
                String node = r.shortString();
                return new ClusterCommand.Decommission(node, r.i64(), readLsns(r));
            }
            case CAUGHT_UP: {
                List<PartitionRef> refs = readRefs(r);
                return new ClusterCommand.CaughtUp(refs, r.i64(), readLsns(r));
            }
            case BEHIND: {
                List<PartitionRef> refs = readRefs(r);
                return new ClusterCommand.Behind(refs, r.i64(), readLsns(r));
            }
            case BULK_LOADED: {
                String ns = r.shortString();
                long records = r.i64();
                int n = count(r);
                List<Integer> ps = new ArrayList<>(n);
                List<Long> lsns = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    ps.add(r.u16());
                    lsns.add(r.i64());
                }
                long timeMs = r.i64();
                readLsns(r);
                return new ClusterCommand.BulkLoaded(ns, ps, lsns, records, timeMs);
            }
            default:
                throw new IllegalArgumentException("unknown cluster command type " + type);
        }
    }

    private static void writeRefs(ByteWriter w, List<PartitionRef> refs) {
        w.i32(refs.size());
        for (PartitionRef r : refs) {
            w.shortString(r.namespace()).u16(r.partition()).shortString(r.node()).i64(r.epoch());
        }
    }

    private static List<PartitionRef> readRefs(ByteReader r) {
        int n = count(r);
        List<PartitionRef> refs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            refs.add(new PartitionRef(r.shortString(), r.u16(), r.shortString(), r.i64()));
        }
        return refs;
    }

    /** A heartbeat's replica reports name partitions that exist: the leader looks each up in its table. */
    private static List<PartitionRef> checkedRefs(List<PartitionRef> refs, String field) {
        for (PartitionRef ref : refs) {
            if (ref.partition() >= Limits.PARTITION_COUNT) {
                throw new IllegalArgumentException(field + ".partition: must be below " + Limits.PARTITION_COUNT + ", got " + ref.partition());
            }
        }
        return refs;
    }

    private static void writeNamespaces(ByteWriter w, List<NamespaceSpec> namespaces) {
        w.i32(namespaces.size());
        for (NamespaceSpec ns : namespaces) {
            w.shortString(ns.name()).i32(ns.replicationFactor());
        }
    }

    private static List<NamespaceSpec> readNamespaces(ByteReader r) {
        int n = count(r);
        List<NamespaceSpec> nss = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            nss.add(new NamespaceSpec(r.shortString(), r.i32()));
        }
        return nss;
    }

    private static void writeLsns(ByteWriter w, List<LsnReport> lsns) {
        w.i32(lsns.size());
        for (LsnReport l : lsns) {
            w.shortString(l.namespace()).u16(l.partition()).shortString(l.node()).i64(l.lsn());
        }
    }

    private static List<LsnReport> readLsns(ByteReader r) {
        int n = count(r);
        List<LsnReport> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new LsnReport(r.shortString(), r.u16(), r.shortString(), r.i64()));
        }
        return out;
    }

    // --- results ---

    public static byte[] encodeResult(ApplyResult result) {
        ByteWriter w = new ByteWriter(64).u8(FORMAT);
        if (result instanceof ApplyResult.Applied) {
            w.u8(APPLIED).i64(result.version()).i32(((ApplyResult.Applied) result).partitionsChanged());
        } else {
            w.u8(REFUSED).i64(result.version()).blob(((ApplyResult.Refused) result).reason().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        return w.toByteArray();
    }

    public static ApplyResult decodeResult(byte[] bytes) {
        ByteReader r = reader(bytes);
        int type = r.u8();
        long version = r.i64();
        if (type == APPLIED) {
            return new ApplyResult.Applied(version, r.i32());
        }
        return new ApplyResult.Refused(version, new String(r.blob(), java.nio.charset.StandardCharsets.UTF_8));
    }

    // --- views and snapshots ---

    public static byte[] encodeView(ClusterView view) {
        ByteWriter w = new ByteWriter(64 * 1024).u8(FORMAT);
        writeView(w, view);
        return w.toByteArray();
    }

    public static ClusterView decodeView(byte[] bytes) {
        return readView(reader(bytes), bytes[0]);
    }

    private static void writeView(ByteWriter w, ClusterView view) {
        w.i64(view.version());
        List<String> ids = new ArrayList<>(view.members().keySet());
        Map<String, Integer> index = new HashMap<>();
        w.i32(ids.size());
        for (Member m : view.members().values()) {
            index.put(m.id(), index.size());
            w.shortString(m.id()).shortString(m.address()).shortString(m.httpAddress()).u8(m.voter() ? 1 : 0).u8(m.liveness().ordinal())
                    .i64(m.incarnation());
        }
        w.i32(view.tables().size());
        for (NamespaceTable t : view.tables().values()) {
            w.shortString(t.namespace()).i32(t.replicationFactor());
            for (int p = 0; p < t.size(); p++) {
                PartitionEntry e = t.entry(p);
                writeEntry(w, e.epoch(), e.replicas(), index);
                w.u16(e.handoffTo() == null ? 0 : index.get(e.handoffTo()) + 1);
            }
            int failed = 0;
            for (int p = 0; p < t.size(); p++) {
                failed += t.failedMasterLsn(p) >= 0 ? 1 : 0;
            }
            w.i32(failed);
            for (int p = 0; p < t.size(); p++) {
                if (t.failedMasterLsn(p) >= 0) {
                    w.u16(p).i64(t.failedMasterLsn(p));
                }
            }
        }
    }

    private static void writeEntry(ByteWriter w, long epoch, List<Replica> replicas, Map<String, Integer> index) {
        w.i64(epoch).u8(replicas.size());
        for (Replica rep : replicas) {
            Integer i = index.get(rep.node());
            if (i == null) {
                throw new IllegalStateException("replica on unknown member " + rep.node());
            }
            w.u16(i).u8(rep.state().ordinal());
        }
    }

    private static ClusterView readView(ByteReader r, int format) {
        long version = r.i64();
        int n = count(r);
        SortedMap<String, Member> members = new TreeMap<>();
        List<String> ids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Member m = new Member(r.shortString(), r.shortString(), r.shortString(), r.u8() == 1, LIVENESS[r.u8()],
                    format >= 3 ? r.i64() : 0);
            members.put(m.id(), m);
            ids.add(m.id());
        }
        int tables = count(r);
        SortedMap<String, NamespaceTable> views = new TreeMap<>();
        for (int i = 0; i < tables; i++) {
            String ns = r.shortString();
            int rf = r.i32();
            PartitionEntry[] entries = new PartitionEntry[Limits.PARTITION_COUNT];
            for (int p = 0; p < entries.length; p++) {
                entries[p] = readEntry(r, ids);
            }
            long[] failed = null;
            if (format >= 2) {
                for (int k = count(r); k > 0; k--) {
                    if (failed == null) {
                        failed = new long[entries.length];
                        java.util.Arrays.fill(failed, -1);
                    }
                    failed[r.u16()] = r.i64();
                }
            }
            views.put(ns, new NamespaceTable(ns, rf, entries, failed));
        }
        return new ClusterView(version, members, views);
    }

    private static PartitionEntry readEntry(ByteReader r, List<String> ids) {
        long epoch = r.i64();
        List<Replica> reps = readReplicas(r, ids);
        int handoff = r.u16();
        return new PartitionEntry(epoch, reps, handoff == 0 ? null : ids.get(handoff - 1));
    }

    private static List<Replica> readReplicas(ByteReader r, List<String> ids) {
        int n = r.u8();
        List<Replica> reps = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            reps.add(new Replica(ids.get(r.u16()), STATES[r.u8()]));
        }
        return reps;
    }

    /** The whole state: the view plus every partition's history. */
    public static byte[] encodeSnapshot(ClusterState state) {
        ClusterView view = state.view();
        ByteWriter w = new ByteWriter(256 * 1024).u8(FORMAT).i32(state.historyLimitPerPartition());
        writeView(w, view);
        Map<String, Integer> index = new HashMap<>();
        for (String id : view.members().keySet()) {
            index.put(id, index.size());
        }
        for (NamespaceTable t : view.tables().values()) {
            for (int p = 0; p < t.size(); p++) {
                List<HistoryEntry> h = state.history(t.namespace(), p);
                w.i32(h.size());
                for (HistoryEntry e : h) {
                    writeEntry(w, e.epoch(), e.replicas(), index);
                    w.i64(e.startLsn()).u8(e.reason().ordinal()).i64(e.timeMs());
                }
            }
        }
        w.i32(state.leaving().size());
        for (String id : state.leaving()) {
            w.shortString(id);
        }
        return w.toByteArray();
    }

    public static ClusterState decodeSnapshot(byte[] bytes) {
        ByteReader r = reader(bytes);
        int historyLimit = r.i32();
        ClusterView view = readView(r, bytes[0]);
        List<String> ids = new ArrayList<>(view.members().keySet());
        Map<String, Integer> rfs = new TreeMap<>();
        Map<String, PartitionEntry[]> entries = new HashMap<>();
        Map<String, List<List<HistoryEntry>>> history = new HashMap<>();
        for (NamespaceTable t : view.tables().values()) {
            rfs.put(t.namespace(), t.replicationFactor());
            PartitionEntry[] es = new PartitionEntry[t.size()];
            List<List<HistoryEntry>> hs = new ArrayList<>(t.size());
            for (int p = 0; p < t.size(); p++) {
                es[p] = t.entry(p);
                int n = count(r);
                List<HistoryEntry> h = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    long epoch = r.i64();
                    List<Replica> reps = readReplicas(r, ids);
                    h.add(new HistoryEntry(epoch, reps, r.i64(), REASONS[r.u8()], r.i64()));
                }
                hs.add(h);
            }
            entries.put(t.namespace(), es);
            history.put(t.namespace(), hs);
        }
        java.util.Set<String> leaving = new java.util.TreeSet<>();
        for (int i = count(r); i > 0; i--) {
            leaving.add(r.shortString());
        }
        ClusterState state = new ClusterState(historyLimit);
        Map<String, long[]> failed = new HashMap<>();
        for (NamespaceTable t : view.tables().values()) {
            long[] lsns = new long[t.size()];
            for (int p = 0; p < t.size(); p++) {
                lsns[p] = t.failedMasterLsn(p);
            }
            failed.put(t.namespace(), lsns);
        }
        state.restore(view.version(), view.members(), rfs, entries, history, leaving, failed);
        return state;
    }

    public static byte[] encodeHistory(List<HistoryEntry> history) {
        ByteWriter w = new ByteWriter(1024).u8(FORMAT).i32(history.size());
        for (HistoryEntry e : history) {
            w.i64(e.epoch()).u8(e.replicas().size());
            for (Replica rep : e.replicas()) {
                w.shortString(rep.node()).u8(rep.state().ordinal());
            }
            w.i64(e.startLsn()).u8(e.reason().ordinal()).i64(e.timeMs());
        }
        return w.toByteArray();
    }

    public static List<HistoryEntry> decodeHistory(byte[] bytes) {
        ByteReader r = reader(bytes);
        int n = count(r);
        List<HistoryEntry> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long epoch = r.i64();
            int reps = r.u8();
            List<Replica> replicas = new ArrayList<>(reps);
            for (int j = 0; j < reps; j++) {
                replicas.add(new Replica(r.shortString(), STATES[r.u8()]));
            }
            out.add(new HistoryEntry(epoch, replicas, r.i64(), REASONS[r.u8()], r.i64()));
        }
        return out;
    }

    // --- heartbeats ---

    public static byte[] encodeHeartbeat(HeartbeatRequest hb) {
        ByteWriter w = new ByteWriter(8 * 1024).u8(FORMAT);
        w.shortString(hb.node()).shortString(hb.address()).shortString(hb.httpAddress()).u8(hb.voter() ? 1 : 0);
        writeNamespaces(w, hb.namespaces());
        w.i64(hb.knownVersion());
        w.i32(hb.lsns().size());
        for (Map.Entry<String, long[]> e : new TreeMap<>(hb.lsns()).entrySet()) {
            w.shortString(e.getKey()).i32(e.getValue().length);
            for (long lsn : e.getValue()) {
                w.i64(lsn);
            }
        }
        writeRefs(w, hb.caughtUp());
        w.i64(hb.incarnation());
        writeRefs(w, hb.behind());
        return w.toByteArray();
    }

    public static HeartbeatRequest decodeHeartbeat(byte[] bytes) {
        ByteReader r = reader(bytes);
        String node = r.shortString();
        String address = r.shortString();
        String http = r.shortString();
        boolean voter = r.u8() == 1;
        List<NamespaceSpec> nss = readNamespaces(r);
        long known = r.i64();
        int nl = count(r);
        Map<String, long[]> lsns = new TreeMap<>();
        for (int i = 0; i < nl; i++) {
            String ns = r.shortString();
            int len = r.i32();
            if (len < 0 || len > Limits.PARTITION_COUNT) {
                throw new IllegalArgumentException("bad LSN vector length " + len);
            }
            long[] v = new long[len];
            for (int p = 0; p < len; p++) {
                v[p] = r.i64();
            }
            lsns.put(ns, v);
        }
        List<PartitionRef> refs = checkedRefs(readRefs(r), "caughtUp");
        // Added after the first format: a heartbeat from an older node ends here (or after the incarnation).
        long incarnation = r.atEnd() ? 0 : r.i64();
        List<PartitionRef> behind = r.atEnd() ? List.of() : checkedRefs(readRefs(r), "behind");
        return new HeartbeatRequest(node, address, http, voter, nss, known, lsns, refs, incarnation, behind);
    }

    public static byte[] encodeHeartbeatReply(HeartbeatReply reply) {
        ByteWriter w = new ByteWriter(reply.view() == null ? 32 : 64 * 1024).u8(FORMAT);
        w.u8(reply.fromLeader() ? 1 : 0).u8(reply.leaseGranted() ? 1 : 0).i64(reply.version());
        w.u8(reply.view() == null ? 0 : 1);
        if (reply.view() != null) {
            writeView(w, reply.view());
        }
        return w.toByteArray();
    }

    public static HeartbeatReply decodeHeartbeatReply(byte[] bytes) {
        ByteReader r = reader(bytes);
        boolean fromLeader = r.u8() == 1;
        boolean granted = r.u8() == 1;
        long version = r.i64();
        ClusterView view = r.u8() == 1 ? readView(r, bytes[0]) : null;
        return new HeartbeatReply(fromLeader, granted, version, view);
    }

    private static ByteReader reader(byte[] bytes) {
        ByteReader r = new ByteReader(bytes);
        int format = r.u8();
        if (format < 1 || format > FORMAT) {
            throw new IllegalArgumentException("unknown cluster codec format " + format);
        }
        return r;
    }

    private static int count(ByteReader r) {
        int n = r.i32();
        if (n < 0 || n > r.remaining()) {
            throw new IllegalArgumentException("bad element count " + n + " with " + r.remaining() + " bytes left");
        }
        return n;
    }
}
