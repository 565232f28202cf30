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

    private final Map<LossRecord.Kind, Map<LossRecord.Certainty, Counter>> lost = new EnumMap<>(LossRecord.Kind.class);
    private final Counter truncatedUnacknowledged;

    public LossReporter(MeterRegistry registry) {
        for (LossRecord.Kind k : LossRecord.Kind.values()) {
            Map<LossRecord.Certainty, Counter> byCertainty = new EnumMap<>(LossRecord.Certainty.class);
            for (LossRecord.Certainty c : LossRecord.Certainty.values()) {
                byCertainty.put(c, Counter.builder("ferry_lost_writes_total")
                        .description("acknowledged (or possibly acknowledged) writes that no replica holds any more, as recorded in the "
                                + "loss ledger; kind=failover counts what a failover found missing from the promoted replica, which "
                                + "kind=divergent_tail counts again, exactly, if the failed master returns")
                        .tag("certainty", c.name().toLowerCase(java.util.Locale.ROOT))
                        .tag("kind", k.name().toLowerCase(java.util.Locale.ROOT)).register(registry));
            }
            lost.put(k, byCertainty);
        }
        truncatedUnacknowledged = Counter.builder("ferry_divergent_unacknowledged_total")
                .description("divergent-tail entries truncated that no client had been acknowledged for").register(registry);
    }

    /** One record written to the ledger: counted and logged at WARN with its range. */
    public void recorded(LossRecord r) {
        lost.get(r.kind()).get(r.certainty()).increment(r.count());
        LOG.warn("LOST {} write(s) ({}, {}) of {}/{} epoch {}, lsn {}..{}: {} (loss ledger id {})", r.count(),
                r.certainty().name().toLowerCase(java.util.Locale.ROOT), r.kind().name().toLowerCase(java.util.Locale.ROOT),
                r.namespace(), r.partition(), r.epoch(), r.fromLsn(), r.toLsn(), r.detail(), r.id());
    }

    public void recorded(DivergentTail.Accounting accounting) {
        for (LossRecord r : accounting.records()) {
            recorded(r);
        }
        if (accounting.notAcknowledged() > 0) {
            truncatedUnacknowledged.increment(accounting.notAcknowledged());
            LOG.info("truncated {} divergent entries that no client had been acknowledged for", accounting.notAcknowledged());
        }
    }
}
