package io.ferrydb.cli;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HistoryEntry;
import io.ferrydb.core.cluster.Member;
import io.ferrydb.core.cluster.NamespaceTable;
import io.ferrydb.core.cluster.PartitionEntry;
import io.ferrydb.core.cluster.Replica;
import io.ferrydb.core.cluster.ReplicaState;
import io.ferrydb.proto.ClusterHistoryRequest;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.FerryClusterGrpc;
import io.ferrydb.proto.SyncInfo;
import io.ferrydb.proto.SyncTotals;
import io.ferrydb.proto.SyncsRequest;
import io.ferrydb.proto.SyncsResponse;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/** {@code ferry cluster ...}: the control plane's view of the cluster. */
@Command(name = "cluster", description = "Cluster status, partition table and duplication-schema history.",
        subcommands = {ClusterCommand.Status.class, ClusterCommand.Partitions.class, ClusterCommand.History.class,
                StartLocalCommand.class})
final class ClusterCommand {

    /** Options of every cluster command. */
    static final class AdminOptions {
        @Option(names = "--host", defaultValue = "127.0.0.1:7400", description = "Any node of the cluster, HOST:PORT (default: ${DEFAULT-VALUE}).")
        String host;

        @Option(names = "--json", description = "Print machine-readable JSON.")
        boolean json;

        @Option(names = "--timeout-ms", defaultValue = "10000", description = "Request timeout (default: ${DEFAULT-VALUE}).")
        long timeoutMs;

        ManagedChannel channel() {
            int colon = host.lastIndexOf(':');
            boolean ok = colon > 0 && colon < host.length() - 1;
            if (ok) {
                try {
                    int port = Integer.parseInt(host.substring(colon + 1));
                    ok = port >= 1 && port <= 65535;
                } catch (NumberFormatException e) {
                    ok = false;
                }
            }
            if (!ok) {
                throw io.ferrydb.api.FerryException.invalid("--host must be HOST:PORT with a port 1..65535, got '%s'", host);
            }
            return NettyChannelBuilder.forTarget(host).usePlaintext().build();
        }

        /** A gRPC error as the CLI reports it: the status code, the node asked and the server's (or transport's) message. */
        io.ferrydb.api.FerryException failure(StatusRuntimeException e) {
            io.ferrydb.api.FerryException fe = io.ferrydb.proto.Convert.toFerryException(e);
            return new io.ferrydb.api.FerryException(fe.code(), "node " + host + ": " + fe.reason(), e);
        }

        FerryClusterGrpc.FerryClusterBlockingStub stub(ManagedChannel ch) {
            return FerryClusterGrpc.newBlockingStub(ch).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
        }
    }


    @Command(name = "status", description = "Nodes and liveness, control-plane leader, partitions per node, replicas not IN_SYNC, migrations pending.")
    static final class Status implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @picocli.CommandLine.Mixin
        AdminOptions admin = new AdminOptions();

        @Override
        public Integer call() {
            ManagedChannel ch = admin.channel();
            try {
                ClusterStatusResponse r = admin.stub(ch).status(ClusterStatusRequest.getDefaultInstance());
                ClusterView v = ClusterCodec.decodeView(r.getView().toByteArray());
                Members.Answers<SyncsResponse> syncs = Members.ask(v, admin.timeoutMs, stub -> stub.syncs(SyncsRequest.getDefaultInstance()));
                print(spec.commandLine().getOut(), r, v, syncs, admin.json);
                return 0;
            } catch (StatusRuntimeException e) {
                throw admin.failure(e);
            } finally {
                ch.shutdownNow();
            }
        }

        static void print(PrintWriter out, ClusterStatusResponse r, ClusterView v, Members.Answers<SyncsResponse> syncs, boolean json) {
            Map<String, int[]> perNode = new TreeMap<>();
            for (String id : v.members().keySet()) {
                perNode.put(id, new int[2]);
            }
            List<Map<String, Object>> namespaces = new ArrayList<>();
            for (NamespaceTable t : v.tables().values()) {
                int[] states = new int[ReplicaState.values().length];
                int unavailable = 0;
                int handoffs = 0;
                for (int p = 0; p < t.size(); p++) {
                    PartitionEntry e = t.entry(p);
                    if (e.masterAbsent()) {
                        unavailable++;
                    }
                    if (e.handoffTo() != null) {
                        handoffs++;
                    }
                    for (int i = 0; i < e.replicas().size(); i++) {
                        Replica rep = e.replicas().get(i);
                        states[rep.state().ordinal()]++;
                        perNode.computeIfAbsent(rep.node(), k -> new int[2])[i == 0 ? 0 : 1]++;
                    }
                }
                Map<String, Object> ns = new LinkedHashMap<>();
                ns.put("name", t.namespace());
                ns.put("replication_factor", t.replicationFactor());
                ns.put("partitions", t.size());
                ns.put("replicas_not_in_sync", states[ReplicaState.ABSENT.ordinal()] + states[ReplicaState.RESYNCING.ordinal()]
                        + states[ReplicaState.CLONING.ordinal()]);
                ns.put("absent", states[ReplicaState.ABSENT.ordinal()]);
                ns.put("resyncing", states[ReplicaState.RESYNCING.ordinal()]);
                ns.put("cloning", states[ReplicaState.CLONING.ordinal()]);
                ns.put("unavailable_partitions", unavailable);
                ns.put("migrations_pending", states[ReplicaState.CLONING.ordinal()] + handoffs);
                namespaces.add(ns);
            }
            List<Map<String, Object>> members = new ArrayList<>();
            for (Member m : v.members().values()) {
                Map<String, Object> mm = new LinkedHashMap<>();
                mm.put("id", m.id());
                mm.put("liveness", m.liveness().name());
                mm.put("address", m.address());
                mm.put("http_address", m.httpAddress());
                mm.put("voter", m.voter());
                mm.put("heartbeat_age_ms", r.getHeartbeatAgeMsMap().getOrDefault(m.id(), -1L));
                mm.put("masters", perNode.getOrDefault(m.id(), new int[2])[0]);
                mm.put("mirrors", perNode.getOrDefault(m.id(), new int[2])[1]);
                members.add(mm);
            }
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("answered_by", r.getNodeId());
                o.put("leader", r.getLeaderId());
                o.put("control_voters", r.getControlVotersList());
                o.put("version", v.version());
                o.put("members", members);
                o.put("namespaces", namespaces);
                o.put("syncs", syncsJson(syncs));
                out.println(Output.json(o));
                return;
            }
            out.printf("cluster view %d  control-plane leader %s  voters %s  (answered by %s)%n", v.version(),
                    r.getLeaderId().isEmpty() ? "unknown" : r.getLeaderId(), String.join(",", r.getControlVotersList()), r.getNodeId());
            out.printf("%-12s %-8s %-22s %-5s %9s %8s %8s%n", "node", "liveness", "address", "voter", "hb-age-ms", "masters", "mirrors");
            for (Map<String, Object> m : members) {
                long age = (Long) m.get("heartbeat_age_ms");
                out.printf("%-12s %-8s %-22s %-5s %9s %8d %8d%n", m.get("id"), m.get("liveness"), m.get("address"),
                        (Boolean) m.get("voter") ? "yes" : "no", age < 0 ? "-" : Long.toString(age), m.get("masters"), m.get("mirrors"));
            }
            for (Map<String, Object> ns : namespaces) {
                out.printf("namespace %s rf=%d: replicas not IN_SYNC %d (absent %d, resyncing %d, cloning %d), unavailable partitions %d, migrations pending %d%n",
                        ns.get("name"), ns.get("replication_factor"), ns.get("replicas_not_in_sync"), ns.get("absent"), ns.get("resyncing"),
                        ns.get("cloning"), ns.get("unavailable_partitions"), ns.get("migrations_pending"));
            }
            printSyncs(out, syncs);
        }
    }

    /** Sync totals per path over all masters, syncs in progress, and the latest finished ones. */
    static Map<String, Object> syncsJson(Members.Answers<SyncsResponse> syncs) {
        Map<String, long[]> totals = new TreeMap<>();
        Map<String, Double> seconds = new TreeMap<>();
        List<Map<String, Object>> inProgress = new ArrayList<>();
        List<Map<String, Object>> recent = new ArrayList<>();
        for (Map.Entry<String, SyncsResponse> e : syncs.byNode().entrySet()) {
            for (SyncTotals t : e.getValue().getTotalsList()) {
                long[] x = totals.computeIfAbsent(t.getPath(), k -> new long[3]);
                x[0] += t.getSyncs();
                x[1] += t.getRecords();
                x[2] += t.getBytes();
                seconds.merge(t.getPath(), t.getSeconds(), Double::sum);
            }
            for (SyncInfo i : e.getValue().getInProgressList()) {
                inProgress.add(syncMap(e.getKey(), i));
            }
            for (SyncInfo i : e.getValue().getRecentList()) {
                recent.add(syncMap(e.getKey(), i));
            }
        }
        recent.sort(java.util.Comparator.comparing(m -> (String) m.get("finished_at")));
        Map<String, Object> byPath = new LinkedHashMap<>();
        totals.forEach((path, x) -> byPath.put(path, Map.of("syncs", x[0], "records", x[1], "bytes", x[2], "seconds", seconds.get(path))));
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("totals", byPath);
        o.put("in_progress", inProgress);
        o.put("recent", recent.subList(Math.max(0, recent.size() - 20), recent.size()));
        o.put("unreachable", syncs.unreachable());
        return o;
    }

    private static Map<String, Object> syncMap(String master, SyncInfo i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("master", master);
        m.put("partition", i.getNamespace() + "/" + i.getPartition());
        m.put("mirror", i.getMirror());
        m.put("path", i.getPath());
        m.put("records", i.getRecords());
        m.put("total", i.getTotal());
        m.put("bytes", i.getBytes());
        m.put("millis", i.getMillis());
        if (i.getFinishedAtMs() > 0) {
            m.put("why", i.getWhy());
            m.put("finished_at", Instant.ofEpochMilli(i.getFinishedAtMs()).toString());
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static void printSyncs(PrintWriter out, Members.Answers<SyncsResponse> syncs) {
        Map<String, Object> o = syncsJson(syncs);
        StringBuilder line = new StringBuilder("syncs since start (all masters):");
        ((Map<String, Object>) o.get("totals")).forEach((path, t) -> {
            Map<String, Object> x = (Map<String, Object>) t;
            line.append(String.format(" %s %d (%d records, %d bytes, %.1f s)", path, (Long) x.get("syncs"), (Long) x.get("records"),
                    (Long) x.get("bytes"), (Double) x.get("seconds")));
        });
        List<Map<String, Object>> inProgress = (List<Map<String, Object>>) o.get("in_progress");
        line.append("; in progress ").append(inProgress.size());
        out.println(line);
        for (Map<String, Object> m : inProgress.subList(0, Math.min(10, inProgress.size()))) {
            out.printf("  syncing %s %s -> %s by %s: %d/%d records, %d bytes, %d ms%n", m.get("partition"), m.get("master"), m.get("mirror"),
                    m.get("path"), (Long) m.get("records"), (Long) m.get("total"), (Long) m.get("bytes"), (Long) m.get("millis"));
        }
        // The latest syncs that shipped something (a sync of an empty or unchanged partition says little).
        List<Map<String, Object>> recent = ((List<Map<String, Object>>) o.get("recent")).stream()
                .filter(m -> (Long) m.get("records") > 0).toList();
        for (Map<String, Object> m : recent.subList(Math.max(0, recent.size() - 5), recent.size())) {
            out.printf("  synced %s %s -> %s by %s: %d records, %d bytes in %d ms (%s)%n", m.get("partition"), m.get("master"), m.get("mirror"),
                    m.get("path"), (Long) m.get("records"), (Long) m.get("bytes"), (Long) m.get("millis"), m.get("why"));
        }
        if (!syncs.unreachable().isEmpty()) {
            out.println("  not asked (unreachable): " + String.join(", ", syncs.unreachable()));
        }
    }

    @Command(name = "partitions", description = "The partition table: epoch, master and replicas with their states.")
    static final class Partitions implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @picocli.CommandLine.Mixin
        AdminOptions admin = new AdminOptions();

        @Option(names = "--ns", description = "Only this namespace.")
        String namespace;

        @Option(names = "--not-in-sync", description = "Only partitions with a replica not IN_SYNC or a handoff pending.")
        boolean notInSync;

        @Override
        public Integer call() {
            ManagedChannel ch = admin.channel();
            try {
                ClusterStatusResponse r = admin.stub(ch).status(ClusterStatusRequest.getDefaultInstance());
                ClusterView v = ClusterCodec.decodeView(r.getView().toByteArray());
                if (namespace != null && v.table(namespace) == null) {
                    throw new IllegalArgumentException("--ns: namespace '" + namespace + "' is not in the cluster (has " + v.tables().keySet() + ")");
                }
                List<Map<String, Object>> rows = new ArrayList<>();
                for (NamespaceTable t : v.tables().values()) {
                    if (namespace != null && !namespace.equals(t.namespace())) {
                        continue;
                    }
                    for (int p = 0; p < t.size(); p++) {
                        PartitionEntry e = t.entry(p);
                        boolean settled = e.handoffTo() == null && e.replicas().stream().allMatch(x -> x.state() == ReplicaState.IN_SYNC);
                        if (notInSync && settled) {
                            continue;
                        }
                        Map<String, Object> row = new LinkedHashMap<>();
                        row.put("namespace", t.namespace());
                        row.put("partition", p);
                        row.put("epoch", e.epoch());
                        row.put("master", e.master());
                        row.put("replicas", replicas(e.replicas()));
                        row.put("handoff_to", e.handoffTo());
                        rows.add(row);
                    }
                }
                PrintWriter out = spec.commandLine().getOut();
                if (admin.json) {
                    out.println(Output.json(Map.of("version", v.version(), "partitions", rows)));
                } else {
                    out.printf("%-10s %9s %6s %-12s %s%n", "namespace", "partition", "epoch", "master", "replicas");
                    for (Map<String, Object> row : rows) {
                        out.printf("%-10s %9d %6d %-12s %s%s%n", row.get("namespace"), row.get("partition"), row.get("epoch"), row.get("master"),
                                text(row), row.get("handoff_to") == null ? "" : "  handoff to " + row.get("handoff_to"));
                    }
                }
                return 0;
            } catch (StatusRuntimeException e) {
                throw admin.failure(e);
            } finally {
                ch.shutdownNow();
            }
        }

        @SuppressWarnings("unchecked")
        private static String text(Map<String, Object> row) {
            StringBuilder sb = new StringBuilder();
            for (Map<String, String> r : (List<Map<String, String>>) row.get("replicas")) {
                sb.append(sb.length() == 0 ? "" : " ").append(r.get("node")).append(':').append(r.get("state"));
            }
            return sb.toString();
        }
    }

    static List<Map<String, String>> replicas(List<Replica> reps) {
        List<Map<String, String>> out = new ArrayList<>();
        for (Replica r : reps) {
            out.add(Map.of("node", r.node(), "state", r.state().name()));
        }
        return out;
    }

    @Command(name = "history", description = "A partition's duplication-schema history: every epoch, its replicas and states, start LSN and reason.")
    static final class History implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @picocli.CommandLine.Mixin
        AdminOptions admin = new AdminOptions();

        @Option(names = "--ns", required = true, description = "Namespace.")
        String namespace;

        @Option(names = "--partition", required = true, description = "Partition 0..4095.")
        int partition;

        @Override
        public Integer call() {
            if (partition < 0 || partition >= Limits.PARTITION_COUNT) {
                throw new IllegalArgumentException("--partition: must be 0.." + (Limits.PARTITION_COUNT - 1) + ", got " + partition);
            }
            ManagedChannel ch = admin.channel();
            try {
                byte[] bytes = admin.stub(ch).history(ClusterHistoryRequest.newBuilder().setNamespace(namespace).setPartition(partition).build())
                        .getEntries().toByteArray();
                List<HistoryEntry> entries = ClusterCodec.decodeHistory(bytes);
                List<Map<String, Object>> rows = new ArrayList<>();
                for (HistoryEntry e : entries) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("epoch", e.epoch());
                    row.put("time", Instant.ofEpochMilli(e.timeMs()).toString());
                    row.put("reason", e.reason().name());
                    row.put("start_lsn", e.startLsn());
                    row.put("replicas", replicas(e.replicas()));
                    rows.add(row);
                }
                PrintWriter out = spec.commandLine().getOut();
                if (admin.json) {
                    out.println(Output.json(Map.of("namespace", namespace, "partition", partition, "history", rows)));
                } else {
                    out.printf("%6s %-24s %-9s %9s %s%n", "epoch", "time", "reason", "start-lsn", "replicas (master first)");
                    for (HistoryEntry e : entries) {
                        StringBuilder reps = new StringBuilder();
                        for (Replica r : e.replicas()) {
                            reps.append(reps.length() == 0 ? "" : " ").append(r.node()).append(':').append(r.state());
                        }
                        out.printf("%6d %-24s %-9s %9s %s%n", e.epoch(), Instant.ofEpochMilli(e.timeMs()), e.reason(),
                                e.startLsn() < 0 ? "-" : Long.toString(e.startLsn()), reps);
                    }
                }
                return 0;
            } catch (StatusRuntimeException e) {
                throw admin.failure(e);
            } finally {
                ch.shutdownNow();
            }
        }
    }
}
