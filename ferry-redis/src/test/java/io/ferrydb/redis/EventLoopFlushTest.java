package io.ferrydb.redis;

import io.ferrydb.proto.LoopFlush;
import io.netty.channel.DefaultEventLoop;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The endpoint's (plain Netty) event loops defer stream flushes to the end of the loop's pass, like gRPC's. */
class EventLoopFlushTest {

    @Test
    void requestsMadeInOneEventLoopTaskDrainOnceAfterIt() throws Exception {
        Class.forName(RedisEndpoint.class.getName(), true, RedisEndpoint.class.getClassLoader()); // registers its loops
        AtomicInteger drains = new AtomicInteger();
        LoopFlush flush = new LoopFlush(drains::incrementAndGet);
        DefaultEventLoop loop = new DefaultEventLoop();
        try {
            int duringTask = loop.submit(() -> {
                for (int i = 0; i < 5; i++) {
                    flush.request();
                }
                return drains.get();
            }).get(10, TimeUnit.SECONDS);
            assertEquals(0, duringTask, "nothing drains while the task still runs");
            loop.submit(() -> { }).get(10, TimeUnit.SECONDS); // runs after the deferred drain
            assertEquals(1, drains.get(), "five requests of one pass, one drain");
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        // Off any event loop a request drains at once.
        flush.request();
        assertEquals(2, drains.get());
    }
}
