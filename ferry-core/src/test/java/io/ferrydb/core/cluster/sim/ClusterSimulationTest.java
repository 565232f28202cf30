package io.ferrydb.core.cluster.sim;

import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatReply;
import io.ferrydb.core.cluster.TestViews;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The control plane in the deterministic simulator. {@code ferry.sim.seeds} (default
 * 1000) swarm seeds run in CI; a failure names its seed and the command that replays
 * it ({@code -Dferry.sim.seed=S}).
 */
class ClusterSimulationTest {
    static final long CHAOS_MS = 10_000;
    static final long SETTLE_MS = 10_000;

    static ClusterSimulation simulate(long seed) {
        SimConfig config = SimConfig.swarm(new Random(seed * 31 + 7));
        ClusterSimulation sim = new ClusterSimulation(seed, config);
        sim.run(CHAOS_MS, SETTLE_MS);
        return sim;
    }

    @Test
    void swarmSeeds() throws Exception {
        int seeds = Integer.getInteger("ferry.sim.seeds", 1000);
        long first = Long.getLong("ferry.sim.firstSeed", 1);
        Swarm.Totals t = Swarm.run(first, seeds, ClusterSimulationTest::simulate, "-Dtest=ClusterSimulationTest#replay -Dferry.sim.seed=");
        Map<String, Integer> faults = new TreeMap<>();
        for (String k : List.of("crash", "restart", "decommission", "decommission-refused", "NodeFailed")) {
            faults.put(k, t.stats().getOrDefault(k, 0));
        }
        System.out.printf("cluster simulation: %d seeds, %d events, %.1f s; faults and commands %s%n", seeds, t.events(), t.seconds(), faults);
    }

    /** Replays one seed: {@code -Dferry.sim.seed=S}. */
    @Test
    void replay() {
        Long seed = Long.getLong("ferry.sim.seed");
        if (seed == null) {
            return;
        }
        ClusterSimulation sim = simulate(seed);
        System.out.println("seed " + seed + " " + sim.config + " events=" + sim.scheduler.executed() + " " + new java.util.TreeMap<>(sim.stats));
    }

    /** The checkers must be able to fail: two nodes that both believe they master a partition are caught. */
    @Test
    void leaseCheckerCatchesTwoMasters() {
        ClusterSimulation sim = new ClusterSimulation(42, new SimConfig(3, 3, 2, 0, 0, 5, 0.01, 100, 0, 0, 1000));
        sim.run(0, 8_000);
        ClusterSimulation.Node a = sim.nodes.get(0);
        ClusterSimulation.Node b = sim.nodes.get(1);
        sim.checkEveryEvent();
        // Hand b a view in which it holds a's place: both now claim a's partitions while both hold leases.
        ClusterView doctored = TestViews.swapNodes(a.member.view(), a.id, b.id, a.member.view().version() + 1);
        b.member.onHeartbeatReply(new HeartbeatReply(true, true, doctored.version(), doctored), b.localMs());
        AssertionError e = assertThrows(AssertionError.class, sim::checkEveryEvent);
        assertTrue(e.getMessage().contains("masters"), e.getMessage());
        assertTrue(e.getMessage().contains("-Dferry.sim.seed=42"), e.getMessage());
    }
}
