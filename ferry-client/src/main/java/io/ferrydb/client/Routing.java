package io.ferrydb.client;

import io.ferrydb.api.Key;
import io.ferrydb.proto.NamespaceRouting;
import io.ferrydb.proto.PartitionMapResponse;

import java.util.HashMap;
import java.util.Map;

/**
 * The partition map a client routes by: per namespace, each partition's master
 * address and epoch, from one cluster view. Immutable; the client swaps in a newer
 * one when a node refuses a request (NOT_MASTER) or cannot be reached.
 */
final class Routing {
    /** No map yet: everything goes to the seed node. */
    static final Routing NONE = new Routing(-1, new String[0], Map.of(), Map.of(), Map.of());

    private final long version;
    private final String[] addresses;
    private final Map<String, int[]> masters;
    private final Map<String, long[]> epochs;
    /** Per namespace and partition: while it moves, the node taking it over (index into addresses), else -1. */
    private final Map<String, int[]> next;

    private Routing(long version, String[] addresses, Map<String, int[]> masters, Map<String, long[]> epochs, Map<String, int[]> next) {
        this.version = version;
        this.addresses = addresses;
        this.masters = masters;
        this.epochs = epochs;
        this.next = next;
    }

    static Routing of(PartitionMapResponse r) {
        String[] addresses = new String[r.getNodesCount()];
        for (int i = 0; i < addresses.length; i++) {
            addresses[i] = r.getNodes(i).getAddress();
        }
        Map<String, int[]> masters = new HashMap<>();
        Map<String, long[]> epochs = new HashMap<>();
        Map<String, int[]> next = new HashMap<>();
        for (NamespaceRouting ns : r.getNamespacesList()) {
            int[] m = new int[ns.getMasterCount()];
            long[] e = new long[ns.getEpochCount()];
            int[] n = new int[ns.getNextCount()];
            for (int p = 0; p < m.length; p++) {
                m[p] = ns.getMaster(p);
            }
            for (int p = 0; p < e.length; p++) {
                e[p] = ns.getEpoch(p);
            }
            for (int p = 0; p < n.length; p++) {
                n[p] = ns.getNext(p);
            }
            masters.put(ns.getName(), m);
            epochs.put(ns.getName(), e);
            next.put(ns.getName(), n);
        }
        return new Routing(r.getViewVersion(), addresses, masters, epochs, next);
    }

    long version() {
        return version;
    }

    boolean known(String namespace) {
        return masters.containsKey(namespace);
    }

    /**
     * Where to send a request of the partition: its master's address; while it moves, the
     * node taking it over (which refuses until the switch and serves from then on); null
     * when the map does not know the namespace or the partition has neither.
     */
    String master(String namespace, int partition) {
        String serving = at(masters.get(namespace), partition);
        return serving != null ? serving : at(next.get(namespace), partition);
    }

    private String at(int[] indexes, int partition) {
        if (indexes == null || partition >= indexes.length || indexes[partition] < 0 || indexes[partition] >= addresses.length) {
            return null;
        }
        return addresses[indexes[partition]];
    }

    String master(Key key) {
        return master(key.namespace(), key.partition());
    }

    /**
     * This map with one partition served by {@code address} in {@code epoch} (a NOT_MASTER
     * answer's hint), or this map itself when it already knows that epoch or a newer one,
     * or does not know the namespace. The version stays: any fetched map of it or newer
     * replaces the hint.
     */
    Routing withMaster(String namespace, int partition, String address, long epoch) {
        int[] m = masters.get(namespace);
        long[] e = epochs.get(namespace);
        if (m == null || e == null || partition >= m.length || partition >= e.length || epoch <= e[partition]) {
            return this;
        }
        String[] nextAddresses = addresses;
        int index = java.util.Arrays.asList(addresses).indexOf(address);
        if (index < 0) {
            nextAddresses = java.util.Arrays.copyOf(addresses, addresses.length + 1);
            index = addresses.length;
            nextAddresses[index] = address;
        }
        int[] nm = m.clone();
        long[] ne = e.clone();
        nm[partition] = index;
        ne[partition] = epoch;
        Map<String, int[]> nextMasters = new HashMap<>(masters);
        Map<String, long[]> nextEpochs = new HashMap<>(epochs);
        nextMasters.put(namespace, nm);
        nextEpochs.put(namespace, ne);
        return new Routing(version, nextAddresses, nextMasters, nextEpochs, next);
    }

    long epoch(String namespace, int partition) {
        long[] e = epochs.get(namespace);
        return e == null || partition >= e.length ? 0 : e[partition];
    }
}
