package io.ferrydb.redis;

import com.google.protobuf.Message;
import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Limits;
import io.ferrydb.api.Record;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.client.FerryAsyncClient;
import io.ferrydb.client.FerryClient;
import io.ferrydb.client.ScanOptions;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.core.store.WriteOp;
import io.ferrydb.proto.DeleteResponse;
import io.ferrydb.proto.PutResponse;
import io.ferrydb.redis.RedisValues.View;
import io.ferrydb.server.service.RequestHandler;
import io.ferrydb.server.service.WritePipeline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * Reads and writes Redis keys where they live. A key whose partition this node masters
 * is served in place through the node's {@link RequestHandler} (partition gate,
 * durability, commit level and mirroring exactly as for native writes, no network
 * hop); any other key is forwarded with the routing client to its partition's master,
 * like a native client would send it. A read-modify-write (INCR, HSET, APPEND, ...)
 * is optimistic: it writes with the generation it read as the expected one (or
 * create-only for a new key) and starts over if another writer came first.
 */
final class Keyspace {
    /** Attempts of a read-modify-write against concurrent writers before it gives up. */
    static final int MUTATE_ATTEMPTS_MAX = 32;
    /** Expiry of a write: never, keep the current one, or (positive) an absolute time in epoch ms. */
    static final long EXPIRY_NEVER = WritePolicy.TTL_NEVER_EXPIRE;
    static final long EXPIRY_KEEP = WritePolicy.TTL_DONT_UPDATE;

    private final RequestHandler handler;
    private final RecordStore store;
    private final NamespaceConfig ns;
    private final Supplier<FerryClient> remote;
    private final Executor scanExecutor;
    private final RedisMetrics metrics;
    private final WritePipeline pipeline;
    private final java.util.function.BiPredicate<String, Integer> mastering;

    Keyspace(RequestHandler handler, WritePipeline pipeline, java.util.function.BiPredicate<String, Integer> mastering,
             NamespaceConfig ns, Supplier<FerryClient> remote, Executor scanExecutor, RedisMetrics metrics) {
        this.handler = handler;
        this.pipeline = pipeline;
        this.mastering = mastering;
        this.store = handler.store();
        this.ns = ns;
        this.remote = remote;
        this.scanExecutor = scanExecutor;
        this.metrics = metrics;
    }

    String namespace() {
        return ns.name();
    }

    RecordStore store() {
        return store;
    }

    RequestHandler handler() {
        return handler;
    }

    NamespaceConfig namespaceConfig() {
        return ns;
    }

    /**
     * Whether this node serves the partition now (master with a lease). Asked of the
     * cluster view, not through the request gate, whose refusals count as NOT_MASTER
     * answers in the node's metrics; the write itself still passes the gate on its
     * storage thread.
     */
    boolean local(int partition) {
        return mastering.test(ns.name(), partition);
    }

    private FerryAsyncClient forward(RedisConnection c) {
        c.unfinished = true;
        metrics.forwarded.increment();
        return remote.get().async();
    }

    // ---- reads ----

    /** The live record, null when absent. */
    CompletableFuture<View> read(RedisConnection c, Key key) {
        if (local(key.partition())) {
            return CompletableFuture.completedFuture(View.of(store.get(key)));
        }
        return forward(c).get(key).thenApply(View::of);
    }

    // ---- writes ----

    sealed interface Change permits Put, Delete {}

    record Put(List<BinValidator.NamedValue> bins, long expiry) implements Change {}

    record Delete() implements Change {}

    /** What a read-modify-write decided: the reply, and the change to make (null: none). */
    record Step(Reply reply, Change change) {}

    interface Mutation {
        /** Decides from the current record (null: absent); throws RedisError to answer an error. */
        Step apply(View current);
    }

    /**
     * Writes bins. Completes when acknowledged at the connection's durability and commit
     * level; fails with the refusal (ALREADY_EXISTS, NOT_FOUND, FAILED_PRECONDITION, ...).
     */
    CompletableFuture<Void> put(RedisConnection c, Key key, List<BinValidator.NamedValue> bins, RecordExistsAction exists,
                                int expectedGeneration, long expiry) {
        WritePolicy policy = putPolicy(c, exists, expectedGeneration, expiry);
        int p = key.partition();
        if (local(p)) {
            return onShard(c, p, List.of(putWrite(key, bins, policy, expiry)))
                    .thenCompose(done -> done.get(0)).handle((m, e) -> {
                        if (e == null) {
                            c.noteLocalWrite(p, ((PutResponse) m).getAck().getLsn());
                            return CompletableFuture.<Void>completedFuture(null);
                        }
                        return notMaster(e) ? forwardPut(c, key, bins, policy, expiry) : CompletableFuture.<Void>failedFuture(e);
                    }).thenCompose(f -> f);
        }
        return forwardPut(c, key, bins, policy, expiry);
    }

    private static WritePolicy putPolicy(RedisConnection c, RecordExistsAction exists, int expectedGeneration, long expiry) {
        return new WritePolicy(exists, expectedGeneration, c.durability, c.commitLevel, expiry > 0 ? 0 : expiry);
    }

    private RequestHandler.PreparedWrite putWrite(Key key, List<BinValidator.NamedValue> bins, WritePolicy policy, long expiry) {
        return new RequestHandler.PreparedWrite(new WriteOp.Put(key, bins, policy, expiry > 0 ? expiry : 0), ns);
    }

    private static WritePolicy deletePolicy(RedisConnection c, int expectedGeneration) {
        return new WritePolicy(RecordExistsAction.UPSERT, expectedGeneration, c.durability, c.commitLevel, 0);
    }

    private CompletableFuture<Void> forwardPut(RedisConnection c, Key key, List<BinValidator.NamedValue> bins, WritePolicy policy, long expiry) {
        int p = key.partition();
        Map<String, Value> map = new LinkedHashMap<>();
        for (BinValidator.NamedValue b : bins) {
            map.put(b.name(), b.value());
        }
        CommitLevel level = c.commitLevel != null ? c.commitLevel : ns.defaultCommitLevel();
        return forward(c).put(policy.withTtlSeconds(remoteTtl(expiry)), key, map)
                .thenAccept(w -> c.noteRemoteWrite(p, level));
    }

    /** Deletes; completes with whether a live record was deleted. */
    CompletableFuture<Boolean> delete(RedisConnection c, Key key, int expectedGeneration) {
        WritePolicy policy = deletePolicy(c, expectedGeneration);
        int p = key.partition();
        if (local(p)) {
            return onShard(c, p, List.of(new RequestHandler.PreparedWrite(new WriteOp.Delete(key, policy), ns)))
                    .thenCompose(done -> done.get(0)).handle((m, e) -> {
                        if (e == null) {
                            DeleteResponse d = (DeleteResponse) m;
                            if (d.getExisted()) {
                                c.noteLocalWrite(p, d.getAck().getLsn());
                            }
                            return CompletableFuture.completedFuture(d.getExisted());
                        }
                        return notMaster(e) ? forwardDelete(c, key, policy) : CompletableFuture.<Boolean>failedFuture(e);
                    }).thenCompose(f -> f);
        }
        return forwardDelete(c, key, policy);
    }

    private CompletableFuture<Boolean> forwardDelete(RedisConnection c, Key key, WritePolicy policy) {
        int p = key.partition();
        CommitLevel level = c.commitLevel != null ? c.commitLevel : ns.defaultCommitLevel();
        return forward(c).delete(policy, key).thenApply(existed -> {
            c.noteRemoteWrite(p, level);
            return existed;
        });
    }

    /**
     * Writes several strings (MSET) key by key, each where its partition is written
     * (storage thread or master): not atomic across keys.
     */
    CompletableFuture<Void> putStrings(RedisConnection c, List<Key> keys, List<byte[]> values) {
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            all.add(put(c, keys.get(i), RedisValues.stringBins(values.get(i)), RecordExistsAction.REPLACE, 0, EXPIRY_NEVER));
        }
        return CompletableFuture.allOf(all.toArray(new CompletableFuture[0]));
    }

    /**
     * Applies writes of one partition on its storage thread (the node's {@link WritePipeline}
     * shard), as the native request path does: mirroring streams a partition's changes in
     * commit order, which holds only while one thread commits them. Completes with the
     * per-write acknowledgements once applied; the connection waits for it before its next
     * command.
     */
    CompletableFuture<List<CompletableFuture<Message>>> onShard(RedisConnection c, int partition, List<RequestHandler.PreparedWrite> writes) {
        if (c != null) {
            c.unfinished = true;
        }
        CompletableFuture<List<CompletableFuture<Message>>> applied = new CompletableFuture<>();
        boolean queued = pipeline.submit(pipeline.shardOf(partition), () -> {
            try {
                applied.complete(handler.commit(writes));
            } catch (RuntimeException e) {
                applied.completeExceptionally(e);
            }
        });
        if (!queued) {
            applied.completeExceptionally(queueFull());
        }
        return applied;
    }

    private static FerryException queueFull() {
        return new FerryException(ErrorCode.RESOURCE_EXHAUSTED, "the storage write queue is full (write-queue-capacity)", null, false);
    }

    WritePipeline pipeline() {
        return pipeline;
    }

    static boolean notMaster(Throwable e) {
        ErrorCode code = RequestHandler.failure(e).code();
        return code == ErrorCode.NOT_MASTER || code == ErrorCode.UNAVAILABLE;
    }

    /** Forwarded writes carry a TTL in whole seconds (the native protocol's unit), rounded up. */
    private static long remoteTtl(long expiry) {
        if (expiry <= 0) {
            return expiry;
        }
        long ms = expiry - System.currentTimeMillis();
        return Math.max(1, (ms + 999) / 1000);
    }

    /**
     * Runs a read-modify-write until it wins against concurrent writers. A key mastered
     * here is read, decided and written in one job on its partition's storage thread,
     * where every write of the partition is committed (native ones too): no writer comes
     * between the read and the write, so a hot key (50 clients pushing to one list) does
     * not lose race after race. The write still carries the generation it read as the
     * expected one, so anything that does come between is caught and retried.
     */
    CompletableFuture<Reply> mutate(RedisConnection c, Key key, Mutation m) {
        return mutate(c, key, m, 1);
    }

    private CompletableFuture<Reply> mutate(RedisConnection c, Key key, Mutation m, int attempt) {
        return local(key.partition()) ? mutateOnShard(c, key, m, attempt) : mutateByReading(c, key, m, attempt);
    }

    /** What a read-modify-write decided on the storage thread, and its write's acknowledgement (null: nothing to write). */
    private record Decided(Step step, CompletableFuture<Message> ack) {}

    private CompletableFuture<Reply> mutateOnShard(RedisConnection c, Key key, Mutation m, int attempt) {
        int p = key.partition();
        c.unfinished = true;
        CompletableFuture<Decided> decided = new CompletableFuture<>();
        boolean queued = pipeline.submit(pipeline.shardOf(p), () -> {
            try {
                View current = View.of(store.get(key));
                Step step = m.apply(current);
                RequestHandler.PreparedWrite w = decidedWrite(c, key, current, step.change());
                decided.complete(new Decided(step, w == null ? null : handler.commit(List.of(w)).get(0)));
            } catch (RuntimeException e) {
                decided.completeExceptionally(e);
            }
        });
        if (!queued) {
            decided.completeExceptionally(queueFull());
        }
        return decided.thenCompose(d -> {
            if (d.ack() == null) {
                return CompletableFuture.completedFuture(d.step().reply());
            }
            return d.ack().handle((ack, e) -> {
                if (e == null) {
                    noteLocal(c, p, ack);
                    return CompletableFuture.completedFuture(d.step().reply());
                }
                // No longer master here: the other path reads and writes wherever the partition is now.
                return notMaster(e) ? mutateByReading(c, key, m, attempt) : retryOrFail(c, key, m, attempt, e);
            }).thenCompose(f -> f);
        });
    }

    /** The write a decision asks for against the record read (null: none), expecting the generation read. */
    private RequestHandler.PreparedWrite decidedWrite(RedisConnection c, Key key, View current, Change change) {
        if (change instanceof Put put) {
            WritePolicy policy = current == null
                    ? putPolicy(c, RecordExistsAction.CREATE_ONLY, 0, put.expiry())
                    : putPolicy(c, RecordExistsAction.REPLACE, current.generation(), put.expiry());
            return putWrite(key, put.bins(), policy, put.expiry());
        }
        if (change == null || current == null) {
            return null;
        }
        return new RequestHandler.PreparedWrite(new WriteOp.Delete(key, deletePolicy(c, current.generation())), ns);
    }

    private static void noteLocal(RedisConnection c, int partition, Message ack) {
        if (ack instanceof PutResponse put) {
            c.noteLocalWrite(partition, put.getAck().getLsn());
        } else if (ack instanceof DeleteResponse d && d.getExisted()) {
            c.noteLocalWrite(partition, d.getAck().getLsn());
        }
    }

    /** Reads where the record is (here or its master), decides, and writes with the generation read. */
    private CompletableFuture<Reply> mutateByReading(RedisConnection c, Key key, Mutation m, int attempt) {
        return read(c, key).thenCompose(current -> {
            Step step = m.apply(current);
            if (step.change() == null) {
                return CompletableFuture.completedFuture(step.reply());
            }
            CompletableFuture<?> write;
            if (step.change() instanceof Put put) {
                write = current == null
                        ? put(c, key, put.bins(), RecordExistsAction.CREATE_ONLY, 0, put.expiry())
                        : put(c, key, put.bins(), RecordExistsAction.REPLACE, current.generation(), put.expiry());
            } else if (current == null) {
                return CompletableFuture.completedFuture(step.reply());
            } else {
                write = delete(c, key, current.generation());
            }
            return write.handle((ok, e) -> e == null
                    ? CompletableFuture.completedFuture(step.reply())
                    : retryOrFail(c, key, m, attempt, e)).thenCompose(f -> f);
        });
    }

    /** After a refused write: starts over if another writer came first (up to the limit), else fails with the refusal. */
    private CompletableFuture<Reply> retryOrFail(RedisConnection c, Key key, Mutation m, int attempt, Throwable e) {
        FerryException fe = RequestHandler.failure(e);
        boolean lostRace = fe.code() == ErrorCode.ALREADY_EXISTS || fe.code() == ErrorCode.FAILED_PRECONDITION;
        if (lostRace && attempt < MUTATE_ATTEMPTS_MAX) {
            metrics.casRetries.increment();
            return mutate(c, key, m, attempt + 1);
        }
        return CompletableFuture.failedFuture(fe);
    }

    // ---- scans ----

    /** A key and its record, as a scan found it. */
    record Entry(String set, byte[] key, View view) {}

    /**
     * Visits the live records of one set in partitions [from, to): partitions this node
     * masters from the store, the others through the routing client (one scan per
     * master). Runs on the scan executor, never on an event loop.
     */
    CompletableFuture<List<Entry>> scan(String set, int from, int to) {
        return CompletableFuture.supplyAsync(() -> scanNow(set, from, to), scanExecutor);
    }

    List<Entry> scanNow(String set, int from, int to) {
        List<Entry> out = new ArrayList<>();
        boolean[] remoteParts = new boolean[Limits.PARTITION_COUNT];
        int remoteCount = 0;
        for (int p = from; p < to; p++) {
            if (local(p)) {
                store.scan(ns.name(), p, set, (StoredRecord r) -> out.add(new Entry(r.set(), r.keyBytes(), View.of(r))));
            } else {
                remoteParts[p] = true;
                remoteCount++;
            }
        }
        if (remoteCount > 0) {
            metrics.forwarded.increment();
            remote.get().scan(new ScanOptions(ns.name(), set, from, to, List.of(), 0, false), new io.ferrydb.client.ScanListener() {
                @Override
                public boolean onRecord(Record r) {
                    if (remoteParts[r.key().partition()]) {
                        out.add(new Entry(r.key().set(), r.key().userKeyBytes(), View.of(r)));
                    }
                    return true;
                }
            });
        }
        return out;
    }
}
