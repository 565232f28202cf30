package io.ferrydb.server.mirror;

import io.ferrydb.core.loss.DivergentTail;
import io.ferrydb.core.loss.LossRecord;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.EnumMap;
import java.util.Map;

/**
 * Says out loud what the loss ledger recorded: a WARN line per ledger record with its
 * range and count, {@code ferry_lost_writes_total} by certainty, and the entries
 * truncated that no client had been acknowledged for.
 */
public final class LossReporter {
    private static final Logger LOG = LoggerFactory.getLogger(LossReporter.class);

    private final Map<LossRecord.Certainty, Counter> lost = new EnumMap<>(LossRecord.Certainty.class);
    private final Counter truncatedUnacknowledged;

    public LossReporter(MeterRegistry registry) {
        for (LossRecord.Certainty c : LossRecord.Certainty.values()) {
            lost.put(c, Counter.builder("ferry_lost_writes_total")
                    .description("acknowledged (or possibly acknowledged) writes that no replica holds any more, as recorded in the loss ledger")
                    .tag("certainty", c.name().toLowerCase(java.util.Locale.ROOT)).register(registry));
        }
        truncatedUnacknowledged = Counter.builder("ferry_divergent_unacknowledged_total")
                .description("divergent-tail entries truncated that no client had been acknowledged for").register(registry);
    }

    public void recorded(DivergentTail.Accounting accounting) {
        for (LossRecord r : accounting.records()) {
            lost.get(r.certainty()).increment(r.count());
            LOG.warn("LOST {} write(s) ({}) of {}/{} epoch {}, lsn {}..{}: {} (loss ledger id {})", r.count(),
                    r.certainty().name().toLowerCase(java.util.Locale.ROOT), r.namespace(), r.partition(), r.epoch(), r.fromLsn(), r.toLsn(),
                    r.detail(), r.id());
        }
        if (accounting.notAcknowledged() > 0) {
            truncatedUnacknowledged.increment(accounting.notAcknowledged());
            LOG.info("truncated {} divergent entries that no client had been acknowledged for", accounting.notAcknowledged());
        }
    }
}
