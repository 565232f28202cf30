package io.ferrydb.core.record;

import io.ferrydb.api.FerryException;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Names;
import io.ferrydb.api.Value;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Checks incoming bins; every error names the field (e.g. {@code bins[2].name}). */
public final class BinValidator {
    private BinValidator() {}

    public record NamedValue(String name, Value value) {}

    public static void check(String field, List<NamedValue> bins) {
        if (bins.isEmpty()) {
            throw FerryException.invalid("%s must not be empty", field);
        }
        if (bins.size() > Limits.BINS_PER_RECORD_MAX) {
            throw FerryException.invalid("%s has %d bins; the limit is %d", field, bins.size(), Limits.BINS_PER_RECORD_MAX);
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < bins.size(); i++) {
            NamedValue bin = bins.get(i);
            String binField = field + "[" + i + "]";
            Names.checkBin(binField + ".name", bin.name());
            if (!seen.add(bin.name())) {
                throw FerryException.invalid("%s.name '%s' appears twice", binField, bin.name());
            }
            if (bin.value() == null) {
                throw FerryException.invalid("%s.value is not set", binField);
            }
            checkDepth(binField + ".value", bin.value(), 0);
        }
    }

    private static void checkDepth(String field, Value v, int depth) {
        if (depth > Limits.VALUE_DEPTH_MAX) {
            throw FerryException.invalid("%s nests lists/maps deeper than %d", field, Limits.VALUE_DEPTH_MAX);
        }
        if (v instanceof Value.ListValue l) {
            for (Value item : l.items()) {
                checkDepth(field, item, depth + 1);
            }
        } else if (v instanceof Value.MapValue m) {
            for (Map.Entry<Value, Value> e : m.entries().entrySet()) {
                checkDepth(field, e.getKey(), depth + 1);
                checkDepth(field, e.getValue(), depth + 1);
            }
        }
    }
}
