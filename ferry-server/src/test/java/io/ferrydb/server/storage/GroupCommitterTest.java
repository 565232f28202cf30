package io.ferrydb.server.storage;

import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.core.storage.Batch;
import io.ferrydb.core.storage.Column;
import io.ferrydb.core.storage.Cursor;
import io.ferrydb.core.storage.Storage;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GroupCommitterTest {

    /** A storage whose sync blocks until released, counting syncs. */
    static final class GatedStorage implements Storage {
        final AtomicInteger syncs = new AtomicInteger();
        volatile CountDownLatch gate = new CountDownLatch(0);
        final CountDownLatch firstSyncEntered = new CountDownLatch(1);

        public byte[] get(Column c, byte[] k) {
            return null;
        }

        public void write(Batch b) {
        }

        public void sync() {
            firstSyncEntered.countDown();
            try {
                gate.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            syncs.incrementAndGet();
        }

        public Cursor scan(Column c, byte[] f, byte[] t) {
            throw new UnsupportedOperationException("not used by the committer");
        }

        public void close() {
        }
    }

    @Test
    void writersWaitingDuringOneFsyncShareTheNext() throws Exception {
        GatedStorage storage = new GatedStorage();
        storage.gate = new CountDownLatch(1);
        try (GroupCommitter gc = new GroupCommitter(storage, 10_000, 1000, new SimpleMeterRegistry())) {
            CompletableFuture<Void> first = gc.awaitDurable();
            assertTrue(storage.firstSyncEntered.await(5, TimeUnit.SECONDS));
            List<CompletableFuture<Void>> waiting = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                waiting.add(gc.awaitDurable());
            }
            assertFalse(first.isDone(), "not acknowledged before its fsync returns");
            storage.gate.countDown();
            first.get(5, TimeUnit.SECONDS);
            CompletableFuture.allOf(waiting.toArray(new CompletableFuture[0])).get(5, TimeUnit.SECONDS);
            assertEquals(2, storage.syncs.get(), "101 writers, 2 fsyncs: the 100 queued during the first share the second");
        }
    }

    @Test
    void queueIsBounded() throws Exception {
        GatedStorage storage = new GatedStorage();
        storage.gate = new CountDownLatch(1);
        try (GroupCommitter gc = new GroupCommitter(storage, 10_000, 3, new SimpleMeterRegistry())) {
            gc.awaitDurable();
            assertTrue(storage.firstSyncEntered.await(5, TimeUnit.SECONDS));
            for (int i = 0; i < 3; i++) {
                gc.awaitDurable();
            }
            CompletableFuture<Void> over = gc.awaitDurable();
            ExecutionException e = assertThrows(ExecutionException.class, () -> over.get(1, TimeUnit.SECONDS));
            FerryException fe = assertInstanceOf(FerryException.class, e.getCause());
            assertEquals(ErrorCode.RESOURCE_EXHAUSTED, fe.code());
            assertTrue(fe.getMessage().contains("max-pending-syncs"));
            storage.gate.countDown();
        }
    }

    @Test
    void asyncWritesAreFlushedWithinTheInterval() throws Exception {
        GatedStorage storage = new GatedStorage();
        try (GroupCommitter gc = new GroupCommitter(storage, 20, 10, new SimpleMeterRegistry())) {
            Thread.sleep(100);
            int idle = storage.syncs.get();
            assertEquals(0, idle, "no writes, no fsyncs");
            gc.asyncWritten();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (storage.syncs.get() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, storage.syncs.get());
        }
    }
}
