package io.ferrydb.core.store;

import io.ferrydb.api.Key;

import java.util.ArrayList;
import java.util.List;

/** Finds long keys that land in chosen partitions, so tests can crowd a partition. */
final class TestKeys {
    private TestKeys() {}

    /** The first {@code count} long keys (0, 1, 2, ...) of {@code set} whose digest falls in {@code partition}. */
    static List<Key> inPartition(String ns, String set, int partition, int count) {
        List<Key> out = new ArrayList<>(count);
        for (long k = 0; out.size() < count; k++) {
            Key key = Key.of(ns, set, k);
            if (key.partition() == partition) {
                out.add(key);
            }
        }
        return out;
    }

    /**
     * {@code perPartition} keys in each of {@code partitions} distinct partitions: the
     * partitions of keys 0, 1, 2... of the set, in key order.
     */
    static List<List<Key>> clustered(String ns, String set, int partitions, int perPartition) {
        List<Integer> chosen = new ArrayList<>();
        for (long k = 0; chosen.size() < partitions; k++) {
            int p = Key.of(ns, set, k).partition();
            if (!chosen.contains(p)) {
                chosen.add(p);
            }
        }
        List<List<Key>> out = new ArrayList<>();
        for (int p : chosen) {
            out.add(inPartition(ns, set, p, perPartition));
        }
        return out;
    }
}
