package io.ferrydb.cli;

import io.ferrydb.api.CommitLevel;
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
            Map<Key, WriteResult> acked = new LinkedHashMap<>();
            List<CompletableFuture<WriteResult>> fs = new ArrayList<>();
            List<Key> keys = new ArrayList<>();
            for (int i = 0; i < 1500; i++) {
                Key k = Key.of(NS, "mirrored", "k" + i);
                keys.add(k);
                fs.add(c.async().put(ALL_SYNC, k, Map.of("i", i)));
            }
            for (int i = 0; i < fs.size(); i++) {
                acked.put(keys.get(i), fs.get(i).get());
            }
            long onVictim = keys.stream().filter(k -> s.view().entry(NS, k.partition()).master().equals(victim)).count();
            assertTrue(onVictim > 300, "the victim masters a good share of the keys: " + onVictim);

            cluster.node(victim).kill9();
            LocalCluster.Timed failover = cluster.await("failover of " + victim, 30_000, st -> st.serving(victim));
            System.out.printf("MirroringIT: %s (master of %d of %d acknowledged ALL+SYNC writes) killed; served again after %d ms%n",
                    victim, onVictim, acked.size(), failover.ms());
            Thread.sleep(500);
            assertAllPresent(c, acked, "after the failover");

            cluster.node(victim).restart();
            LocalCluster.Timed back = cluster.await(victim + " resynced and rebalanced", 120_000,
                    st -> st.settled(2) && st.masters(victim) > 1000);
            System.out.printf("MirroringIT: %s back, resynced and the table rebalanced in %d ms%n", victim, back.ms());
            Thread.sleep(500);
            assertAllPresent(c, acked, "after the node came back and took its partitions again");
        }
    }

    private static void assertAllPresent(FerryClient c, Map<Key, WriteResult> acked, String when) {
        List<String> lost = new ArrayList<>();
        for (Map.Entry<Key, WriteResult> e : acked.entrySet()) {
            Record r = c.get(e.getKey());
            if (r == null || r.generation() != e.getValue().generation()) {
                lost.add(e.getKey() + (r == null ? " missing" : " gen " + r.generation()));
            }
        }
        assertEquals(List.of(), lost.subList(0, Math.min(10, lost.size())), lost.size() + " acknowledged writes lost " + when);
    }
}
