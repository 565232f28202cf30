package io.ferrydb.api;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A record as a client sees it: its key, bins and metadata.
 *
 * @param generation    1 on create, +1 on every write
 * @param lastUpdateHlc hybrid logical clock timestamp of the last write (see {@link Hlc})
 * @param expiresAtMs   epoch milliseconds at which the record expires, 0 for never
 * @param originCluster id of the cluster where the last write originated, 0 for local
 */
public record Record(Key key, Map<String, Value> bins, int generation, long lastUpdateHlc,
                     long expiresAtMs, int originCluster) {

    public Record {
        bins = Collections.unmodifiableMap(new LinkedHashMap<>(bins));
    }

    public Value bin(String name) {
        return bins.get(name);
    }

    public Object binJava(String name) {
        Value v = bins.get(name);
        return v == null ? null : v.toJava();
    }
}
