package io.ferrydb.bench;

import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.clock.HybridLogicalClock;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.RecordCodec;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.server.SystemClock;
import io.ferrydb.server.storage.RocksStorage;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The storage write path of one node, without the network: a put through the record
 * store (read current record, plan, encode, one RocksDB WriteBatch of data + log +
 * high-water mark), with and without a WAL sync per write, and the record codec alone.
 *
 * <pre>java -cp "ferry-bench/target/ferry-bench.jar:ferry-bench/target/lib/*" org.openjdk.jmh.Main StorageWriteBenchmark</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(1)
public class StorageWriteBenchmark {
    private static final int KEYS = 100_000;

    private Path dir;
    private RocksStorage storage;
    private RecordStore store;
    private List<BinValidator.NamedValue> bins;
    private StoredRecord sample;
    private final SplittableRandom rnd = new SplittableRandom(1);

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("ferry-jmh");
        storage = new RocksStorage(dir, 64L * 1024 * 1024);
        store = RecordStore.open(storage, SystemClock.INSTANCE, new HybridLogicalClock(SystemClock.INSTANCE),
                List.of(NamespaceConfig.defaults("test")), n -> { });
        byte[] value = new byte[100];
        new SplittableRandom(2).nextBytes(value);
        bins = List.of(new BinValidator.NamedValue("v", Value.of(value)));
        sample = new StoredRecord("bench", Key.KeyType.LONG, new byte[8], Map.of("v", Value.of(value)), 3, 1L << 20, 0, 0, false);
        // Every key exists before measuring, so gets hit records and puts update them.
        for (long k = 0; k < KEYS; k++) {
            store.put(Key.of("test", "bench", k), bins, WritePolicy.DEFAULT);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        storage.close();
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private Key nextKey() {
        long k;
        synchronized (rnd) {
            k = rnd.nextLong(KEYS);
        }
        return Key.of("test", "bench", k);
    }

    /** A put as ASYNC durability sees it: applied and logged, not fsynced. */
    @Benchmark
    public Object putNoSync() {
        return store.put(nextKey(), bins, WritePolicy.DEFAULT);
    }

    /** A put with its own WAL fsync: what SYNC costs without group commit. */
    @Benchmark
    public void putWithOwnSync() {
        store.put(nextKey(), bins, WritePolicy.DEFAULT);
        storage.sync();
    }

    /** A get of an existing record. */
    @Benchmark
    public Object get() {
        return store.get(nextKey());
    }

    /** The record codec alone. */
    @Benchmark
    public Object encodeDecode() {
        return RecordCodec.decode(RecordCodec.encode(sample));
    }
}
