package io.ferrydb.cli;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.ferrydb.api.Limits;
import io.ferrydb.proto.BatchGetRequest;
import io.ferrydb.proto.BatchGetResponse;
import io.ferrydb.proto.BatchWriteRequest;
import io.ferrydb.proto.BatchWriteResponse;
import io.ferrydb.proto.Bin;
import io.ferrydb.proto.DeleteRequest;
import io.ferrydb.proto.ExistsRequest;
import io.ferrydb.proto.FerryGrpc;
import io.ferrydb.proto.GetRequest;
import io.ferrydb.proto.InfoRequest;
import io.ferrydb.proto.InfoResponse;
import io.ferrydb.proto.Key;
import io.ferrydb.proto.ListValue;
import io.ferrydb.proto.MapEntry;
import io.ferrydb.proto.MapValue;
import io.ferrydb.proto.PutRequest;
import io.ferrydb.proto.RecordExists;
import io.ferrydb.proto.ScanRequest;
import io.ferrydb.proto.ScanResponse;
import io.ferrydb.proto.SessionRequest;
import io.ferrydb.proto.SessionRequests;
import io.ferrydb.proto.SessionResponse;
import io.ferrydb.proto.SessionResponses;
import io.ferrydb.proto.Value;
import io.ferrydb.proto.WriteOp;
import io.ferrydb.proto.WritePolicy;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Malformed requests on the raw gRPC protocol, for every RPC: each must be refused
 * with the exact status code and a description that names the offending field, and
 * none may crash, wedge or log an internal error in the node. The last test checks
 * that the node still serves normal traffic, /health and /metrics afterwards.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BadInputIT {
    private static final Status.Code INVALID = Status.Code.INVALID_ARGUMENT;

    @TempDir
    static Path tmp;
    private static ServerProcess server;
    private static ManagedChannel channel;

    @BeforeAll
    static void start() {
        server = ServerProcess.start("bad-input", tmp.resolve("data"));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext()
                .maxInboundMessageSize(64 * 1024 * 1024).build();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        try {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    private static FerryGrpc.FerryBlockingStub stub() {
        return FerryGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    // ---- builders ----

    private static Key key(String ns, String set, String k) {
        return Key.newBuilder().setNamespace(ns).setSet(set).setStr(k).build();
    }

    private static Key goodKey(String k) {
        return key("test", "bad", k);
    }

    private static Value str(String s) {
        return Value.newBuilder().setStr(s).build();
    }

    private static Bin bin(String name, Value v) {
        return Bin.newBuilder().setName(name).setValue(v).build();
    }

    private static PutRequest put(Key key, Bin... bins) {
        PutRequest.Builder b = PutRequest.newBuilder().setKey(key);
        for (Bin bin : bins) {
            b.addBins(bin);
        }
        return b.build();
    }

    private static PutRequest goodPut(String k) {
        return put(goodKey(k), bin("a", str("x")));
    }

    /** A field number no ferry.proto message uses, as a newer client might send. */
    private static UnknownFieldSet unknownField() {
        return UnknownFieldSet.newBuilder()
                .addField(99, UnknownFieldSet.Field.newBuilder().addVarint(7).build()).build();
    }

    /** A key that is wrong in one way, and the field the error must name. */
    private record BadKey(String field, Key key) {}

    private static final List<BadKey> BAD_KEYS = List.of(
            new BadKey("key.user_key", Key.newBuilder().setNamespace("test").setSet("bad").build()),
            // A user key type this server does not know (a newer client's) is "not set", not a crash.
            new BadKey("key.user_key", Key.newBuilder().setNamespace("test").setSet("bad").setUnknownFields(unknownField()).build()),
            new BadKey("key.user_key", key("test", "bad", "")),
            new BadKey("key.user_key", key("test", "bad", "k".repeat(1025))),
            new BadKey("key.namespace", key("", "bad", "k")),
            new BadKey("key.namespace", key("n".repeat(32), "bad", "k")),
            new BadKey("key.namespace", key("te\u0001st", "bad", "k")),
            new BadKey("key.namespace", key("nope", "bad", "k")),
            new BadKey("key.set", key("test", "", "k")),
            new BadKey("key.set", key("test", "s".repeat(64), "k")),
            new BadKey("key.set", key("test", "a\nb", "k")),
            new BadKey("key.set", key("test", "del\u007f", "k")),
            new BadKey("key.set", key("test", "c1\u0085", "k")));

    /** Asserts the call fails with {@code code} and a description containing {@code field}. */
    private static StatusRuntimeException assertStatus(Status.Code code, String field, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run, "expected " + code + " naming " + field);
        assertEquals(code, e.getStatus().getCode(), "status for a request with a bad " + field + ": " + e.getStatus());
        String d = e.getStatus().getDescription();
        assertNotNull(d, "no description for " + e.getStatus());
        assertTrue(d.contains(field), "description should name '" + field + "': " + d);
        return e;
    }

    // ---- Put ----

    @Test
    @Order(1)
    void putRefusesBadKeys() {
        assertStatus(INVALID, "key", () -> stub().put(PutRequest.newBuilder().addBins(bin("a", str("x"))).build()));
        assertEquals("key is not set",
                assertThrows(StatusRuntimeException.class, () -> stub().put(PutRequest.newBuilder().addBins(bin("a", str("x"))).build()))
                        .getStatus().getDescription());
        for (BadKey b : BAD_KEYS) {
            assertStatus(INVALID, b.field(), () -> stub().put(put(b.key(), bin("a", str("x")))));
        }
    }

    @Test
    @Order(2)
    void putRefusesBadBins() {
        Key k = goodKey("bins");
        assertStatus(INVALID, "bins must not be empty", () -> stub().put(put(k)));
        assertStatus(INVALID, "bins[0].value", () -> stub().put(put(k, Bin.newBuilder().setName("a").build())));
        assertStatus(INVALID, "bins[1].value", () -> stub().put(put(k, bin("a", str("x")), Bin.newBuilder().setName("b").build())));
        // A value kind this server does not know (a newer client's type) is "not set", not a crash.
        assertStatus(INVALID, "bins[0].value", () -> stub().put(put(k, bin("a", Value.newBuilder().setUnknownFields(unknownField()).build()))));
        assertStatus(INVALID, "bins[1].name", () -> stub().put(put(k, bin("a", str("x")), bin("", str("y")))));
        assertStatus(INVALID, "bins[0].name", () -> stub().put(put(k, bin("sixteen-bytes-xx", str("y")))));
        assertStatus(INVALID, "bins[0].name", () -> stub().put(put(k, bin("ta\tb", str("y")))));
        assertStatus(INVALID, "bins[0].name", () -> stub().put(put(k, bin("ü".repeat(8), str("y")))));
        StatusRuntimeException dup = assertStatus(INVALID, "bins[1].name", () -> stub().put(put(k, bin("a", str("x")), bin("a", str("y")))));
        assertTrue(dup.getStatus().getDescription().contains("twice"), dup.getStatus().getDescription());
        assertStatus(INVALID, "bins[2].name", () -> stub().put(put(k, bin("a", str("x")), bin("b", str("y")), bin("a", str("z")))));
        // Nested values name the element.
        Value listWithHole = Value.newBuilder().setList(ListValue.newBuilder().addItems(str("ok")).addItems(Value.getDefaultInstance())).build();
        assertStatus(INVALID, "bins[0].value[1]", () -> stub().put(put(k, bin("l", listWithHole))));
        Value mapNoKey = Value.newBuilder().setMap(MapValue.newBuilder().addEntries(MapEntry.newBuilder().setValue(str("v")))).build();
        assertStatus(INVALID, "bins[0].value.entries[0].key", () -> stub().put(put(k, bin("m", mapNoKey))));
        Value mapNoValue = Value.newBuilder().setMap(MapValue.newBuilder().addEntries(MapEntry.newBuilder().setKey(str("k")))).build();
        assertStatus(INVALID, "bins[1].value.entries[0].value", () -> stub().put(put(k, bin("a", str("x")), bin("m", mapNoValue))));
        Value deep = str("leaf");
        for (int d = 0; d < 40; d++) {
            deep = Value.newBuilder().setList(ListValue.newBuilder().addItems(deep)).build();
        }
        Value tooDeep = deep;
        assertStatus(INVALID, "bins[0].value", () -> stub().put(put(k, bin("d", tooDeep))));
        PutRequest.Builder tooManyBins = PutRequest.newBuilder().setKey(k);
        for (int i = 0; i <= Limits.BINS_PER_RECORD_MAX; i++) {
            tooManyBins.addBins(bin("b" + i, Value.newBuilder().setBool(true).build()));
        }
        assertStatus(INVALID, "bins has 32768 bins", () -> stub().put(tooManyBins.build()));
        // Nothing of the above was written.
        assertStatus(Status.Code.NOT_FOUND, "not found", () -> stub().get(GetRequest.newBuilder().setKey(k).build()));
    }

    @Test
    @Order(3)
    void putRefusesOversizedRecordsAndMessages() {
        Key k = goodKey("big");
        // 2 MiB in one bin: over the namespace's 1 MiB max-record-size-bytes, under the 16 MiB message limit.
        Value twoMiB = Value.newBuilder().setBytes(ByteString.copyFrom(new byte[2 * 1024 * 1024])).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub().put(put(k, bin("big", twoMiB))));
        Status.Code code = e.getStatus().getCode();
        assertTrue(code == INVALID || code == Status.Code.RESOURCE_EXHAUSTED, e.getStatus().toString());
        if (code == INVALID) {
            assertTrue(e.getStatus().getDescription().contains("max-record-size-bytes"), e.getStatus().getDescription());
        }
        // Just under the limit is accepted; a record just over it is not.
        Value almost = Value.newBuilder().setBytes(ByteString.copyFrom(new byte[1024 * 1024 - 200])).build();
        assertEquals(1, stub().put(put(goodKey("almost"), bin("b", almost))).getAck().getGeneration());
        Value over = Value.newBuilder().setBytes(ByteString.copyFrom(new byte[1024 * 1024])).build();
        assertStatus(INVALID, "max-record-size-bytes", () -> stub().put(put(goodKey("over"), bin("b", over))));
        // A record that grows past the limit by merging bins is refused too.
        assertStatus(INVALID, "max-record-size-bytes", () -> stub().put(put(goodKey("almost"), bin("c", almost))));
        // Over the gRPC message limit (16 MiB): refused by the transport.
        Value seventeenMiB = Value.newBuilder().setBytes(ByteString.copyFrom(new byte[17 * 1024 * 1024])).build();
        StatusRuntimeException huge = assertThrows(StatusRuntimeException.class, () -> stub().put(put(k, bin("big", seventeenMiB))));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, huge.getStatus().getCode(), huge.getStatus().toString());
        assertStatus(Status.Code.NOT_FOUND, "not found", () -> stub().get(GetRequest.newBuilder().setKey(k).build()));
    }

    @Test
    @Order(4)
    void putRefusesBadPolicies() {
        Key k = goodKey("policy");
        assertStatus(INVALID, "policy.exists", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExistsValue(99)).build()));
        assertStatus(INVALID, "policy.durability", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setDurabilityValue(7)).build()));
        assertStatus(INVALID, "policy.commit_level", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setCommitLevelValue(-1)).build()));
        assertStatus(INVALID, "policy.ttl_seconds", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setTtlSeconds(-3)).build()));
        assertStatus(INVALID, "policy.expected_generation", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(0xFFFF_FFFF)).build()));
        assertStatus(INVALID, "policy.expected_generation", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(0x8000_0000)).build()));
        // Outcomes of valid policies.
        assertStatus(Status.Code.NOT_FOUND, "policy.exists", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExists(RecordExists.UPDATE_ONLY)).build()));
        assertStatus(Status.Code.FAILED_PRECONDITION, "policy.expected_generation", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(3)).build()));
        assertEquals(1, stub().put(goodPut("policy")).getAck().getGeneration());
        assertStatus(Status.Code.ALREADY_EXISTS, "policy.exists", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExists(RecordExists.CREATE_ONLY)).build()));
        assertStatus(Status.Code.FAILED_PRECONDITION, "policy.expected_generation", () -> stub().put(goodPut("policy").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(2)).build()));
        assertEquals(1, stub().get(GetRequest.newBuilder().setKey(k).build()).getRecord().getGeneration());
    }

    /**
     * expected_generation is a uint32 on the wire; values above int32 must be refused
     * naming the value the client sent, not its negative int32 reinterpretation.
     */
    @Test
    @Order(4)
    void expectedGenerationAboveInt32IsReportedAsSent() {
        StatusRuntimeException e = assertStatus(INVALID, "policy.expected_generation", () -> stub().put(goodPut("gen-range").toBuilder()
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(0xFFFF_FFFF)).build()));
        assertTrue(e.getStatus().getDescription().contains("4294967295"),
                "the description should show the uint32 the client sent: " + e.getStatus().getDescription());
    }

    // ---- Get, Exists, Delete ----

    @Test
    @Order(5)
    void getRefusesBadKeysAndProjections() {
        assertStatus(INVALID, "key is not set", () -> stub().get(GetRequest.getDefaultInstance()));
        for (BadKey b : BAD_KEYS) {
            assertStatus(INVALID, b.field(), () -> stub().get(GetRequest.newBuilder().setKey(b.key()).build()));
        }
        Key k = goodKey("get");
        stub().put(put(k, bin("a", str("x"))));
        assertStatus(INVALID, "bins[0]", () -> stub().get(GetRequest.newBuilder().setKey(k).addBins("").build()));
        assertStatus(INVALID, "bins[1]", () -> stub().get(GetRequest.newBuilder().setKey(k).addBins("a").addBins("x".repeat(16)).build()));
        assertStatus(INVALID, "bins[0]", () -> stub().get(GetRequest.newBuilder().setKey(k).addBins("\u0000").build()));
        assertStatus(Status.Code.NOT_FOUND, "not found", () -> stub().get(GetRequest.newBuilder().setKey(goodKey("missing")).build()));
        assertEquals("x", stub().get(GetRequest.newBuilder().setKey(k).build()).getRecord().getBins(0).getValue().getStr());
        // metadata_only returns no bins.
        assertEquals(0, stub().get(GetRequest.newBuilder().setKey(k).setMetadataOnly(true).build()).getRecord().getBinsCount());
    }

    @Test
    @Order(6)
    void existsRefusesBadKeys() {
        assertStatus(INVALID, "key is not set", () -> stub().exists(ExistsRequest.getDefaultInstance()));
        for (BadKey b : BAD_KEYS) {
            assertStatus(INVALID, b.field(), () -> stub().exists(ExistsRequest.newBuilder().setKey(b.key()).build()));
        }
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("missing")).build()).getExists());
    }

    @Test
    @Order(7)
    void deleteRefusesBadKeysAndPolicies() {
        assertStatus(INVALID, "key is not set", () -> stub().delete(DeleteRequest.getDefaultInstance()));
        for (BadKey b : BAD_KEYS) {
            assertStatus(INVALID, b.field(), () -> stub().delete(DeleteRequest.newBuilder().setKey(b.key()).build()));
        }
        Key k = goodKey("delete");
        stub().put(put(k, bin("a", str("x"))));
        assertStatus(INVALID, "policy.exists", () -> stub().delete(DeleteRequest.newBuilder().setKey(k)
                .setPolicy(WritePolicy.newBuilder().setExistsValue(42)).build()));
        assertStatus(INVALID, "policy.durability", () -> stub().delete(DeleteRequest.newBuilder().setKey(k)
                .setPolicy(WritePolicy.newBuilder().setDurabilityValue(3)).build()));
        assertStatus(Status.Code.FAILED_PRECONDITION, "policy.expected_generation", () -> stub().delete(DeleteRequest.newBuilder().setKey(k)
                .setPolicy(WritePolicy.newBuilder().setExpectedGeneration(5)).build()));
        assertTrue(stub().exists(ExistsRequest.newBuilder().setKey(k).build()).getExists(), "refused deletes delete nothing");
        assertTrue(stub().delete(DeleteRequest.newBuilder().setKey(k).build()).getExisted());
        assertFalse(stub().delete(DeleteRequest.newBuilder().setKey(k).build()).getExisted());
    }

    // ---- batches ----

    @Test
    @Order(8)
    void batchGetLimitsSizeAndFailsBadEntriesInPlace() {
        BatchGetRequest.Builder tooMany = BatchGetRequest.newBuilder();
        for (int i = 0; i < 5001; i++) {
            tooMany.addGets(GetRequest.newBuilder().setKey(goodKey("k" + i)));
        }
        StatusRuntimeException e = assertStatus(Status.Code.RESOURCE_EXHAUSTED, "gets", () -> stub().batchGet(tooMany.build()));
        assertTrue(e.getStatus().getDescription().contains("max-batch-size"), e.getStatus().getDescription());
        BatchGetRequest atLimit = BatchGetRequest.newBuilder().addAllGets(tooMany.getGetsList().subList(0, 5000)).build();
        BatchGetResponse ok = stub().batchGet(atLimit);
        assertEquals(5000, ok.getResultsCount(), "exactly max-batch-size is allowed");

        Key k = goodKey("bg");
        stub().put(put(k, bin("a", str("x"))));
        BatchGetResponse r = stub().batchGet(BatchGetRequest.newBuilder()
                .addGets(GetRequest.newBuilder().setKey(k))
                .addGets(GetRequest.newBuilder().setKey(key("test", "a\u0002b", "k")))
                .addGets(GetRequest.newBuilder())
                .addGets(GetRequest.newBuilder().setKey(key("nope", "s", "k")))
                .addGets(GetRequest.newBuilder().setKey(k).addBins(""))
                .addGets(GetRequest.newBuilder().setKey(goodKey("missing")))
                .addGets(GetRequest.newBuilder().setKey(k).addBins("a"))
                .build());
        assertEquals(7, r.getResultsCount());
        assertEquals(0, r.getResults(0).getStatus());
        assertEquals("x", r.getResults(0).getRecord().getBins(0).getValue().getStr());
        assertEntry(r.getResults(1).getStatus(), r.getResults(1).getMessage(), INVALID, "gets[1]: key.set");
        assertEntry(r.getResults(2).getStatus(), r.getResults(2).getMessage(), INVALID, "gets[2]: key is not set");
        assertEntry(r.getResults(3).getStatus(), r.getResults(3).getMessage(), INVALID, "gets[3]: key.namespace");
        assertEntry(r.getResults(4).getStatus(), r.getResults(4).getMessage(), INVALID, "gets[4]: bins[0]");
        assertEntry(r.getResults(5).getStatus(), r.getResults(5).getMessage(), Status.Code.NOT_FOUND, "gets[5]");
        assertEquals(0, r.getResults(6).getStatus());
    }

    private static void assertEntry(int status, String message, Status.Code code, String part) {
        assertEquals(code.value(), status, "entry status for '" + part + "': " + message);
        assertTrue(message.contains(part), "entry message should contain '" + part + "': " + message);
    }

    @Test
    @Order(9)
    void batchWriteLimitsSizeAndFailsBadOpsInPlace() {
        BatchWriteRequest.Builder tooMany = BatchWriteRequest.newBuilder();
        for (int i = 0; i < 5001; i++) {
            tooMany.addOps(WriteOp.newBuilder().setPut(goodPut("too-many-" + i)));
        }
        StatusRuntimeException e = assertStatus(Status.Code.RESOURCE_EXHAUSTED, "ops", () -> stub().batchWrite(tooMany.build()));
        assertTrue(e.getStatus().getDescription().contains("5001"), e.getStatus().getDescription());
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("too-many-0")).build()).getExists(),
                "a refused batch writes nothing");

        Key existing = goodKey("bw-existing");
        stub().put(put(existing, bin("a", str("x"))));
        BatchWriteResponse r = stub().batchWrite(BatchWriteRequest.newBuilder()
                .addOps(WriteOp.newBuilder().setPut(goodPut("bw-1")))
                .addOps(WriteOp.newBuilder())
                .addOps(WriteOp.newBuilder().setPut(put(goodKey("bw-2"), Bin.newBuilder().setName("a").build())))
                .addOps(WriteOp.newBuilder().setDelete(DeleteRequest.getDefaultInstance()))
                .addOps(WriteOp.newBuilder().setPut(goodPut("bw-3").toBuilder().setPolicy(WritePolicy.newBuilder().setExistsValue(77))))
                .addOps(WriteOp.newBuilder().setDelete(DeleteRequest.newBuilder().setKey(existing)))
                .addOps(WriteOp.newBuilder().setPut(put(key("nope", "s", "k"), bin("a", str("x")))))
                .addOps(WriteOp.newBuilder().setPut(put(goodKey("bw-4"), bin("a", str("x")), bin("a", str("y")))))
                .build());
        assertEquals(8, r.getResultsCount());
        assertEquals(0, r.getResults(0).getStatus(), r.getResults(0).getMessage());
        assertEquals(1, r.getResults(0).getAck().getGeneration());
        assertEntry(r.getResults(1).getStatus(), r.getResults(1).getMessage(), INVALID, "ops[1]");
        assertEntry(r.getResults(2).getStatus(), r.getResults(2).getMessage(), INVALID, "ops[2]: bins[0].value");
        assertEntry(r.getResults(3).getStatus(), r.getResults(3).getMessage(), INVALID, "ops[3]: key is not set");
        assertEntry(r.getResults(4).getStatus(), r.getResults(4).getMessage(), INVALID, "ops[4]: policy.exists");
        assertEquals(0, r.getResults(5).getStatus(), r.getResults(5).getMessage());
        assertTrue(r.getResults(5).getExisted());
        assertEntry(r.getResults(6).getStatus(), r.getResults(6).getMessage(), INVALID, "ops[6]: key.namespace");
        assertEntry(r.getResults(7).getStatus(), r.getResults(7).getMessage(), INVALID, "ops[7]: bins[1].name");
        assertTrue(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("bw-1")).build()).getExists());
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("bw-2")).build()).getExists());
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("bw-3")).build()).getExists());
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(goodKey("bw-4")).build()).getExists());
        assertFalse(stub().exists(ExistsRequest.newBuilder().setKey(existing).build()).getExists());
    }

    // ---- Scan ----

    private static void drain(ScanRequest req) {
        Iterator<ScanResponse> it = stub().scan(req);
        while (it.hasNext()) {
            it.next();
        }
    }

    @Test
    @Order(10)
    void scanRefusesBadRequests() {
        assertStatus(INVALID, "namespace", () -> drain(ScanRequest.getDefaultInstance()));
        assertStatus(INVALID, "namespace", () -> drain(ScanRequest.newBuilder().setNamespace("nope").build()));
        assertStatus(INVALID, "set", () -> drain(ScanRequest.newBuilder().setNamespace("test").setSet("x\u0001").build()));
        assertStatus(INVALID, "set", () -> drain(ScanRequest.newBuilder().setNamespace("test").setSet("s".repeat(64)).build()));
        assertStatus(INVALID, "partition_begin", () -> drain(ScanRequest.newBuilder().setNamespace("test").setPartitionBegin(4096).build()));
        assertStatus(INVALID, "partition_begin", () -> drain(ScanRequest.newBuilder().setNamespace("test").setPartitionBegin(-1).build()));
        assertStatus(INVALID, "partition_end", () -> drain(ScanRequest.newBuilder().setNamespace("test")
                .setPartitionBegin(10).setPartitionEnd(5).build()));
        assertStatus(INVALID, "partition_end", () -> drain(ScanRequest.newBuilder().setNamespace("test")
                .setPartitionBegin(10).setPartitionEnd(10).build()));
        assertStatus(INVALID, "partition_end", () -> drain(ScanRequest.newBuilder().setNamespace("test").setPartitionEnd(4097).build()));
        assertStatus(INVALID, "partition_end", () -> drain(ScanRequest.newBuilder().setNamespace("test").setPartitionEnd(-1).build()));
        assertStatus(INVALID, "bins[1]", () -> drain(ScanRequest.newBuilder().setNamespace("test").addBins("a").addBins("").build()));
        // The last partition alone is a valid range.
        Iterator<ScanResponse> it = stub().scan(ScanRequest.newBuilder().setNamespace("test").setPartitionBegin(4095).build());
        ScanResponse last = null;
        while (it.hasNext()) {
            last = it.next();
        }
        assertNotNull(last);
        assertTrue(last.getProgress().getDone());
        assertEquals(1, last.getProgress().getPartitionsTotal());
    }

    // ---- Info ----

    @Test
    @Order(11)
    void infoIgnoresUnknownFields() {
        InfoResponse r = stub().info(InfoRequest.newBuilder().setUnknownFields(unknownField()).build());
        assertEquals("bad-input", r.getNodeId());
    }

    // ---- Session ----

    @Test
    @Order(12)
    void sessionAnswersEveryBadRequestByIdAndStaysOpen() throws Exception {
        Map<Long, SessionResponse> answers = new ConcurrentHashMap<>();
        CountDownLatch allAnswered = new CountDownLatch(13);
        CountDownLatch completed = new CountDownLatch(1);
        Throwable[] streamError = {null};
        StreamObserver<SessionRequests> requests = FerryGrpc.newStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .session(new StreamObserver<>() {
                    @Override
                    public void onNext(SessionResponses batch) {
                        for (SessionResponse r : batch.getResponsesList()) {
                            if (answers.put(r.getId(), r) != null) {
                                streamError[0] = new AssertionError("id " + r.getId() + " answered twice");
                            }
                            allAnswered.countDown();
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        streamError[0] = t;
                        completed.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        completed.countDown();
                    }
                });
        Key k = goodKey("session");
        requests.onNext(SessionRequests.newBuilder()
                .addRequests(SessionRequest.newBuilder().setId(1))
                .addRequests(SessionRequest.newBuilder().setId(2).setPut(PutRequest.newBuilder().addBins(bin("a", str("x")))))
                .addRequests(SessionRequest.newBuilder().setId(3).setGet(GetRequest.newBuilder().setKey(key("test", "", "k"))))
                .addRequests(SessionRequest.newBuilder().setId(4).setDelete(DeleteRequest.newBuilder().setKey(k)
                        .setPolicy(WritePolicy.newBuilder().setExistsValue(9))))
                .addRequests(SessionRequest.newBuilder().setId(5).setExists(ExistsRequest.newBuilder()
                        .setKey(Key.newBuilder().setNamespace("test").setSet("s"))))
                .addRequests(SessionRequest.newBuilder().setId(6).setPut(put(k, bin("a", str("x")), bin("a", str("y")))))
                .addRequests(SessionRequest.newBuilder().setId(7).setPut(put(k, bin("a", str("x")))))
                .addRequests(SessionRequest.newBuilder().setId(8).setGet(GetRequest.newBuilder().setKey(goodKey("missing"))))
                .build());
        requests.onNext(SessionRequests.newBuilder()
                .addRequests(SessionRequest.newBuilder().setId(9).setPut(put(key("nope", "s", "k"), bin("a", str("x")))))
                .addRequests(SessionRequest.newBuilder().setId(10).setPut(put(k, bin("a", Value.getDefaultInstance()))))
                .addRequests(SessionRequest.newBuilder().setId(11).setPut(goodPut("session").toBuilder()
                        .setPolicy(WritePolicy.newBuilder().setCommitLevelValue(5))))
                .addRequests(SessionRequest.newBuilder().setId(12).setGet(GetRequest.newBuilder().setKey(k).addBins("a")))
                .addRequests(SessionRequest.newBuilder().setId(13).setPut(put(k, bin("b", str("z")))
                        .toBuilder().setPolicy(WritePolicy.newBuilder().setExpectedGeneration(99))))
                .build());
        assertTrue(allAnswered.await(15, TimeUnit.SECONDS), "answered ids: " + answers.keySet() + " error: " + streamError[0]);
        requests.onCompleted();
        assertTrue(completed.await(15, TimeUnit.SECONDS), "the server completes the session after the client half-closes");
        if (streamError[0] != null) {
            throw new AssertionError("session stream failed", streamError[0]);
        }
        assertSession(answers.get(1L), INVALID, "requests[id=1]");
        assertSession(answers.get(2L), INVALID, "key is not set");
        assertSession(answers.get(3L), INVALID, "key.set");
        assertSession(answers.get(4L), INVALID, "policy.exists");
        assertSession(answers.get(5L), INVALID, "key.user_key");
        assertSession(answers.get(6L), INVALID, "bins[1].name");
        assertEquals(0, answers.get(7L).getStatus(), answers.get(7L).getMessage());
        assertEquals(1, answers.get(7L).getPut().getAck().getGeneration());
        assertSession(answers.get(8L), Status.Code.NOT_FOUND, "not found");
        assertSession(answers.get(9L), INVALID, "key.namespace");
        assertSession(answers.get(10L), INVALID, "bins[0].value");
        assertSession(answers.get(11L), INVALID, "policy.commit_level");
        assertEquals(0, answers.get(12L).getStatus());
        assertEquals("x", answers.get(12L).getGet().getRecord().getBins(0).getValue().getStr());
        assertSession(answers.get(13L), Status.Code.FAILED_PRECONDITION, "policy.expected_generation");
    }

    private static void assertSession(SessionResponse r, Status.Code code, String part) {
        assertNotNull(r);
        assertEntry(r.getStatus(), r.getMessage(), code, part);
    }

    // ---- afterwards ----

    @Test
    @Order(100)
    void nodeStillServesAfterAllTheBadInput() throws Exception {
        assertTrue(server.isAlive(), "node process died; log:\n" + server.log());
        Key k = goodKey("after");
        assertEquals(1, stub().put(put(k, bin("a", str("still here")))).getAck().getGeneration());
        assertEquals("still here", stub().get(GetRequest.newBuilder().setKey(k).build()).getRecord().getBins(0).getValue().getStr());

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + "/health"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode(), health.body());
        assertTrue(health.body().contains("\"status\":\"UP\""), health.body());
        HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, metrics.statusCode());
        String body = metrics.body();
        assertTrue(body.contains("ferry_requests_total"), "metrics lack ferry_requests_total");
        // The refusals were counted as client errors, and none as internal errors.
        assertTrue(counter(body, "put", "invalid_argument") >= 30, "put invalid_argument count: " + counter(body, "put", "invalid_argument"));
        assertTrue(counter(body, "scan", "invalid_argument") >= 11, "scan invalid_argument count");
        assertTrue(counter(body, "put", "ok") >= 1);
        assertFalse(body.contains("status=\"internal\""), "an internal error was counted:\n" + grep(body, "internal"));
        assertFalse(body.contains("status=\"unknown\""), "an unknown error was counted");
        HttpResponse<String> notFound = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + "/nope"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(404, notFound.statusCode());

        // The transport logs the over-limit message (JUL WARNING); FerryDB itself must log no error.
        String log = server.log();
        assertFalse(log.contains(" ERROR ") || log.contains("internal error") || log.contains("invariant violated"),
                "the node logged an error while refusing bad input:\n" + log);
    }

    private static double counter(String metrics, String op, String status) {
        Pattern p = Pattern.compile("ferry_requests_total\\{[^}]*op=\"" + op + "\",status=\"" + status + "\"[^}]*} ([0-9.eE+]+)");
        Matcher m = p.matcher(metrics);
        double total = 0;
        while (m.find()) {
            total += Double.parseDouble(m.group(1));
        }
        return total;
    }

    private static String grep(String text, String part) {
        StringBuilder sb = new StringBuilder();
        for (String line : text.split("\n")) {
            if (line.contains(part)) {
                sb.append(line).append('\n');
            }
        }
        return sb.toString();
    }
}
