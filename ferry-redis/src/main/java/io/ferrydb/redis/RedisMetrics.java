package io.ferrydb.redis;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** The endpoint's meters: commands by name, errors by kind, connections, forwarding. */
final class RedisMetrics {
    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, Counter> commands = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> errors = new ConcurrentHashMap<>();
    final AtomicInteger connections = new AtomicInteger();
    final LongAdder connectionsTotal = new LongAdder();
    final LongAdder forwarded = new LongAdder();
    final LongAdder casRetries = new LongAdder();
    final LongAdder commandsTotal = new LongAdder();
    final LongAdder expiredKeys = new LongAdder();

    RedisMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("ferry_redis_connections", connections, AtomicInteger::get).description("open Redis protocol connections").register(registry);
        FunctionCounter.builder("ferry_redis_connections_accepted", connectionsTotal, LongAdder::sum)
                .description("Redis protocol connections accepted").register(registry);
        FunctionCounter.builder("ferry_redis_forwarded", forwarded, LongAdder::sum)
                .description("Redis requests forwarded to the partition's master on another node").register(registry);
        FunctionCounter.builder("ferry_redis_cas_retries", casRetries, LongAdder::sum)
                .description("read-modify-write commands retried after losing to a concurrent writer").register(registry);
    }

    /** Counts a command; unknown names are counted as "unknown" so clients cannot create meters at will. */
    void command(String name) {
        commandsTotal.increment();
        commands.computeIfAbsent(name, n -> Counter.builder("ferry_redis_commands").tag("command", n)
                .description("Redis commands received, by command").register(registry)).increment();
    }

    /** Counts an error reply by its code (ERR, WRONGTYPE, NOAUTH, ...). */
    void error(String message) {
        int space = message.indexOf(' ');
        String kind = space > 0 ? message.substring(0, space) : message;
        if (kind.length() > 16 || !kind.chars().allMatch(Character::isUpperCase)) {
            kind = "ERR";
        }
        errors.computeIfAbsent(kind, k -> Counter.builder("ferry_redis_errors").tag("kind", k)
                .description("Redis error replies, by error code").register(registry)).increment();
    }

    long errorsTotal() {
        double n = 0;
        for (Counter c : errors.values()) {
            n += c.count();
        }
        return (long) n;
    }
}
