package io.ferrydb.redis;

import com.google.protobuf.Message;
import io.ferrydb.api.Key;
import io.ferrydb.api.RecordExistsAction;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.store.WriteOp;
import io.ferrydb.proto.PutResponse;
import io.ferrydb.redis.RedisValues.View;
import io.ferrydb.server.service.RequestHandler;
import io.ferrydb.server.service.WritePipeline;
import io.netty.channel.EventLoop;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The plain SETs (and the GETs pipelined behind them) that one event loop's connections
 * sent during one pass over their sockets, applied together at the end of the pass: one
 * job per storage shard, whose writes are one {@link RequestHandler#commit} (storage
 * batches of 16 instead of one per SET), in arrival order, a read after the writes
 * before it. Why: a SET is a RocksDB
 * write batch of data and log; batching them is what the native pipelined session does
 * too, and with 50 connections on two event loops a pass holds many of them even when
 * each client has one command in flight. Collected on its event loop only, like the
 * connections that feed it; applied on the event loop when the shard's storage thread
 * is idle, else on that thread ({@link WritePipeline#runIfIdle}).
 */
final class LoopBatch implements Runnable {
    private final EventLoop loop;
    private final Keyspace ks;
    private List<Op> ops = new ArrayList<>();
    private boolean scheduled;

    private record Op(RedisConnection c, Key key, byte[] value, CompletableFuture<Reply> reply) {}

    LoopBatch(EventLoop loop, Keyspace ks) {
        this.loop = loop;
        this.ks = ks;
    }

    /** A plain SET of a key this node masters; answered when the batch has run and the write is acknowledged. */
    CompletableFuture<Reply> set(RedisConnection c, Key key, byte[] value) {
        return add(new Op(c, key, value, new CompletableFuture<>()));
    }

    /** A GET behind a batched SET of its connection: it must see that write. */
    CompletableFuture<Reply> get(RedisConnection c, Key key) {
        return add(new Op(c, key, null, new CompletableFuture<>()));
    }

    private CompletableFuture<Reply> add(Op op) {
        ops.add(op);
        if (!scheduled) {
            scheduled = true;
            // Tasks run after the loop's pass over ready sockets: every command read in this pass joins the batch.
            loop.execute(this);
        }
        return op.reply();
    }

    @Override
    public void run() {
        scheduled = false;
        List<Op> batch = ops;
        ops = new ArrayList<>();
        // What the shards committed here sends once at the end: one mirror message per
        // node for the whole pass, not one per shard.
        io.ferrydb.proto.FlushScope.run(() -> apply(batch));
    }

    private void apply(List<Op> batch) {
        WritePipeline pipeline = ks.pipeline();
        List<List<Op>> byShard = new ArrayList<>();
        for (int i = 0; i < pipeline.shards(); i++) {
            byShard.add(new ArrayList<>());
        }
        for (Op op : batch) {
            byShard.get(pipeline.shardOf(op.key().partition())).add(op);
        }
        // Never commit on the event loop while the store stalls writers: it would stop every connection of the loop.
        boolean inline = !ks.store().storage().writesThrottled();
        for (int shard = 0; shard < byShard.size(); shard++) {
            List<Op> shardOps = byShard.get(shard);
            if (shardOps.isEmpty()) {
                continue;
            }
            // A shard's writes are committed by its storage thread, or here when that thread is idle (mirroring needs commit order).
            Runnable job = () -> RedisConnection.gatherWakeups(() -> runOps(shardOps));
            if (!(inline && pipeline.runIfIdle(shard, job)) && !pipeline.submit(shard, job)) {
                for (Op op : shardOps) {
                    op.reply().complete(Reply.error("ERR RESOURCE_EXHAUSTED: the storage write queue is full (write-queue-capacity)"));
                }
            }
        }
    }

    /** On a storage thread: consecutive writes as one commit, a read after the writes before it. */
    private void runOps(List<Op> batch) {
        List<Op> writes = new ArrayList<>();
        for (Op op : batch) {
            if (op.value() != null) {
                writes.add(op);
            } else {
                commit(writes);
                read(op);
            }
        }
        commit(writes);
    }

    private void read(Op op) {
        try {
            View v = View.of(ks.store().get(op.key()));
            op.reply().complete(new Reply.Bulk(v == null ? null : v.string()));
        } catch (RuntimeException e) {
            op.reply().complete(RedisConnection.errorReply(e));
        }
    }

    private void commit(List<Op> writes) {
        if (writes.isEmpty()) {
            return;
        }
        List<RequestHandler.PreparedWrite> prepared = new ArrayList<>(writes.size());
        for (Op op : writes) {
            WritePolicy policy = new WritePolicy(RecordExistsAction.REPLACE, 0, op.c().durability, op.c().commitLevel,
                    Keyspace.EXPIRY_NEVER);
            prepared.add(new RequestHandler.PreparedWrite(new WriteOp.Put(op.key(), RedisValues.stringBins(op.value()), policy),
                    ks.namespaceConfig()));
        }
        List<CompletableFuture<Message>> done;
        try {
            done = ks.handler().commit(prepared);
        } catch (RuntimeException e) {
            for (Op op : writes) {
                op.reply().complete(RedisConnection.errorReply(e));
            }
            writes.clear();
            return;
        }
        for (int i = 0; i < writes.size(); i++) {
            Op op = writes.get(i);
            int partition = op.key().partition();
            done.get(i).whenComplete((m, e) -> {
                if (e != null && Keyspace.notMaster(e)) {
                    // Mastership moved between the check and the write: forward it like any other.
                    ks.put(op.c(), op.key(), RedisValues.stringBins(op.value()), RecordExistsAction.REPLACE, 0, Keyspace.EXPIRY_NEVER)
                            .handle((v, f) -> op.reply().complete(f == null ? Reply.OK : RedisConnection.errorReply(f)));
                } else if (e != null) {
                    op.reply().complete(RedisConnection.errorReply(e));
                } else {
                    op.c().noteLocalWrite(partition, ((PutResponse) m).getAck().getLsn());
                    op.reply().complete(Reply.OK);
                }
            });
        }
        writes.clear();
    }
}
