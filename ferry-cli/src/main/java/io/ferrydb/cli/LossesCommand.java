package io.ferrydb.cli;

import io.ferrydb.api.Digest;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.proto.ClusterStatusRequest;
import io.ferrydb.proto.ClusterStatusResponse;
import io.ferrydb.proto.LossEntry;
import io.ferrydb.proto.LossesRequest;
import io.ferrydb.proto.LossesResponse;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry losses}: the loss ledger of the whole cluster. Every node keeps the
 * losses it detected (in its own RocksDB, written atomically with the truncation that
 * found them); this asks every member and merges, oldest first.
 */
@Command(name = "losses", description = "List acknowledged writes that were lost (the loss ledger of every node).")
final class LossesCommand implements Callable<Integer> {
    private static final Pattern RELATIVE = Pattern.compile("(\\d+)(ms|s|m|h|d)");

    @Spec
    CommandSpec spec;
    @Mixin
    ClusterCommand.AdminOptions admin = new ClusterCommand.AdminOptions();

    @Option(names = "--ns", description = "Only this namespace.")
    String namespace = "";

    @Option(names = "--since", paramLabel = "TIME",
            description = "Only losses detected since TIME: an ISO-8601 instant (2026-11-22T07:00:00Z), epoch milliseconds, or a duration back from now (90s, 10m, 2h, 1d).")
    String since;

    @Override
    public Integer call() {
        long sinceMs = parseSince(since, System.currentTimeMillis());
        LossesRequest request = LossesRequest.newBuilder().setNamespace(namespace).setSinceMs(sinceMs).build();
        ClusterView view;
        ManagedChannel ch = admin.channel();
        try {
            ClusterStatusResponse status = admin.stub(ch).status(ClusterStatusRequest.newBuilder().setLocal(true).build());
            view = ClusterCodec.decodeView(status.getView().toByteArray());
        } catch (StatusRuntimeException e) {
            throw admin.failure(e);
        } finally {
            ch.shutdownNow();
        }
        Members.Answers<LossesResponse> answers = Members.ask(view, admin.timeoutMs, stub -> stub.losses(request));
        List<LossEntry> losses = new ArrayList<>();
        answers.byNode().values().forEach(r -> losses.addAll(r.getLossesList()));
        List<String> unreachable = answers.unreachable();
        losses.sort(Comparator.comparingLong(LossEntry::getDetectedAtMs).thenComparing(LossEntry::getDetectedBy).thenComparingLong(LossEntry::getId));
        print(spec.commandLine().getOut(), losses, unreachable, admin.json);
        // A member that does not answer (a failed node) cannot show its ledger now; it is
        // named, and its records show up once it is back: they are on its disk.
        return 0;
    }

    static long parseSince(String since, long nowMs) {
        if (since == null || since.isBlank()) {
            return 0;
        }
        Matcher m = RELATIVE.matcher(since.trim());
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            Duration d = switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
            return Math.max(0, nowMs - d.toMillis());
        }
        if (since.trim().matches("\\d{10,}")) {
            return Long.parseLong(since.trim());
        }
        try {
            return Instant.parse(since.trim()).toEpochMilli();
        } catch (DateTimeParseException e) {
            throw FerryException.invalid("--since must be an ISO-8601 instant (2026-11-22T07:00:00Z), epoch milliseconds or a duration like 10m, got '%s'", since);
        }
    }

    /**
     * A FAILOVER record (a gap found when a replica was promoted, digests unknown) whose
     * range a DIVERGENT_TAIL record of the same partition and epoch accounts for exactly:
     * the failed master came back with its log. It is listed but not counted again.
     */
    static boolean superseded(LossEntry l, List<LossEntry> all) {
        if (!"FAILOVER".equals(l.getKind())) {
            return false;
        }
        for (LossEntry o : all) {
            if ("DIVERGENT_TAIL".equals(o.getKind()) && o.getNamespace().equals(l.getNamespace()) && o.getPartition() == l.getPartition()
                    && o.getEpoch() == l.getEpoch() && o.getFromLsn() <= l.getToLsn() && o.getToLsn() >= l.getFromLsn()) {
                return true;
            }
        }
        return false;
    }

    static List<Map<String, Object>> toMaps(List<LossEntry> losses) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (LossEntry l : losses) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("detected_at", Instant.ofEpochMilli(l.getDetectedAtMs()).toString());
            o.put("detected_by", l.getDetectedBy());
            o.put("id", l.getId());
            o.put("namespace", l.getNamespace());
            o.put("partition", l.getPartition());
            o.put("epoch", l.getEpoch());
            o.put("new_epoch", l.getNewEpoch());
            o.put("from_lsn", l.getFromLsn());
            o.put("to_lsn", l.getToLsn());
            o.put("count", l.getCount());
            o.put("certainty", l.getCertainty());
            o.put("kind", l.getKind());
            o.put("superseded", superseded(l, losses));
            List<String> digests = new ArrayList<>(l.getDigestsCount());
            for (com.google.protobuf.ByteString d : l.getDigestsList()) {
                digests.add(Digest.wrap(d.toByteArray()).toHex());
            }
            o.put("digests", digests);
            o.put("detail", l.getDetail());
            out.add(o);
        }
        return out;
    }

    static void print(PrintWriter out, List<LossEntry> losses, List<String> unreachable, boolean json) {
        long total = losses.stream().filter(l -> !superseded(l, losses)).mapToLong(LossEntry::getCount).sum();
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("lost_writes", total);
            o.put("losses", toMaps(losses));
            o.put("unreachable", unreachable);
            out.println(Output.json(o));
            return;
        }
        out.printf("%d lost write(s) in %d ledger record(s)%s%n", total, losses.size(),
                unreachable.isEmpty() ? "" : "; not asked (unreachable): " + String.join(", ", unreachable));
        if (!losses.isEmpty()) {
            out.printf("%-24s %-10s %-14s %-9s %-19s %6s %-21s %-14s %s%n", "detected", "by", "ns/partition", "epoch", "lsn", "count", "certainty",
                    "kind", "digests");
        }
        for (LossEntry l : losses) {
            StringBuilder d = new StringBuilder();
            for (int i = 0; i < Math.min(3, l.getDigestsCount()); i++) {
                d.append(i == 0 ? "" : ",").append(Digest.wrap(l.getDigests(i).toByteArray()).toHex(), 0, 12);
            }
            if (l.getDigestsCount() > 3) {
                d.append(",... (").append(l.getDigestsCount()).append(')');
            }
            if ("FAILOVER".equals(l.getKind()) && d.length() == 0) {
                d.append(superseded(l, losses) ? "superseded: its failed master returned; see its divergent tail" : "unknown until its failed master returns");
            }
            out.printf("%-24s %-10s %-14s %-9s %-19s %6d %-21s %-14s %s%n", Instant.ofEpochMilli(l.getDetectedAtMs()), l.getDetectedBy(),
                    l.getNamespace() + "/" + l.getPartition(), l.getEpoch() + "->" + l.getNewEpoch(), l.getFromLsn() + ".." + l.getToLsn(),
                    l.getCount(), l.getCertainty(), l.getKind(), d);
        }
    }
}
