package io.ferrydb.core.cluster;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * An immutable snapshot of the cluster state that nodes and clients act on:
 * members and partition tables at one version. (The duplication-schema history
 * stays on the control nodes and is queried on demand.)
 */
public final class ClusterView {
    public static final ClusterView EMPTY = new ClusterView(0, new TreeMap<>(), new TreeMap<>());

    private final long version;
    private final SortedMap<String, Member> members;
    private final SortedMap<String, NamespaceTable> tables;

    public ClusterView(long version, SortedMap<String, Member> members, SortedMap<String, NamespaceTable> tables) {
        this.version = version;
        this.members = Collections.unmodifiableSortedMap(new TreeMap<>(members));
        this.tables = Collections.unmodifiableSortedMap(new TreeMap<>(tables));
    }

    public long version() {
        return version;
    }

    public SortedMap<String, Member> members() {
        return members;
    }

    public Member member(String id) {
        return members.get(id);
    }

    public SortedMap<String, NamespaceTable> tables() {
        return tables;
    }

    public NamespaceTable table(String namespace) {
        return tables.get(namespace);
    }

    /** The entry of a partition, or {@link PartitionEntry#UNASSIGNED} when the namespace has no table yet. */
    public PartitionEntry entry(String namespace, int partition) {
        NamespaceTable t = tables.get(namespace);
        return t == null ? PartitionEntry.UNASSIGNED : t.entry(partition);
    }

    /** Partitions mastered per node, for status output. */
    public Map<String, Integer> mastersPerNode(String namespace) {
        Map<String, Integer> counts = new TreeMap<>();
        NamespaceTable t = tables.get(namespace);
        if (t != null) {
            for (int p = 0; p < t.size(); p++) {
                String m = t.entry(p).master();
                if (m != null) {
                    counts.merge(m, 1, Integer::sum);
                }
            }
        }
        return counts;
    }

    @Override
    public String toString() {
        return "ClusterView{version=" + version + ", members=" + members.keySet() + ", namespaces=" + tables.keySet() + "}";
    }
}
