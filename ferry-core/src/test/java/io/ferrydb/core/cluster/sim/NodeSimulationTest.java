package io.ferrydb.core.cluster.sim;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

/**
 * The node-level simulation: the control plane of {@link ClusterSimulationTest} with
 * the real data path under it ({@link MirroredDataPath}: record stores, mirroring,
 * failover checks, syncs, change tracking), seeded chaos (crashes, network partitions,
 * loss, a decommission), then healing and the checks of the mirroring issue.
 * {@code -Dferry.node.seeds=N} (default 2000) swarm seeds; a failure names its seed and
 * the command that replays it ({@code -Dferry.node.seed=S}).
 */
class NodeSimulationTest {
    static final long CHAOS_MS = 8_000;
    static final long SETTLE_MS = 15_000;

    static ClusterSimulation simulate(long seed) {
        Random r = new Random(seed * 131 + 17);
        SimConfig c = SimConfig.swarm(r);
        // Mirroring needs mirrors: 2-4 nodes, replication factor 2-3.
        int nodes = 2 + r.nextInt(3);
        int voters = nodes >= 3 ? 3 : 1;
        int rf = Math.min(nodes, 2 + r.nextInt(2));
        SimConfig config = new SimConfig(nodes, voters, rf, c.lossRate(), c.duplicateRate(), c.latencyMaxMs(), c.maxDriftRatio(),
                c.syncMaxMs(), c.crashWeight(), c.partitionWeight(), c.faultGapMaxMs(),
                c.decommissionAtMs() < 0 || nodes <= rf ? -1 : Math.min(c.decommissionAtMs(), CHAOS_MS - 1_000));
        boolean powerLoss = r.nextInt(4) == 0 && Boolean.parseBoolean(System.getProperty("ferry.node.powerLoss", "true"));
        ClusterSimulation sim = new ClusterSimulation(seed, config, s -> new MirroredDataPath(s, powerLoss, CHAOS_MS));
        sim.run(CHAOS_MS, SETTLE_MS);
        return sim;
    }

    @Test
    void swarmSeeds() throws Exception {
        Long one = Long.getLong("ferry.node.seed");
        int seeds = one != null ? 1 : Integer.getInteger("ferry.node.seeds", 2000);
        long first = one != null ? one : Long.getLong("ferry.node.firstSeed", 1);
        Swarm.Totals t = Swarm.run(first, seeds, NodeSimulationTest::simulate, "-Dtest=NodeSimulationTest -Dferry.node.seed=");
        System.out.printf("node simulation: %d seeds, %d events, %.1f s; %s%n", seeds, t.events(), t.seconds(), t.stats());
    }

    /** The checkers can fail: an acknowledged write lost without a ledger entry, a lost ALL+SYNC write, a diverged replica. */
    @Test
    void checkersCatchUnrecordedLossesAndDivergedReplicas() {
        ClusterSimulation sim = simulate(7);
        MirroredDataPath data = (MirroredDataPath) sim.data;
        int p = data.hotPartitions()[0];
        io.ferrydb.api.Key key = data.keysOf(p).get(0);
        io.ferrydb.core.cluster.PartitionEntry e = sim.nodes.get(0).member.view().entry(ClusterSimulation.NS, p);

        MirroredDataPath.Write lost = new MirroredDataPath.Write(p, 99, 1, io.ferrydb.api.CommitLevel.MASTER,
                io.ferrydb.api.Durability.ASYNC, key.digest(), e.master());
        lost.acked = true;
        data.writes.add(lost);
        AssertionError unrecorded = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, sim::checkConverged);
        org.junit.jupiter.api.Assertions.assertTrue(unrecorded.getMessage().contains("not in the ledger"), unrecorded.getMessage());
        data.writes.remove(lost);

        MirroredDataPath.Write allSync = new MirroredDataPath.Write(p, 99, 1, io.ferrydb.api.CommitLevel.ALL,
                io.ferrydb.api.Durability.SYNC, key.digest(), e.master());
        allSync.acked = true;
        data.writes.add(allSync);
        AssertionError lostAllSync = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, sim::checkConverged);
        org.junit.jupiter.api.Assertions.assertTrue(lostAllSync.getMessage().contains("ALL+SYNC"), lostAllSync.getMessage());
        data.writes.remove(allSync);

        sim.checkConverged();
        String mirror = e.mirrors().get(0).node();
        data.store(mirror).store.put(key, List.of(new io.ferrydb.core.record.BinValidator.NamedValue("v", io.ferrydb.api.Value.of(-5L))),
                io.ferrydb.api.WritePolicy.DEFAULT);
        AssertionError diverged = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, sim::checkConverged);
        org.junit.jupiter.api.Assertions.assertTrue(diverged.getMessage().contains("replica " + mirror), diverged.getMessage());
    }
}
