package io.ferrydb.core.cluster;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/**
 * Highest-random-weight (rendezvous) hashing, Thaler and Ravishankar 1996: each
 * (partition, node) pair gets a score and a partition's desired replicas are the RF
 * nodes with the highest scores. Adding or removing a node only changes the
 * partitions where that node ranks in the top RF, so a join or leave moves as few
 * partitions as possible. The score function is fixed (FNV-1a 64 then the
 * SplitMix64 finaliser) so every node and every JVM computes the same table.
 */
public final class Rendezvous {
    private Rendezvous() {}

    /** Scores per (namespace, node) for all partitions; small (namespaces x nodes) and cleared if it grows. */
    private static final java.util.concurrent.ConcurrentHashMap<String, long[]> SCORES = new java.util.concurrent.ConcurrentHashMap<>();
    private static final int SCORES_MAX_ENTRIES = 4096;

    static long cachedScore(String namespace, int partition, String node) {
        return partition < io.ferrydb.api.Limits.PARTITION_COUNT ? scoresOf(namespace, node)[partition] : score(namespace, partition, node);
    }

    /** Every partition's score for one node in one namespace (cached; never modified). */
    private static long[] scoresOf(String namespace, String node) {
        long[] scores = SCORES.get(namespace + '\u0000' + node);
        if (scores == null) {
            if (SCORES.size() >= SCORES_MAX_ENTRIES) {
                SCORES.clear();
            }
            scores = new long[io.ferrydb.api.Limits.PARTITION_COUNT];
            for (int p = 0; p < scores.length; p++) {
                scores[p] = score(namespace, p, node);
            }
            SCORES.put(namespace + '\u0000' + node, scores);
        }
        return scores;
    }

    public static long score(String namespace, int partition, String node) {
        long h = 0xcbf29ce484222325L;
        h = fnv(h, namespace.getBytes(StandardCharsets.UTF_8));
        h = fnv(h, new byte[] {0, (byte) (partition >>> 8), (byte) partition, 0});
        h = fnv(h, node.getBytes(StandardCharsets.UTF_8));
        return mix(h);
    }

    /** The desired replicas of a partition, best first (the first is the desired master). */
    public static List<String> desired(String namespace, int partition, Collection<String> nodes, int replicationFactor) {
        List<String> ranked = new ArrayList<>(nodes);
        ranked.sort(Comparator.comparingLong((String n) -> cachedScore(namespace, partition, n)).reversed()
                .thenComparing(Comparator.naturalOrder()));
        return ranked.size() <= replicationFactor ? ranked : List.copyOf(ranked.subList(0, replicationFactor));
    }

    /** The scores of one set of nodes in one namespace, looked up once for ranking many partitions. */
    public static Ranking ranking(String namespace, Collection<String> nodes) {
        String[] ids = nodes.toArray(new String[0]);
        long[][] scores = new long[ids.length][];
        for (int i = 0; i < ids.length; i++) {
            scores[i] = scoresOf(namespace, ids[i]);
        }
        return new Ranking(ids, scores);
    }

    /**
     * {@link #desired} for many partitions of one namespace over one set of nodes: the same
     * order (score descending, then node id), without a score lookup per comparison (a
     * reconcile of every partition spent most of its time there).
     */
    public static final class Ranking {
        private final String[] nodes;
        private final long[][] scores;

        private Ranking(String[] nodes, long[][] scores) {
            this.nodes = nodes;
            this.scores = scores;
        }

        public List<String> desired(int partition, int replicationFactor) {
            int n = Math.min(nodes.length, replicationFactor);
            String[] picked = new String[n];
            boolean[] taken = new boolean[nodes.length];
            for (int k = 0; k < n; k++) {
                int best = -1;
                for (int i = 0; i < nodes.length; i++) {
                    if (!taken[i] && (best < 0 || before(i, best, partition))) {
                        best = i;
                    }
                }
                taken[best] = true;
                picked[k] = nodes[best];
            }
            return List.of(picked);
        }

        /** Whether node i ranks before node j in the partition: higher score, then the smaller id. */
        private boolean before(int i, int j, int partition) {
            long a = scores[i][partition];
            long b = scores[j][partition];
            return a != b ? a > b : nodes[i].compareTo(nodes[j]) < 0;
        }
    }

    private static long fnv(long h, byte[] bytes) {
        for (byte b : bytes) {
            h ^= b & 0xFF;
            h *= 0x100000001b3L;
        }
        return h;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
