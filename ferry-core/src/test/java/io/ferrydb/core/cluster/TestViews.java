package io.ferrydb.core.cluster;

import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/** Builds doctored views for tests that must show a checker failing. */
public final class TestViews {
    private TestViews() {}

    /** A copy of {@code v} at {@code version} in which nodes {@code a} and {@code b} trade places in every partition. */
    public static ClusterView swapNodes(ClusterView v, String a, String b, long version) {
        SortedMap<String, NamespaceTable> tables = new TreeMap<>();
        for (NamespaceTable t : v.tables().values()) {
            PartitionEntry[] entries = new PartitionEntry[t.size()];
            for (int p = 0; p < t.size(); p++) {
                List<Replica> reps = new ArrayList<>();
                for (Replica r : t.entry(p).replicas()) {
                    String n = r.node().equals(a) ? b : r.node().equals(b) ? a : r.node();
                    reps.add(new Replica(n, r.state()));
                }
                entries[p] = new PartitionEntry(t.entry(p).epoch(), reps);
            }
            tables.put(t.namespace(), new NamespaceTable(t.namespace(), t.replicationFactor(), entries));
        }
        return new ClusterView(version, v.members(), tables);
    }
}
