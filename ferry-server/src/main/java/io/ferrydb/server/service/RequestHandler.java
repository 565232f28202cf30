package io.ferrydb.server.service;

import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.api.WritePolicy;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.core.record.BinValidator;
import io.ferrydb.core.record.StoredRecord;
import io.ferrydb.core.store.RecordStore;
import io.ferrydb.core.store.WriteOp;
import io.ferrydb.core.store.WriteOutcome;
import com.google.protobuf.Message;
import io.ferrydb.proto.Bin;
import io.ferrydb.proto.Convert;
import io.ferrydb.proto.DeleteRequest;
import io.ferrydb.proto.DeleteResponse;
import io.ferrydb.proto.ExistsRequest;
import io.ferrydb.proto.ExistsResponse;
import io.ferrydb.proto.GetRequest;
import io.ferrydb.proto.GetResponse;
import io.ferrydb.proto.PutRequest;
import io.ferrydb.proto.PutResponse;
import io.ferrydb.proto.Record;
import io.ferrydb.proto.WriteAck;
import io.ferrydb.server.storage.GroupCommitter;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Decodes and validates requests, runs them against the record store and waits for
 * durability as the write asks. Shared by the unary RPCs, batches and the pipelined
 * session, so every path validates and answers the same way. Failures are
 * {@link FerryException}s whose message names the field.
 */
public final class RequestHandler {
    /** Writes per storage batch when a message carries many. */
    static final int COMMIT_CHUNK = 16;

    private final RecordStore store;
    private final GroupCommitter committer;
    private volatile PartitionGate gate = PartitionGate.OPEN;
    private volatile io.ferrydb.server.mirror.Replication replication;

    public RequestHandler(RecordStore store, GroupCommitter committer) {
        this.store = store;
        this.committer = committer;
    }

    /** Streams every write to the partition's mirrors and holds its acknowledgement to its commit level. */
    public void replication(io.ferrydb.server.mirror.Replication replication) {
        this.replication = replication;
    }

    /** Sets who may be served; checked when each request executes, on the storage thread. */
    public void gate(PartitionGate gate) {
        this.gate = gate;
    }

    /** Throws NOT_MASTER (or UNAVAILABLE) unless this node may serve the key's partition now. */
    public void admit(Key key) {
        gate.admit(key.namespace(), key.partition());
    }

    public void admit(String namespace, int partition) {
        gate.admit(namespace, partition);
    }

    public RecordStore store() {
        return store;
    }

    /** A decoded and validated put or delete, ready to be applied with others in one batch. */
    public record PreparedWrite(WriteOp op, NamespaceConfig ns) {
        boolean isDelete() {
            return op instanceof WriteOp.Delete;
        }
    }

    public PreparedWrite preparePut(PutRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
        NamespaceConfig ns = store.namespace("key.namespace", key.namespace());
        List<BinValidator.NamedValue> bins = new ArrayList<>(req.getBinsCount());
        for (int i = 0; i < req.getBinsCount(); i++) {
            Bin b = req.getBins(i);
            if (!b.hasValue()) {
                throw FerryException.invalid("bins[%d].value is not set", i);
            }
            bins.add(new BinValidator.NamedValue(b.getName(), Convert.fromProto("bins", i, ".value", b.getValue())));
        }
        // Bin names, count and nesting are checked once, by RecordStore.writeAll.
        return new PreparedWrite(new WriteOp.Put(key, bins, Convert.fromProto("policy", req.getPolicy())), ns);
    }

    public PreparedWrite prepareDelete(DeleteRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
        NamespaceConfig ns = store.namespace("key.namespace", key.namespace());
        return new PreparedWrite(new WriteOp.Delete(key, Convert.fromProto("policy", req.getPolicy())), ns);
    }

    /**
     * Applies the writes in order as one storage batch and answers each: a
     * {@link PutResponse} or {@link DeleteResponse}, or a failure carrying its status.
     * SYNC writes of the batch share one wait for fsync.
     */
    public List<CompletableFuture<Message>> commit(List<PreparedWrite> writes) {
        if (writes.size() <= COMMIT_CHUNK) {
            return commitChunk(writes);
        }
        // Chunks pipeline storage and fsync: the group-commit thread syncs one chunk
        // while this thread writes the next, instead of one fsync after all of them.
        List<CompletableFuture<Message>> out = new ArrayList<>(writes.size());
        for (int from = 0; from < writes.size(); from += COMMIT_CHUNK) {
            out.addAll(commitChunk(writes.subList(from, Math.min(writes.size(), from + COMMIT_CHUNK))));
        }
        return out;
    }

    private List<CompletableFuture<Message>> commitChunk(List<PreparedWrite> writes) {
        List<WriteOp> ops = new ArrayList<>(writes.size());
        FerryException[] refused = null;
        for (int i = 0; i < writes.size(); i++) {
            PreparedWrite w = writes.get(i);
            try {
                admit(w.op().key());
                ops.add(w.op());
            } catch (FerryException e) {
                if (refused == null) {
                    refused = new FerryException[writes.size()];
                }
                refused[i] = e;
            }
        }
        io.ferrydb.server.mirror.Replication mirroring = replication;
        List<PreparedWrite> admitted = new ArrayList<>(ops.size());
        for (int i = 0; i < writes.size(); i++) {
            if (refused == null || refused[i] == null) {
                admitted.add(writes.get(i));
            }
        }
        io.ferrydb.server.mirror.Replication.Registered[] registered = new io.ferrydb.server.mirror.Replication.Registered[ops.size()];
        // Written changes go to the replicators under the partitions' locks: in LSN order.
        List<WriteOutcome> outcomes = ops.isEmpty() ? List.of() : store.writeAll(ops, mirroring == null ? null : written -> {
            for (int j = 0; j < written.size(); j++) {
                if (written.get(j) instanceof WriteOutcome.Written logged) {
                    PreparedWrite w = admitted.get(j);
                    WritePolicy policy = w.op().policy();
                    registered[j] = mirroring.register(w.ns().name(), w.op().key().partition(), logged.entry(),
                            policy.commitLevel() != null ? policy.commitLevel() : w.ns().defaultCommitLevel(),
                            policy.durability() != null ? policy.durability() : w.ns().defaultDurability());
                }
            }
        });
        List<CompletableFuture<Message>> out = new ArrayList<>(writes.size());
        CompletableFuture<Void> durable = null;
        boolean asyncWritten = false;
        int next = 0;
        for (int i = 0; i < writes.size(); i++) {
            PreparedWrite w = writes.get(i);
            if (refused != null && refused[i] != null) {
                out.add(CompletableFuture.failedFuture(refused[i]));
                continue;
            }
            io.ferrydb.server.mirror.Replication.Registered reg = ops.isEmpty() ? null : registered[next];
            WriteOutcome outcome = outcomes.get(next++);
            if (outcome instanceof WriteOutcome.Refused r) {
                out.add(CompletableFuture.failedFuture(new FerryException(r.code(), r.message(), null, false)));
                continue;
            }
            Message resp;
            if (outcome instanceof WriteOutcome.Written written) {
                resp = w.isDelete()
                        ? DeleteResponse.newBuilder().setExisted(true).setAck(ack(written)).build()
                        : PutResponse.newBuilder().setAck(ack(written)).build();
            } else {
                out.add(CompletableFuture.completedFuture(DeleteResponse.newBuilder().setExisted(false).build()));
                continue;
            }
            WritePolicy policy = w.op().policy();
            Durability d = policy.durability() != null ? policy.durability() : w.ns().defaultDurability();
            if (reg != null && outcome instanceof WriteOutcome.Written logged) {
                String ns = w.ns().name();
                int p = w.op().key().partition();
                mirroring.afterRegister(reg);
                CompletableFuture<Void> mirrored = reg.future();
                if (d == Durability.SYNC) {
                    if (durable == null) {
                        durable = committer.awaitDurable();
                    }
                    long lsn = logged.lsn();
                    durable.thenRun(() -> mirroring.localDurable(ns, p, lsn));
                } else {
                    asyncWritten = true;
                }
                Message answer = resp;
                out.add(mirrored.thenApply(v -> answer));
                continue;
            }
            if (d == Durability.ASYNC) {
                asyncWritten = true;
                out.add(CompletableFuture.completedFuture(resp));
            } else {
                // Ack only after fsync, so a crash cannot lose an acknowledged SYNC write.
                if (durable == null) {
                    durable = committer.awaitDurable();
                }
                out.add(durable.thenApply(v -> resp));
            }
        }
        if (asyncWritten) {
            committer.asyncWritten();
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    public CompletableFuture<PutResponse> put(PutRequest req) {
        return (CompletableFuture<PutResponse>) (CompletableFuture<?>) commit(List.of(preparePut(req))).get(0);
    }

    @SuppressWarnings("unchecked")
    public CompletableFuture<DeleteResponse> delete(DeleteRequest req) {
        return (CompletableFuture<DeleteResponse>) (CompletableFuture<?>) commit(List.of(prepareDelete(req))).get(0);
    }

    public GetResponse get(GetRequest req) {
        requireKey(req.hasKey());
        return get(Convert.fromProto("key", req.getKey()), req, true);
    }

    /**
     * A get whose key was already decoded and validated. The pipelined session leaves
     * the key out of the answer: the client matches answers by id and holds the key.
     */
    public GetResponse get(Key key, GetRequest req, boolean includeKey) {
        Set<String> wanted = projection("bins", req.getBinsList());
        admit(key);
        StoredRecord r = store.get(key);
        if (r == null) {
            throw new FerryException(ErrorCode.NOT_FOUND, "record " + key + " not found", null, false);
        }
        return GetResponse.newBuilder().setRecord(toProto(includeKey ? key : null, r, wanted, req.getMetadataOnly())).build();
    }

    public ExistsResponse exists(ExistsRequest req) {
        requireKey(req.hasKey());
        return exists(Convert.fromProto("key", req.getKey()));
    }

    /** An exists whose key was already decoded and validated. */
    public ExistsResponse exists(Key key) {
        admit(key);
        StoredRecord r = store.get(key);
        return ExistsResponse.newBuilder().setExists(r != null).setGeneration(r == null ? 0 : r.generation()).build();
    }

    /** Validated bin names of a projection; null means all bins. */
    public static Set<String> projection(String field, List<String> names) {
        if (names.isEmpty()) {
            return null;
        }
        Set<String> out = new HashSet<>();
        for (int i = 0; i < names.size(); i++) {
            io.ferrydb.api.Names.checkBin(field + "[" + i + "]", names.get(i));
            out.add(names.get(i));
        }
        return out;
    }

    public static Record toProto(Key key, StoredRecord r, Set<String> wanted, boolean metadataOnly) {
        Record.Builder b = Record.newBuilder().setGeneration(r.generation())
                .setLastUpdateHlc(r.lastUpdateHlc()).setExpiresAtMs(r.expiresAtMs()).setOriginCluster(r.originCluster());
        if (key != null) {
            b.setKey(Convert.toProto(key));
        }
        if (!metadataOnly) {
            for (Map.Entry<String, Value> e : r.bins().entrySet()) {
                if (wanted == null || wanted.contains(e.getKey())) {
                    b.addBins(Convert.bin(e.getKey(), e.getValue()));
                }
            }
        }
        return b.build();
    }

    /** Called after a bulk load with the namespace, the partitions loaded, their boundary LSNs and the record count. */
    public interface BulkLoadListener {
        void loaded(String namespace, List<Integer> partitions, List<Long> boundaryLsns, long records);
    }

    private volatile BulkLoadListener bulkLoadListener = (ns, ps, lsns, n) -> { };

    public void onBulkLoad(BulkLoadListener listener) {
        this.bulkLoadListener = listener;
    }

    private final java.util.concurrent.atomic.AtomicLong bulkLoads = new java.util.concurrent.atomic.AtomicLong(System.nanoTime());

    /**
     * A bulk load of records this node masters: validated as a whole (an error names the
     * record), then per partition ingested without log entries on this node and handed
     * to the partition's mirrors (RecordStore.ingestBulk), with one BULK_LOAD entry as the
     * boundary, acknowledged when that entry is durable here and on every IN_SYNC mirror.
     * A key given twice keeps its last record; every loaded record is new (generation 1).
     */
    public CompletableFuture<io.ferrydb.proto.BulkLoadResponse> bulkLoad(io.ferrydb.proto.BulkLoadRequest req) {
        if (req.getRecordsCount() == 0) {
            throw FerryException.invalid("records is empty");
        }
        String ns = null;
        java.util.TreeMap<Integer, List<RecordStore.BulkRecord>> byPartition = new java.util.TreeMap<>();
        for (int i = 0; i < req.getRecordsCount(); i++) {
            io.ferrydb.proto.BulkRecord r = req.getRecords(i);
            if (!r.hasKey()) {
                throw FerryException.invalid("records[%d].key is not set", i);
            }
            Key key = Convert.fromProto("records[" + i + "].key", r.getKey());
            store.namespace("records[" + i + "].key.namespace", key.namespace());
            if (ns == null) {
                ns = key.namespace();
            } else if (!ns.equals(key.namespace())) {
                throw FerryException.invalid("records[%d].key.namespace is %s but the load is of namespace %s", i, key.namespace(), ns);
            }
            List<BinValidator.NamedValue> bins = new ArrayList<>(r.getBinsCount());
            for (int j = 0; j < r.getBinsCount(); j++) {
                Bin b = r.getBins(j);
                if (!b.hasValue()) {
                    throw FerryException.invalid("records[%d].bins[%d].value is not set", i, j);
                }
                bins.add(new BinValidator.NamedValue(b.getName(), Convert.fromProto("records[" + i + "].bins", j, ".value", b.getValue())));
            }
            BinValidator.check("records[" + i + "].bins", bins);
            byPartition.computeIfAbsent(key.partition(), x -> new ArrayList<>()).add(new RecordStore.BulkRecord(key, bins));
        }
        for (int p : byPartition.keySet()) {
            admit(ns, p);
        }
        List<RecordStore.BulkPlan> plans = new ArrayList<>();
        for (Map.Entry<Integer, List<RecordStore.BulkRecord>> e : byPartition.entrySet()) {
            plans.add(store.planBulk(ns, e.getKey(), bulkLoads.incrementAndGet(), e.getValue()));
        }
        io.ferrydb.server.mirror.Replication mirroring = replication;
        List<CompletableFuture<Void>> done = new ArrayList<>();
        List<Integer> partitions = new ArrayList<>();
        List<Long> boundaries = new ArrayList<>();
        long loaded = 0;
        for (RecordStore.BulkPlan plan : plans) {
            io.ferrydb.server.mirror.Replication.Registered[] reg = new io.ferrydb.server.mirror.Replication.Registered[1];
            io.ferrydb.core.log.LogEntry marker = store.ingestBulk(plan,
                    () -> {
                        if (mirroring != null) {
                            mirroring.beforeBulk(plan);
                        }
                    },
                    e -> reg[0] = mirroring == null ? null
                            : mirroring.register(plan.namespace(), plan.partition(), e, io.ferrydb.api.CommitLevel.ALL, Durability.SYNC));
            partitions.add(plan.partition());
            boundaries.add(marker.lsn());
            loaded += plan.keyValues().size();
            if (reg[0] != null) {
                mirroring.afterRegister(reg[0]);
                done.add(reg[0].future());
            }
        }
        // The BULK_LOAD entries are durable with the next fsync (the records already are: ingested files are synced).
        CompletableFuture<Void> durable = committer.awaitDurable();
        for (int i = 0; i < partitions.size(); i++) {
            int p = partitions.get(i);
            long lsn = boundaries.get(i);
            if (mirroring != null) {
                String n = ns;
                durable.thenRun(() -> mirroring.localDurable(n, p, lsn));
            }
        }
        done.add(durable);
        long records = loaded;
        String namespace = ns;
        return CompletableFuture.allOf(done.toArray(new CompletableFuture[0])).thenApply(v -> {
            bulkLoadListener.loaded(namespace, partitions, boundaries, records);
            return io.ferrydb.proto.BulkLoadResponse.newBuilder().setLoaded(records).setPartitions(partitions.size())
                    .addAllBoundaryLsn(boundaries).build();
        });
    }

    private static void requireKey(boolean present) {
        if (!present) {
            throw FerryException.invalid("key is not set");
        }
    }

    private static WriteAck ack(WriteOutcome.Written w) {
        return WriteAck.newBuilder().setEpoch(w.epoch()).setLsn(w.lsn()).setGeneration(w.generation()).setHlc(w.hlc()).build();
    }

    /** Maps any failure to a FerryException; unexpected ones become INTERNAL. */
    public static FerryException failure(Throwable t) {
        Throwable c = t;
        while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) {
            c = c.getCause();
        }
        if (c instanceof FerryException fe) {
            return fe;
        }
        return new FerryException(ErrorCode.INTERNAL, "internal error: " + c, c);
    }
}
