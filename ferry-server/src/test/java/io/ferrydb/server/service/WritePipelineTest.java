package io.ferrydb.server.service;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WritePipelineTest {

    @Test
    void anIdleShardRunsTheJobOnTheCaller() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (WritePipeline pipeline = new WritePipeline(2, 16, registry)) {
            AtomicReference<Thread> ranOn = new AtomicReference<>();
            assertTrue(pipeline.runIfIdle(1, () -> ranOn.set(Thread.currentThread())));
            assertSame(Thread.currentThread(), ranOn.get());
            assertEquals(1.0, registry.get("ferry_write_jobs_inline").functionCounter().count());
            assertEquals(1.0, registry.get("ferry_write_jobs").functionCounter().count());
        }
    }

    @Test
    void aBusyShardRefusesToRunInlineAndKeepsSubmissionOrder() throws Exception {
        try (WritePipeline pipeline = new WritePipeline(2, 16, new SimpleMeterRegistry())) {
            CountDownLatch running = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            List<String> order = Collections.synchronizedList(new ArrayList<>());
            assertTrue(pipeline.submit(0, () -> {
                running.countDown();
                await(release);
                order.add("first");
            }));
            assertTrue(running.await(10, TimeUnit.SECONDS));
            // Shard 0's thread is running a job: nothing may overtake it.
            assertFalse(pipeline.runIfIdle(0, () -> order.add("overtook")));
            assertTrue(pipeline.submit(0, () -> order.add("second")));
            // A job queued behind the running one keeps the shard busy too.
            assertFalse(pipeline.runIfIdle(0, () -> order.add("overtook")));
            // The other shard is idle.
            assertTrue(pipeline.runIfIdle(1, () -> order.add("other shard")));
            release.countDown();
            awaitCondition(() -> order.size() == 3);
            assertEquals(List.of("other shard", "first", "second"), order);
            // Once drained, the shard runs inline again.
            awaitCondition(() -> pipeline.runIfIdle(0, () -> order.add("inline")));
            assertEquals("inline", order.get(order.size() - 1));
        }
    }

    @Test
    void aShardsJobsNeverOverlapAndEachCallersRunInItsOrder() throws Exception {
        int callers = 4;
        int perCaller = 20_000;
        try (WritePipeline pipeline = new WritePipeline(1, 1_000_000, new SimpleMeterRegistry())) {
            AtomicBoolean inside = new AtomicBoolean();
            AtomicInteger overlaps = new AtomicInteger();
            int[] last = new int[callers];
            AtomicInteger outOfOrder = new AtomicInteger();
            AtomicInteger done = new AtomicInteger();
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < callers; c++) {
                int caller = c;
                Thread t = new Thread(() -> {
                    for (int i = 1; i <= perCaller; i++) {
                        int seq = i;
                        Runnable job = () -> {
                            if (!inside.compareAndSet(false, true)) {
                                overlaps.incrementAndGet();
                            }
                            // Only jobs of this one shard touch last[]: serial if the pipeline is right.
                            if (last[caller] != seq - 1) {
                                outOfOrder.incrementAndGet();
                            }
                            last[caller] = seq;
                            inside.set(false);
                            done.incrementAndGet();
                        };
                        if (!pipeline.runIfIdle(0, job)) {
                            assertTrue(pipeline.submit(0, job));
                        }
                    }
                });
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(60));
            }
            awaitCondition(() -> done.get() == callers * perCaller);
            assertEquals(0, overlaps.get());
            assertEquals(0, outOfOrder.get());
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(10, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static void awaitCondition(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "condition not reached in 20 s");
            Thread.sleep(1);
        }
    }
}
