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
import io.ferrydb.core.store.WriteOutcome;
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
    private final RecordStore store;
    private final GroupCommitter committer;

    public RequestHandler(RecordStore store, GroupCommitter committer) {
        this.store = store;
        this.committer = committer;
    }

    public RecordStore store() {
        return store;
    }

    public CompletableFuture<PutResponse> put(PutRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
        NamespaceConfig ns = store.namespace("key.namespace", key.namespace());
        List<BinValidator.NamedValue> bins = new ArrayList<>(req.getBinsCount());
        for (int i = 0; i < req.getBinsCount(); i++) {
            Bin b = req.getBins(i);
            if (!b.hasValue()) {
                throw FerryException.invalid("bins[%d].value is not set", i);
            }
            bins.add(new BinValidator.NamedValue(b.getName(), Convert.fromProto("bins[" + i + "].value", b.getValue())));
        }
        WritePolicy policy = Convert.fromProto("policy", req.getPolicy());
        WriteOutcome outcome = store.put(key, bins, policy);
        WriteOutcome.Written w = written(outcome);
        PutResponse resp = PutResponse.newBuilder().setAck(ack(w)).build();
        return durable(ns, policy, resp);
    }

    public CompletableFuture<DeleteResponse> delete(DeleteRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
        NamespaceConfig ns = store.namespace("key.namespace", key.namespace());
        WritePolicy policy = Convert.fromProto("policy", req.getPolicy());
        WriteOutcome outcome = store.delete(key, policy);
        if (outcome instanceof WriteOutcome.Absent) {
            return CompletableFuture.completedFuture(DeleteResponse.newBuilder().setExisted(false).build());
        }
        WriteOutcome.Written w = written(outcome);
        return durable(ns, policy, DeleteResponse.newBuilder().setExisted(true).setAck(ack(w)).build());
    }

    public GetResponse get(GetRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
        Set<String> wanted = projection("bins", req.getBinsList());
        StoredRecord r = store.get(key);
        if (r == null) {
            throw new FerryException(ErrorCode.NOT_FOUND, "record " + key + " not found", null, false);
        }
        return GetResponse.newBuilder().setRecord(toProto(key, r, wanted, req.getMetadataOnly())).build();
    }

    public ExistsResponse exists(ExistsRequest req) {
        requireKey(req.hasKey());
        Key key = Convert.fromProto("key", req.getKey());
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
        Record.Builder b = Record.newBuilder().setKey(Convert.toProto(key)).setGeneration(r.generation())
                .setLastUpdateHlc(r.lastUpdateHlc()).setExpiresAtMs(r.expiresAtMs()).setOriginCluster(r.originCluster());
        if (!metadataOnly) {
            for (Map.Entry<String, Value> e : r.bins().entrySet()) {
                if (wanted == null || wanted.contains(e.getKey())) {
                    b.addBins(Convert.bin(e.getKey(), e.getValue()));
                }
            }
        }
        return b.build();
    }

    private static void requireKey(boolean present) {
        if (!present) {
            throw FerryException.invalid("key is not set");
        }
    }

    private static WriteOutcome.Written written(WriteOutcome outcome) {
        if (outcome instanceof WriteOutcome.Refused r) {
            throw new FerryException(r.code(), r.message(), null, false);
        }
        return (WriteOutcome.Written) outcome;
    }

    private static WriteAck ack(WriteOutcome.Written w) {
        return WriteAck.newBuilder().setEpoch(w.epoch()).setLsn(w.lsn()).setGeneration(w.generation()).setHlc(w.hlc()).build();
    }

    private <T> CompletableFuture<T> durable(NamespaceConfig ns, WritePolicy policy, T response) {
        Durability d = policy.durability() != null ? policy.durability() : ns.defaultDurability();
        if (d == Durability.ASYNC) {
            committer.asyncWritten();
            return CompletableFuture.completedFuture(response);
        }
        // Ack only after fsync, so a crash cannot lose an acknowledged SYNC write.
        return committer.awaitDurable().thenApply(v -> response);
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
