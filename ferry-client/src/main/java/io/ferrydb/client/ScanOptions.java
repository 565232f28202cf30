package io.ferrydb.client;

import java.util.List;

/**
 * What to scan: a namespace, optionally one set, a partition range [begin, end),
 * a bin projection and a record limit (0 = none).
 */
public record ScanOptions(String namespace, String set, int partitionBegin, int partitionEnd, List<String> bins,
                          long maxRecords, boolean metadataOnly) {
    public static ScanOptions of(String namespace, String set) {
        return new ScanOptions(namespace, set, 0, 4096, List.of(), 0, false);
    }

    public ScanOptions partitions(int begin, int end) {
        return new ScanOptions(namespace, set, begin, end, bins, maxRecords, metadataOnly);
    }

    public ScanOptions bins(List<String> names) {
        return new ScanOptions(namespace, set, partitionBegin, partitionEnd, names, maxRecords, metadataOnly);
    }

    public ScanOptions maxRecords(long n) {
        return new ScanOptions(namespace, set, partitionBegin, partitionEnd, bins, n, metadataOnly);
    }
}
