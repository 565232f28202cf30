package io.ferrydb.proto;

import com.google.protobuf.ByteString;
import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.RecordExistsAction;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conversions between the public API types and the wire messages. Decoding names
 * the offending field in every error, e.g. {@code bins[1].value is not set}.
 */
public final class Convert {
    private Convert() {}

    // ---- keys ----

    public static Key toProto(io.ferrydb.api.Key k) {
        Key.Builder b = Key.newBuilder().setNamespace(k.namespace()).setSet(k.set());
        switch (k.type()) {
            case STRING -> b.setStr((String) k.userKey());
            case LONG -> b.setLong((Long) k.userKey());
            case BYTES -> b.setBytes(ByteString.copyFrom((byte[]) k.userKey()));
        }
        return b.build();
    }

    public static io.ferrydb.api.Key fromProto(String field, Key k) {
        io.ferrydb.api.Key key = switch (k.getUserKeyCase()) {
            case STR -> io.ferrydb.api.Key.of(k.getNamespace(), k.getSet(), k.getStr());
            case LONG -> io.ferrydb.api.Key.of(k.getNamespace(), k.getSet(), k.getLong());
            case BYTES -> io.ferrydb.api.Key.of(k.getNamespace(), k.getSet(), k.getBytes().toByteArray());
            case USERKEY_NOT_SET -> throw FerryException.invalid("%s.user_key is not set (str, long or bytes)", field);
        };
        return key.validate(field);
    }

    // ---- values ----

    public static Value toProto(io.ferrydb.api.Value v) {
        Value.Builder b = Value.newBuilder();
        if (v instanceof io.ferrydb.api.Value.IntValue i) {
            b.setInt(i.value());
        } else if (v instanceof io.ferrydb.api.Value.FloatValue f) {
            b.setFloat(f.value());
        } else if (v instanceof io.ferrydb.api.Value.StringValue s) {
            b.setStr(s.value());
        } else if (v instanceof io.ferrydb.api.Value.BytesValue by) {
            b.setBytes(ByteString.copyFrom(by.unsafeBytes()));
        } else if (v instanceof io.ferrydb.api.Value.BoolValue bo) {
            b.setBool(bo.value());
        } else if (v instanceof io.ferrydb.api.Value.ListValue l) {
            ListValue.Builder lb = ListValue.newBuilder();
            for (io.ferrydb.api.Value item : l.items()) {
                lb.addItems(toProto(item));
            }
            b.setList(lb);
        } else if (v instanceof io.ferrydb.api.Value.MapValue m) {
            MapValue.Builder mb = MapValue.newBuilder();
            for (Map.Entry<io.ferrydb.api.Value, io.ferrydb.api.Value> e : m.entries().entrySet()) {
                mb.addEntries(MapEntry.newBuilder().setKey(toProto(e.getKey())).setValue(toProto(e.getValue())));
            }
            b.setMap(mb);
        }
        return b.build();
    }

    /**
     * Decodes a value. The happy path builds no field-name strings; only a malformed
     * value is decoded again to name the exact field in the error.
     */
    public static io.ferrydb.api.Value fromProto(String field, Value v) {
        try {
            return decode(v);
        } catch (Malformed e) {
            return fromProtoNamingFields(field, v);
        }
    }

    /** Like {@link #fromProto(String, Value)} for {@code prefix[index]suffix}, naming it only on error. */
    public static io.ferrydb.api.Value fromProto(String prefix, int index, String suffix, Value v) {
        try {
            return decode(v);
        } catch (Malformed e) {
            return fromProtoNamingFields(prefix + "[" + index + "]" + suffix, v);
        }
    }

    /** Thrown by the fast path on an unset value; carries no stack trace. */
    private static final class Malformed extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Malformed INSTANCE = new Malformed();

        private Malformed() {
            super(null, null, false, false);
        }
    }

    private static io.ferrydb.api.Value decode(Value v) {
        switch (v.getKindCase()) {
            case INT:
                return io.ferrydb.api.Value.of(v.getInt());
            case FLOAT:
                return io.ferrydb.api.Value.of(v.getFloat());
            case STR:
                return io.ferrydb.api.Value.of(v.getStr());
            case BYTES:
                return io.ferrydb.api.Value.of(v.getBytes().toByteArray());
            case BOOL:
                return io.ferrydb.api.Value.of(v.getBool());
            case LIST: {
                List<io.ferrydb.api.Value> items = new ArrayList<>(v.getList().getItemsCount());
                for (Value item : v.getList().getItemsList()) {
                    items.add(decode(item));
                }
                return io.ferrydb.api.Value.of(items);
            }
            case MAP: {
                Map<io.ferrydb.api.Value, io.ferrydb.api.Value> m = new LinkedHashMap<>();
                for (MapEntry e : v.getMap().getEntriesList()) {
                    if (!e.hasKey() || !e.hasValue()) {
                        throw Malformed.INSTANCE;
                    }
                    m.put(decode(e.getKey()), decode(e.getValue()));
                }
                return io.ferrydb.api.Value.of(m);
            }
            default:
                throw Malformed.INSTANCE;
        }
    }

    private static io.ferrydb.api.Value fromProtoNamingFields(String field, Value v) {
        return switch (v.getKindCase()) {
            case INT -> io.ferrydb.api.Value.of(v.getInt());
            case FLOAT -> io.ferrydb.api.Value.of(v.getFloat());
            case STR -> io.ferrydb.api.Value.of(v.getStr());
            case BYTES -> io.ferrydb.api.Value.of(v.getBytes().toByteArray());
            case BOOL -> io.ferrydb.api.Value.of(v.getBool());
            case LIST -> {
                List<io.ferrydb.api.Value> items = new ArrayList<>(v.getList().getItemsCount());
                for (int i = 0; i < v.getList().getItemsCount(); i++) {
                    items.add(fromProtoNamingFields(field + "[" + i + "]", v.getList().getItems(i)));
                }
                yield io.ferrydb.api.Value.of(items);
            }
            case MAP -> {
                Map<io.ferrydb.api.Value, io.ferrydb.api.Value> m = new LinkedHashMap<>();
                for (int i = 0; i < v.getMap().getEntriesCount(); i++) {
                    MapEntry e = v.getMap().getEntries(i);
                    if (!e.hasKey()) {
                        throw FerryException.invalid("%s.entries[%d].key is not set", field, i);
                    }
                    if (!e.hasValue()) {
                        throw FerryException.invalid("%s.entries[%d].value is not set", field, i);
                    }
                    m.put(fromProtoNamingFields(field + ".entries[" + i + "].key", e.getKey()),
                            fromProtoNamingFields(field + ".entries[" + i + "].value", e.getValue()));
                }
                yield io.ferrydb.api.Value.of(m);
            }
            case KIND_NOT_SET -> throw FerryException.invalid("%s is not set", field);
        };
    }

    public static Bin bin(String name, io.ferrydb.api.Value v) {
        return Bin.newBuilder().setName(name).setValue(toProto(v)).build();
    }

    // ---- records ----

    public static io.ferrydb.api.Record fromProto(Record r) {
        return fromProto(r.hasKey() ? fromProto("record.key", r.getKey()) : null, r);
    }

    /** A record answered for a key the caller already holds (the answer need not repeat it). */
    public static io.ferrydb.api.Record fromProto(io.ferrydb.api.Key key, Record r) {
        Map<String, io.ferrydb.api.Value> bins = new LinkedHashMap<>();
        for (Bin b : r.getBinsList()) {
            bins.put(b.getName(), fromProto("bins", b.getValue()));
        }
        return new io.ferrydb.api.Record(key, bins, r.getGeneration(), r.getLastUpdateHlc(), r.getExpiresAtMs(), r.getOriginCluster());
    }

    // ---- policies ----

    public static WritePolicy toProto(io.ferrydb.api.WritePolicy p) {
        WritePolicy.Builder b = WritePolicy.newBuilder()
                .setExists(RecordExists.forNumber(p.exists().ordinal()))
                .setExpectedGeneration(p.expectedGeneration())
                .setTtlSeconds(p.ttlSeconds());
        if (p.durability() != null) {
            b.setDurability(p.durability() == Durability.SYNC ? io.ferrydb.proto.Durability.SYNC : io.ferrydb.proto.Durability.ASYNC);
        }
        if (p.commitLevel() != null) {
            b.setCommitLevel(p.commitLevel() == CommitLevel.MASTER ? io.ferrydb.proto.CommitLevel.MASTER : io.ferrydb.proto.CommitLevel.ALL);
        }
        return b.build();
    }

    public static io.ferrydb.api.WritePolicy fromProto(String field, WritePolicy p) {
        RecordExistsAction exists = switch (p.getExists()) {
            case UPSERT -> RecordExistsAction.UPSERT;
            case CREATE_ONLY -> RecordExistsAction.CREATE_ONLY;
            case UPDATE_ONLY -> RecordExistsAction.UPDATE_ONLY;
            case REPLACE -> RecordExistsAction.REPLACE;
            case REPLACE_ONLY -> RecordExistsAction.REPLACE_ONLY;
            case UNRECOGNIZED -> throw FerryException.invalid("%s.exists has unknown value %d", field, p.getExistsValue());
        };
        Durability durability = switch (p.getDurability()) {
            case DURABILITY_DEFAULT -> null;
            case SYNC -> Durability.SYNC;
            case ASYNC -> Durability.ASYNC;
            case UNRECOGNIZED -> throw FerryException.invalid("%s.durability has unknown value %d", field, p.getDurabilityValue());
        };
        CommitLevel commit = switch (p.getCommitLevel()) {
            case COMMIT_LEVEL_DEFAULT -> null;
            case MASTER -> CommitLevel.MASTER;
            case ALL -> CommitLevel.ALL;
            case UNRECOGNIZED -> throw FerryException.invalid("%s.commit_level has unknown value %d", field, p.getCommitLevelValue());
        };
        if (p.getExpectedGeneration() < 0) { // uint32 on the wire, above int32 range
            throw FerryException.invalid("%s.expected_generation %d is out of range", field, Integer.toUnsignedLong(p.getExpectedGeneration()));
        }
        if (p.getTtlSeconds() < -2) {
            throw FerryException.invalid("%s.ttl_seconds must be >= -2, got %d", field, p.getTtlSeconds());
        }
        return new io.ferrydb.api.WritePolicy(exists, p.getExpectedGeneration(), durability, commit, p.getTtlSeconds());
    }

    // ---- status ----

    public static Status toStatus(ErrorCode code, String message) {
        Status.Code c = switch (code) {
            case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
            case NOT_FOUND -> Status.Code.NOT_FOUND;
            case ALREADY_EXISTS -> Status.Code.ALREADY_EXISTS;
            case FAILED_PRECONDITION -> Status.Code.FAILED_PRECONDITION;
            case NOT_MASTER -> Status.Code.ABORTED;
            case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            case DEADLINE_EXCEEDED -> Status.Code.DEADLINE_EXCEEDED;
            case CANCELLED -> Status.Code.CANCELLED;
            case INTERNAL -> Status.Code.INTERNAL;
            case UNKNOWN -> Status.Code.UNKNOWN;
        };
        return Status.fromCode(c).withDescription(message);
    }

    public static ErrorCode errorCode(int grpcCode) {
        return errorCode(Status.fromCodeValue(grpcCode).getCode());
    }

    public static ErrorCode errorCode(Status.Code c) {
        return switch (c) {
            case INVALID_ARGUMENT, OUT_OF_RANGE -> ErrorCode.INVALID_ARGUMENT;
            case NOT_FOUND -> ErrorCode.NOT_FOUND;
            case ALREADY_EXISTS -> ErrorCode.ALREADY_EXISTS;
            case FAILED_PRECONDITION -> ErrorCode.FAILED_PRECONDITION;
            case ABORTED -> ErrorCode.NOT_MASTER;
            case RESOURCE_EXHAUSTED -> ErrorCode.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> ErrorCode.UNAVAILABLE;
            case DEADLINE_EXCEEDED -> ErrorCode.DEADLINE_EXCEEDED;
            case CANCELLED -> ErrorCode.CANCELLED;
            case INTERNAL, DATA_LOSS -> ErrorCode.INTERNAL;
            default -> ErrorCode.UNKNOWN;
        };
    }

    /**
     * The status's description, and for a transport failure (no description from a
     * server, e.g. "io exception") the root cause, which names the address.
     */
    static String describe(Status status) {
        String d = status.getDescription();
        Throwable root = status.getCause();
        while (root != null && root.getCause() != null) {
            root = root.getCause();
        }
        if (root == null || root.getMessage() == null) {
            return String.valueOf(d);
        }
        return d == null ? root.getMessage() : d + ": " + root.getMessage();
    }

    /** Turns any failure from a gRPC call into a FerryException carrying its status. */
    public static FerryException toFerryException(Throwable t) {
        Throwable c = t;
        while (c != null) {
            if (c instanceof FerryException fe) {
                return fe;
            }
            if (c instanceof StatusRuntimeException sre) {
                return new FerryException(errorCode(sre.getStatus().getCode()), describe(sre.getStatus()), sre);
            }
            if (c instanceof StatusException se) {
                return new FerryException(errorCode(se.getStatus().getCode()), describe(se.getStatus()), se);
            }
            c = c.getCause();
        }
        return new FerryException(ErrorCode.UNKNOWN, String.valueOf(t), t);
    }
}
