package io.ferrydb.server.service;

import io.ferrydb.api.ErrorCode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Per-operation request counts by outcome, and latency timers. */
public final class RequestMetrics {
    public enum Op { PUT, GET, EXISTS, DELETE, BATCH_GET, BATCH_WRITE, SCAN, INFO, BULK_LOAD }

    private final MeterRegistry registry;
    private final Map<Op, Timer> timers = new EnumMap<>(Op.class);
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<Op, Counter> okCounters = new EnumMap<>(Op.class);

    public RequestMetrics(MeterRegistry registry) {
        this.registry = registry;
        for (Op op : Op.values()) {
            timers.put(op, Timer.builder("ferry_request").description("request latency at the server")
                    .tag("op", op.name().toLowerCase()).register(registry));
            okCounters.put(op, counter(op, "ok"));
        }
    }

    private Counter counter(Op op, String status) {
        return Counter.builder("ferry_requests").description("requests by operation and outcome")
                .tag("op", op.name().toLowerCase()).tag("status", status).register(registry);
    }

    public void record(Op op, long startNs, ErrorCode errorOrNull) {
        timers.get(op).record(System.nanoTime() - startNs, TimeUnit.NANOSECONDS);
        if (errorOrNull == null) {
            okCounters.get(op).increment();
            return;
        }
        String status = errorOrNull.name().toLowerCase();
        counters.computeIfAbsent(op.name() + "/" + status, k -> counter(op, status)).increment();
    }
}
