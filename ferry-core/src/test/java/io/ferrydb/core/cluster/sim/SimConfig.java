package io.ferrydb.core.cluster.sim;

import java.util.Random;

/**
 * One simulation's sizes and fault rates. Swarm mode draws them per seed (Groce et
 * al., "Swarm Testing", ISSTA 2012): varying which faults are frequent finds more
 * bugs than one fixed mix.
 *
 * @param crashWeight     out of 10, how often a fault slot crashes a node
 * @param partitionWeight out of 10, how often a fault slot cuts links
 * @param decommissionAtMs when an operator decommissions a random node during the chaos, or -1 for never
 */
record SimConfig(int nodes, int voters, int replicationFactor, double lossRate, double duplicateRate, int latencyMaxMs,
                 double maxDriftRatio, int syncMaxMs, int crashWeight, int partitionWeight, int faultGapMaxMs,
                 long decommissionAtMs) {

    SimConfig(int nodes, int voters, int replicationFactor, double lossRate, double duplicateRate, int latencyMaxMs,
              double maxDriftRatio, int syncMaxMs, int crashWeight, int partitionWeight, int faultGapMaxMs) {
        this(nodes, voters, replicationFactor, lossRate, duplicateRate, latencyMaxMs, maxDriftRatio, syncMaxMs, crashWeight,
                partitionWeight, faultGapMaxMs, -1);
    }

    static SimConfig swarm(Random random) {
        int nodes = 1 + random.nextInt(5);
        int voters = nodes >= 5 && random.nextBoolean() ? 5 : nodes >= 3 ? 3 : 1;
        int rf = 1 + random.nextInt(3);
        double loss = random.nextInt(3) == 0 ? 0 : random.nextDouble() * 0.1;
        double dup = random.nextInt(3) == 0 ? 0 : random.nextDouble() * 0.05;
        int latencyMax = 2 + random.nextInt(30);
        double drift = random.nextDouble() * 0.05;
        int syncMax = 50 + random.nextInt(800);
        int crash = random.nextInt(6);
        int partition = random.nextInt(10 - crash);
        int gap = 500 + random.nextInt(3_000);
        // A third of the runs with 2+ nodes also see a graceful leave somewhere in the chaos.
        long decommissionAt = nodes >= 2 && random.nextInt(3) == 0 ? 1_000 + random.nextInt(8_000) : -1;
        return new SimConfig(nodes, voters, rf, loss, dup, latencyMax, drift, syncMax, crash, partition, gap, decommissionAt);
    }
}
