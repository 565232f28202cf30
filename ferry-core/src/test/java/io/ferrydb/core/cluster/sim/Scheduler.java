package io.ferrydb.core.cluster.sim;

import java.util.PriorityQueue;

/** Discrete-event scheduler ordered by (time, event id): one seed gives one order. */
final class Scheduler {
    private record Event(long timeMs, long id, Runnable action) {
    }

    private final PriorityQueue<Event> queue = new PriorityQueue<>((a, b) ->
            a.timeMs != b.timeMs ? Long.compare(a.timeMs, b.timeMs) : Long.compare(a.id, b.id));
    private long nowMs;
    private long nextId;
    private long executed;

    long nowMs() {
        return nowMs;
    }

    long executed() {
        return executed;
    }

    void at(long timeMs, Runnable action) {
        queue.add(new Event(Math.max(timeMs, nowMs), nextId++, action));
    }

    void after(long delayMs, Runnable action) {
        at(nowMs + delayMs, action);
    }

    /** Runs events up to {@code untilMs}, calling {@code afterEach} after every one. */
    void runUntil(long untilMs, Runnable afterEach) {
        while (!queue.isEmpty() && queue.peek().timeMs <= untilMs) {
            Event e = queue.poll();
            nowMs = e.timeMs;
            e.action.run();
            executed++;
            afterEach.run();
        }
        nowMs = untilMs;
    }
}
