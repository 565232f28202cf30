package io.ferrydb.core.cluster;

import io.ferrydb.api.Limits;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class RendezvousTest {
    /** A ranking computed once for many partitions orders them exactly as {@link Rendezvous#desired} does. */
    @Test
    void rankingAgreesWithDesiredForEveryPartition() {
        Random random = new Random(14);
        for (int trial = 0; trial < 40; trial++) {
            List<String> nodes = new ArrayList<>();
            int n = 1 + random.nextInt(7);
            while (nodes.size() < n) {
                String id = "n" + random.nextInt(12);
                if (!nodes.contains(id)) {
                    nodes.add(id);
                }
            }
            String ns = trial % 2 == 0 ? "test" : "ns" + trial;
            int rf = 1 + random.nextInt(4);
            Rendezvous.Ranking ranking = Rendezvous.ranking(ns, nodes);
            for (int p = 0; p < Limits.PARTITION_COUNT; p++) {
                assertEquals(Rendezvous.desired(ns, p, nodes, rf), ranking.desired(p, rf), "nodes " + nodes + " rf " + rf + " partition " + p);
            }
        }
    }

    @Test
    void eachPartitionGetsDistinctNodes() {
        Rendezvous.Ranking ranking = Rendezvous.ranking("test", List.of("n1", "n2", "n3"));
        for (int p = 0; p < 64; p++) {
            List<String> d = ranking.desired(p, 3);
            assertEquals(3, d.stream().distinct().count(), "partition " + p + ": " + d);
        }
    }
}
