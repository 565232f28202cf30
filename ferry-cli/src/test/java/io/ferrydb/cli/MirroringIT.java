package io.ferrydb.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Digest;
import io.ferrydb.api.Durability;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.WriteResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mirroring with real processes: 3 nodes, RF 2. Every write acknowledged with commit
 * level ALL and SYNC durability is readable after the master of its partition is
 * killed with SIGKILL (the promoted mirror had it on disk), and again after the killed
 * node came back and the table rebalanced (it was resynced by copy).
 */
class MirroringIT {
    private static final String NS = LocalCluster.NS;
    private static final WritePolicy ALL_SYNC = WritePolicy.DEFAULT.withCommitLevel(CommitLevel.ALL).withDurability(Durability.SYNC);
    private static final WritePolicy ALL_ASYNC = WritePolicy.DEFAULT.withCommitLevel(CommitLevel.ALL).withDurability(Durability.ASYNC);
    private static final WritePolicy MASTER_ASYNC = WritePolicy.DEFAULT.withCommitLevel(CommitLevel.MASTER).withDurability(Durability.ASYNC);

    @TempDir
    Path tmp;
    private LocalCluster cluster;

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void everyAllSyncWriteSurvivesTheLossOfItsMaster() throws Exception {
        cluster = LocalCluster.start(tmp, 3, 3);
        LocalCluster.Status s = cluster.await("3 nodes settled", 120_000, st -> st.settled(2)).status();
        String victim = List.of("n3", "n2", "n1").stream().filter(n -> !n.equals(s.leader())).findFirst().orElseThrow();
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", cluster.node(s.leader()).grpcPort(), 10_000, 64))) {
            Map<Key, WriteResult> acked = writeAllSync(c, "mirrored", 1500);
            List<Key> keys = new ArrayList<>(acked.keySet());
            long onVictim = keys.stream().filter(k -> s.view().entry(NS, k.partition()).master().equals(victim)).count();
            assertTrue(onVictim > 300, "the victim masters a good share of the keys: " + onVictim);

            // A mirrored bulk load: SST ingest on masters and mirrors, one BULK_LOAD entry per partition.
            Path csv = tmp.resolve("load.csv");
            StringBuilder rows = new StringBuilder("key,n,name\n");
            for (int i = 0; i < 5000; i++) {
                rows.append("b").append(i).append(',').append(i).append(",\"row, ").append(i).append("\"\n");
            }
            java.nio.file.Files.writeString(csv, rows);
            long lsnBefore = c.put(ALL_SYNC, Key.of(NS, "bulk", "b0"), Map.of("n", -1)).lsn();
            CliRun load = CliRun.ferry("load", csv.toString(), "--ns", NS, "--set", "bulk", "--batch", "2000", "--json",
                    "--host", cluster.node(s.leader()).hostPort());
            assertEquals(0, load.exit(), load.toString());
            assertEquals(5000, load.json().get("loaded").asLong(), load.out());
            Key b0 = Key.of(NS, "bulk", "b0");
            Record r0 = c.get(b0);
            assertEquals(1, r0.generation(), "a loaded record is new: " + r0);
            assertEquals(0L, r0.binJava("n"));
            assertEquals("row, 0", r0.binJava("name"));
            CliRun history = CliRun.ferry("cluster", "history", "--ns", NS, "--partition", Integer.toString(b0.partition()), "--json",
                    "--host", cluster.node(s.leader()).hostPort());
            assertTrue(history.out().contains("BULK_LOAD"), history.out());
            assertEquals(lsnBefore + 2, c.put(ALL_SYNC, b0, Map.of("n", 1)).lsn(),
                    "5000 records across the partitions, but only one log entry (the boundary) in b0's");
            c.put(ALL_SYNC, b0, Map.of("n", 0));
            List<Key> loaded = new ArrayList<>();
            for (int i = 0; i < 5000; i++) {
                loaded.add(Key.of(NS, "bulk", "b" + i));
            }

            cluster.node(victim).kill9();
            LocalCluster.Timed failover = cluster.await("failover of " + victim, 30_000, st -> st.serving(victim));
            System.out.printf("MirroringIT: %s (master of %d of %d acknowledged ALL+SYNC writes) killed; served again after %d ms%n",
                    victim, onVictim, acked.size(), failover.ms());
            Thread.sleep(500);
            assertAllPresent(c, acked, "after the failover");
            assertLoaded(c, loaded, "after the failover (the mirrors ingested the bulk load)");

            cluster.node(victim).restart();
            LocalCluster.Timed back = cluster.await(victim + " resynced and rebalanced", 120_000,
                    st -> st.settled(2) && st.masters(victim) > 1000);
            System.out.printf("MirroringIT: %s back, resynced and the table rebalanced in %d ms%n", victim, back.ms());
            Thread.sleep(500);
            assertAllPresent(c, acked, "after the node came back and took its partitions again");
            assertLoaded(c, loaded, "after the node came back");
        }
    }

    /**
     * With three replicas the promoted mirror asks the surviving third one for its triplet
     * and tail before it serves (the failover check), and no acknowledged ALL+SYNC write is
     * lost.
     */
    @Test
    void withThreeReplicasThePromotedMirrorAsksTheSurvivingOneBeforeServing() throws Exception {
        Path yaml = tmp.resolve("rf3.yaml");
        java.nio.file.Files.writeString(yaml, "namespaces:\n  - name: " + NS + "\n    replication-factor: 3\n");
        cluster = LocalCluster.start(tmp, 3, 3, List.of("--config", yaml.toString()));
        LocalCluster.Status s = cluster.await("3 nodes settled with RF 3", 120_000, st -> st.settled(3)).status();
        String victim = List.of("n3", "n2", "n1").stream().filter(n -> !n.equals(s.leader())).findFirst().orElseThrow();
        assertEquals(3, s.view().entry(NS, 0).replicas().size(), "RF 3: " + s.view().entry(NS, 0));
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", cluster.node(s.leader()).grpcPort(), 10_000, 64))) {
            Map<Key, WriteResult> acked = writeAllSync(c, "rf3", 600);
            cluster.node(victim).kill9();
            LocalCluster.Timed failover = cluster.await("failover of " + victim, 30_000, st -> st.serving(victim));
            Thread.sleep(500);
            assertAllPresent(c, acked, "after the failover with RF 3");
            int asked = 0;
            int answered = 0;
            for (String n : List.of("n1", "n2", "n3")) {
                if (n.equals(victim)) {
                    continue;
                }
                String log = cluster.node(n).logOfCurrentRun();
                asked += countOf(log, "failover check of ");
                answered += countOf(log, "failover check from ");
            }
            System.out.printf("MirroringIT: RF 3, %s killed, served again after %d ms; %d failover checks ran, %d answered by the third replica%n",
                    victim, failover.ms(), asked, answered);
            assertTrue(asked >= 1, "the promoted replicas ran the failover check");
            assertTrue(answered >= 1, "the surviving third replica was asked for its triplet and answered");
        }
    }

    /** Writes keys k0..k(n-1) of {@code set} with ALL+SYNC, all in flight at once; returns each one's acknowledgement, in key order. */
    private static Map<Key, WriteResult> writeAllSync(FerryClient c, String set, int n) throws Exception {
        Map<Key, CompletableFuture<WriteResult>> fs = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            Key k = Key.of(NS, set, "k" + i);
            fs.put(k, c.async().put(ALL_SYNC, k, Map.of("i", i)));
        }
        Map<Key, WriteResult> acked = new LinkedHashMap<>();
        for (Map.Entry<Key, CompletableFuture<WriteResult>> e : fs.entrySet()) {
            acked.put(e.getKey(), e.getValue().get());
        }
        return acked;
    }

    private static int countOf(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    private static void assertLoaded(FerryClient c, List<Key> keys, String when) {
        List<Record> got = readAll(c, keys);
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            Record r = got.get(i);
            if (r == null || !Long.valueOf(i).equals(r.binJava("n"))) {
                missing.add(keys.get(i) + (r == null ? " missing" : " " + r));
            }
        }
        assertEquals(List.of(), missing.subList(0, Math.min(10, missing.size())), missing.size() + " bulk-loaded records wrong " + when);
    }

    /** Batch reads in chunks; null where the record is not found. */
    private static List<Record> readAll(FerryClient c, List<Key> keys) {
        List<Record> out = new ArrayList<>(keys.size());
        for (int from = 0; from < keys.size(); from += 500) {
            List<Key> chunk = keys.subList(from, Math.min(keys.size(), from + 500));
            List<io.ferrydb.client.BatchResult> rs = c.batchGet(chunk);
            for (int i = 0; i < chunk.size(); i++) {
                io.ferrydb.client.BatchResult r = rs.get(i);
                if (!r.ok() && r.error() != io.ferrydb.api.ErrorCode.NOT_FOUND) {
                    throw new AssertionError("batch get of " + chunk.get(i) + ": " + r.error() + " " + r.message());
                }
                out.add(r.ok() ? r.record() : null);
            }
        }
        return out;
    }

    /**
     * ASYNC writes (commit MASTER and ALL) run while a master is killed with SIGKILL; the
     * node comes back and is resynced. Afterwards every acknowledged write is either
     * readable or listed by {@code ferry losses}, and the ledger holds nothing false:
     * each listed record is one of ours and is indeed gone.
     */
    @Test
    void everyLostAsyncWriteIsInTheLossLedger() throws Exception {
        cluster = LocalCluster.start(tmp, 3, 3);
        LocalCluster.Status s = cluster.await("3 nodes settled", 120_000, st -> st.settled(2)).status();
        String victim = List.of("n3", "n2", "n1").stream().filter(n -> !n.equals(s.leader())).findFirst().orElseThrow();
        String host = cluster.node(s.leader()).hostPort();
        try (FerryClient c = FerryClient.connect(new ClientConfig("127.0.0.1", cluster.node(s.leader()).grpcPort(), 10_000, 64))) {
            Map<Key, WriteResult> acked = new ConcurrentHashMap<>();
            Set<Key> failed = ConcurrentHashMap.newKeySet();
            Map<Digest, Key> attempted = new ConcurrentHashMap<>();
            AtomicBoolean stop = new AtomicBoolean();
            Semaphore inflight = new Semaphore(128);
            Thread writer = new Thread(() -> {
                for (int i = 0; !stop.get(); i++) {
                    Key k = Key.of(NS, "async", "a" + i);
                    attempted.put(k.digest(), k);
                    inflight.acquireUninterruptibly();
                    c.async().put(i % 2 == 0 ? MASTER_ASYNC : ALL_ASYNC, k, Map.of("i", i)).whenComplete((r, e) -> {
                        if (e == null) {
                            acked.put(k, r);
                        } else {
                            failed.add(k);
                        }
                        inflight.release();
                    });
                }
            }, "async-writer");
            writer.start();
            Thread.sleep(1500);
            cluster.node(victim).kill9();
            LocalCluster.Timed failover = cluster.await("failover of " + victim, 30_000, st -> st.serving(victim));
            Thread.sleep(1000);
            stop.set(true);
            writer.join();
            inflight.acquireUninterruptibly(128);

            cluster.node(victim).restart();
            LocalCluster.Timed back = cluster.await(victim + " resynced and rebalanced", 120_000,
                    st -> st.settled(2) && st.masters(victim) > 1000);
            Thread.sleep(500);

            CliRun losses = CliRun.ferry("losses", "--json", "--ns", NS, "--since", "1h", "--host", host);
            assertEquals(0, losses.exit(), losses.toString());
            assertEquals(0, losses.json().get("unreachable").size(), "every node's ledger was read: " + losses.json().get("unreachable"));
            Map<Digest, String> ledger = new HashMap<>();
            int gaps = 0;
            int openGaps = 0;
            for (JsonNode l : losses.json().get("losses")) {
                if ("FAILOVER".equals(l.get("kind").asText())) {
                    // Found at failover, digests unknown. The victim came back, so its divergent tail accounts for what
                    // of the gap was acknowledged (superseded); a gap of writes nobody was acknowledged for stays open.
                    gaps++;
                    openGaps += l.get("superseded").asBoolean() ? 0 : 1;
                }
                for (JsonNode d : l.get("digests")) {
                    ledger.put(Digest.fromHex(d.asText()), l.get("certainty").asText());
                }
            }
            List<Key> ackedKeys = new ArrayList<>(acked.keySet());
            List<Record> ackedNow = readAll(c, ackedKeys);
            Set<Key> gone = new java.util.HashSet<>();
            for (int i = 0; i < ackedKeys.size(); i++) {
                if (ackedNow.get(i) == null) {
                    gone.add(ackedKeys.get(i));
                }
            }
            List<String> unaccounted = new ArrayList<>();
            int missing = 0;
            for (Map.Entry<Key, WriteResult> e : acked.entrySet()) {
                if (gone.contains(e.getKey())) {
                    missing++;
                    if (!ledger.containsKey(e.getKey().digest())) {
                        unaccounted.add(e.getKey().toString());
                    }
                }
            }
            List<String> falseEntries = new ArrayList<>();
            for (Map.Entry<Digest, String> l : ledger.entrySet()) {
                Key k = attempted.get(l.getKey());
                if (k == null || c.get(k) != null || ("ACKNOWLEDGED".equals(l.getValue()) && !acked.containsKey(k) && !failed.contains(k))) {
                    falseEntries.add(l.getKey().toHex() + " " + l.getValue() + (k == null ? " (not ours)" : " " + k));
                }
            }
            System.out.printf("MirroringIT: ASYNC writes %d acknowledged, %d failed; %s killed, served after %d ms, back after %d ms; "
                            + "%d acknowledged writes missing, %d ledger digests (%s), %d failover gap records (%d not superseded)%n",
                    acked.size(), failed.size(), victim, failover.ms(), back.ms(), missing, ledger.size(), losses.json().get("lost_writes"),
                    gaps, openGaps);
            assertTrue(acked.size() > 300, "the writer got going: " + acked.size());
            assertEquals(List.of(), unaccounted.subList(0, Math.min(10, unaccounted.size())),
                    unaccounted.size() + " acknowledged writes are gone and not in the loss ledger");
            assertEquals(List.of(), falseEntries.subList(0, Math.min(10, falseEntries.size())), falseEntries.size() + " false ledger entries");
        }
    }

    private static void assertAllPresent(FerryClient c, Map<Key, WriteResult> acked, String when) {
        List<Key> keys = new ArrayList<>(acked.keySet());
        List<Record> got = readAll(c, keys);
        List<String> lost = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            Record r = got.get(i);
            if (r == null || r.generation() != acked.get(keys.get(i)).generation()) {
                lost.add(keys.get(i) + (r == null ? " missing" : " gen " + r.generation()));
            }
        }
        assertEquals(List.of(), lost.subList(0, Math.min(10, lost.size())), lost.size() + " acknowledged writes lost " + when);
    }
}
