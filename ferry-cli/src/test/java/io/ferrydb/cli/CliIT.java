package io.ferrydb.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferrydb.api.Key;
import io.ferrydb.api.Record;
import io.ferrydb.api.Value;
import io.ferrydb.client.ClientConfig;
import io.ferrydb.client.FerryClient;
import io.ferrydb.server.FerryNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code ferry} command line, run in-process through {@link FerryMain#run} against
 * a node process: typed values, text and JSON output, exit codes and error messages.
 * The launcher script {@code bin/ferry} runs once as an external process for
 * {@code --help} and a short {@code demo}.
 */
class CliIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    private static ServerProcess server;
    private static FerryClient client;

    @BeforeAll
    static void startServer() {
        server = ServerProcess.start("cli-it", tmp.resolve("data"));
        client = FerryClient.connect(new ClientConfig("127.0.0.1", server.grpcPort(), 10_000, 512));
    }

    @AfterAll
    static void stopServer() {
        try {
            if (client != null) {
                client.close();
            }
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    private static CliRun ferry(String command, String... args) {
        List<String> all = new ArrayList<>();
        all.add(command);
        all.add("--host");
        all.add(server.hostPort());
        all.addAll(List.of(args));
        return ferryRaw(all.toArray(new String[0]));
    }

    private static CliRun ferryRaw(String... args) {
        return CliRun.ferry(args);
    }

    @Test
    void benchRunsAHotKeyWorkloadAndRefusesAHotDistributionWithoutARatio() {
        CliRun refused = ferry("bench", "--distribution", "HOT", "--duration", "1", "--warmup", "0");
        assertEquals(1, refused.exit(), refused.toString());
        assertTrue(refused.err().contains("--hot-key-ratio"), refused.toString());

        CliRun run = ferry("bench", "--json", "--distribution", "HOT", "--hot-key-ratio", "0.5", "--keys", "1000",
                "--read-ratio", "0.5", "--duration", "3", "--warmup", "0", "--set", "benchit");
        assertEquals(0, run.exit(), run.toString());
        JsonNode j = run.json();
        assertTrue(j.get("ops").asLong() > 0, run.toString());
        assertTrue(j.get("reads").get("ops").asLong() > 0 && j.get("writes").get("ops").asLong() > 0, run.toString());
        assertEquals(0, j.get("errors").size(), run.toString());
        assertTrue(run.err().contains("ops/s"), "a progress line per second on stderr: " + run);
    }

    @Test
    void putWithTypedValuesThenGetAsTextAndJson() {
        CliRun put = ferry("put", "test", "cli", "typed", "n=5", "f=1.5", "s=hello", "b=true", "l=[1,2]", "m={\"a\":1}", "raw=base64:AQI=",
                "forced=str:42", "i=int:7", "fl=float:2", "bo=bool:false", "word=not json");
        assertEquals(0, put.exit(), put.toString());
        assertTrue(put.out().startsWith("ok generation=1 epoch=1 lsn="), put.out());

        // What the server stored, seen through the Java client: the CLI picked the types.
        Record r = client.get(Key.of("test", "cli", "typed"));
        assertEquals(Value.of(5), r.bin("n"));
        assertEquals(Value.of(1.5), r.bin("f"));
        assertEquals(Value.of("hello"), r.bin("s"));
        assertEquals(Value.of(true), r.bin("b"));
        assertEquals(Value.from(List.of(1L, 2L)), r.bin("l"));
        assertEquals(Value.from(Map.of("a", 1L)), r.bin("m"));
        assertArrayEquals(new byte[] {1, 2}, (byte[]) r.binJava("raw"));
        assertEquals(Value.of("42"), r.bin("forced"));
        assertEquals(Value.of(7), r.bin("i"));
        assertEquals(Value.of(2.0), r.bin("fl"));
        assertEquals(Value.of(false), r.bin("bo"));
        assertEquals(Value.of("not json"), r.bin("word"));

        CliRun text = ferry("get", "test", "cli", "typed");
        assertEquals(0, text.exit(), text.toString());
        String line = text.out().trim();
        assertTrue(line.startsWith("test:cli:typed gen=1 "), line);
        for (String part : List.of("n=5", "f=1.5", "s=\"hello\"", "b=true", "l=[1,2]", "m={\"a\":1}", "raw=\"base64:AQI=\"", "forced=\"42\"")) {
            assertTrue(line.contains(" " + part), "text output lacks " + part + ": " + line);
        }

        CliRun json = ferry("get", "--json", "test", "cli", "typed");
        assertEquals(0, json.exit(), json.toString());
        JsonNode j = json.json();
        assertEquals("test", j.get("namespace").asText());
        assertEquals("cli", j.get("set").asText());
        assertEquals("typed", j.get("key").asText());
        assertEquals(1, j.get("generation").asInt());
        assertEquals(Key.of("test", "cli", "typed").digest().toHex(), j.get("digest").asText());
        assertEquals(0, j.get("expires_at_ms").asLong());
        JsonNode bins = j.get("bins");
        assertTrue(bins.get("n").isIntegralNumber(), "n is an integer: " + bins.get("n"));
        assertEquals(5, bins.get("n").asLong());
        assertTrue(bins.get("f").isFloatingPointNumber(), "f is a float: " + bins.get("f"));
        assertEquals(1.5, bins.get("f").asDouble());
        assertTrue(bins.get("s").isTextual());
        assertEquals("hello", bins.get("s").asText());
        assertTrue(bins.get("b").isBoolean());
        assertTrue(bins.get("b").asBoolean());
        assertTrue(bins.get("l").isArray());
        assertEquals(2, bins.get("l").size());
        assertTrue(bins.get("l").get(0).isIntegralNumber());
        assertEquals(2, bins.get("l").get(1).asInt());
        assertTrue(bins.get("m").isObject());
        assertEquals(1, bins.get("m").get("a").asInt());
        assertEquals("base64:AQI=", bins.get("raw").asText());
        assertTrue(bins.get("forced").isTextual());
        assertTrue(bins.get("fl").isFloatingPointNumber());

        CliRun projected = ferry("get", "--json", "--bins", "n,s,nope", "test", "cli", "typed");
        assertEquals(0, projected.exit(), projected.toString());
        Set<String> names = new HashSet<>();
        projected.json().get("bins").fieldNames().forEachRemaining(names::add);
        assertEquals(Set.of("n", "s"), names);
    }

    @Test
    void existsDeleteAndNotFoundExitCodes() {
        assertEquals(0, ferry("put", "test", "cli", "victim", "a=1").exit());
        CliRun exists = ferry("exists", "test", "cli", "victim");
        assertEquals(0, exists.exit());
        assertEquals("true", exists.out().trim());
        assertEquals(true, ferry("exists", "--json", "test", "cli", "victim").json().get("exists").asBoolean());

        CliRun del = ferry("delete", "test", "cli", "victim");
        assertEquals(0, del.exit(), del.toString());
        assertEquals("deleted", del.out().trim());
        assertNull(client.get(Key.of("test", "cli", "victim")));

        CliRun again = ferry("delete", "test", "cli", "victim");
        assertEquals(3, again.exit(), "delete of a missing record exits 3: " + again);
        assertEquals("not found", again.out().trim());
        CliRun againJson = ferry("delete", "--json", "test", "cli", "victim");
        assertEquals(3, againJson.exit());
        assertFalse(againJson.json().get("deleted").asBoolean());

        CliRun gone = ferry("exists", "test", "cli", "victim");
        assertEquals(0, gone.exit());
        assertEquals("false", gone.out().trim());

        CliRun missing = ferry("get", "test", "cli", "victim");
        assertEquals(3, missing.exit(), "get of a missing record exits 3: " + missing);
        assertEquals("not found", missing.out().trim());
        CliRun missingJson = ferry("get", "--json", "test", "cli", "never");
        assertEquals(3, missingJson.exit());
        assertFalse(missingJson.json().get("found").asBoolean());
    }

    @Test
    void putPoliciesFromTheCommandLine() {
        CliRun sync = ferry("put", "--json", "--durability", "SYNC", "test", "cli", "durable", "a=1");
        assertEquals(0, sync.exit(), sync.toString());
        JsonNode j = sync.json();
        assertTrue(j.get("ok").asBoolean());
        assertEquals(1, j.get("generation").asInt());
        assertEquals(1, j.get("epoch").asInt());
        assertTrue(j.get("lsn").asLong() >= 1);
        assertTrue(j.get("hlc").asLong() > 0);
        assertEquals(0, ferry("put", "--durability", "ASYNC", "--commit-level", "MASTER", "test", "cli", "durable", "b=2").exit());
        assertEquals(Map.of("a", Value.of(1), "b", Value.of(2)), client.get(Key.of("test", "cli", "durable")).bins());

        CliRun create = ferry("put", "--exists", "CREATE_ONLY", "test", "cli", "durable", "a=2");
        assertEquals(1, create.exit(), create.toString());
        assertTrue(create.err().contains("ALREADY_EXISTS"), create.err());
        CliRun gen = ferry("put", "--generation", "1", "test", "cli", "durable", "a=2");
        assertEquals(1, gen.exit());
        assertTrue(gen.err().contains("FAILED_PRECONDITION") && gen.err().contains("policy.expected_generation"), gen.err());
        assertEquals(0, ferry("put", "--generation", "2", "--exists", "REPLACE", "test", "cli", "durable", "c=3").exit());
        assertEquals(Map.of("c", Value.of(3)), client.get(Key.of("test", "cli", "durable")).bins());

        CliRun ttl = ferry("put", "--ttl", "100", "test", "cli", "ttl", "a=1");
        assertEquals(0, ttl.exit());
        long expires = client.get(Key.of("test", "cli", "ttl")).expiresAtMs();
        assertTrue(expires > System.currentTimeMillis() + 90_000 && expires <= System.currentTimeMillis() + 100_000, "expiry " + expires);

        CliRun longKey = ferry("put", "--key-type", "long", "test", "cli", "-42", "a=1");
        assertEquals(0, longKey.exit(), longKey.toString());
        assertNotNull(client.get(Key.of("test", "cli", -42L)));
        CliRun bytesKey = ferry("put", "--key-type", "bytes", "test", "cli", "AAH/", "a=1");
        assertEquals(0, bytesKey.exit(), bytesKey.toString());
        assertNotNull(client.get(Key.of("test", "cli", new byte[] {0, 1, (byte) 0xFF})));
        assertEquals(0, ferry("get", "--key-type", "bytes", "test", "cli", "AAH/").exit());
    }

    @Test
    void badInputExitsOneAndNamesTheField() {
        CliRun noValue = ferry("put", "test", "s", "k", "novalue");
        assertEquals(1, noValue.exit(), noValue.toString());
        assertTrue(noValue.err().contains("INVALID_ARGUMENT") && noValue.err().contains("bins[0]") && noValue.err().contains("novalue"),
                noValue.err());
        CliRun second = ferry("put", "test", "s", "k", "a=1", "=2");
        assertEquals(1, second.exit());
        assertTrue(second.err().contains("bins[1]"), second.err());
        CliRun dup = ferry("put", "test", "s", "k", "a=1", "a=2");
        assertEquals(1, dup.exit());
        assertTrue(dup.err().contains("bins[1]") && dup.err().contains("twice"), dup.err());
        CliRun badInt = ferry("put", "test", "s", "k", "n=int:abc");
        assertEquals(1, badInt.exit());
        assertTrue(badInt.err().contains("bins[0] (n)"), badInt.err());
        CliRun badBool = ferry("put", "test", "s", "k", "b=bool:yes");
        assertEquals(1, badBool.exit());
        assertTrue(badBool.err().contains("bins[0] (b)"), badBool.err());
        CliRun badBase64 = ferry("put", "test", "s", "k", "r=base64:!!!");
        assertEquals(1, badBase64.exit());
        assertTrue(badBase64.err().contains("bins[0] (r)"), badBase64.err());
        CliRun longBin = ferry("put", "test", "s", "k", "this-bin-name-is-too-long=1");
        assertEquals(1, longBin.exit());
        assertTrue(longBin.err().contains("bins[0].name"), longBin.err());

        CliRun ns = ferry("put", "nope", "s", "k", "a=1");
        assertEquals(1, ns.exit(), ns.toString());
        assertTrue(ns.err().contains("key.namespace") && ns.err().contains("nope"), ns.err());
        CliRun nsJson = ferry("get", "--json", "nope", "s", "k");
        assertEquals(1, nsJson.exit());
        JsonNode error = nsJson.json().get("error");
        assertEquals("INVALID_ARGUMENT", error.get("code").asText());
        assertTrue(error.get("message").asText().contains("key.namespace"), error.toString());
        CliRun set = ferry("get", "test", "bad\u0001set", "k");
        assertEquals(1, set.exit());
        assertTrue(set.err().contains("key.set"), set.err());

        CliRun notLong = ferry("get", "--key-type", "long", "test", "s", "abc");
        assertEquals(1, notLong.exit(), notLong.toString());
        assertTrue(notLong.err().contains("abc") && notLong.err().contains("long"), notLong.err());
        CliRun badType = ferry("get", "--key-type", "uuid", "test", "s", "abc");
        assertEquals(1, badType.exit());
        assertTrue(badType.err().contains("--key-type"), badType.err());

        CliRun badRange = ferry("scan", "--quiet", "--partitions", "10-5", "test");
        assertEquals(1, badRange.exit());
        assertTrue(badRange.err().contains("partition_end"), badRange.err());
        CliRun badRangeSyntax = ferry("scan", "--partitions", "ten", "test");
        assertEquals(1, badRangeSyntax.exit());
        assertTrue(badRangeSyntax.err().contains("--partitions"), badRangeSyntax.err());

        // Usage errors are picocli's exit code 2.
        CliRun usage = ferryRaw("get", "test");
        assertEquals(2, usage.exit(), usage.toString());
        CliRun unknownOption = ferry("get", "--frobnicate", "test", "s", "k");
        assertEquals(2, unknownOption.exit());
        CliRun badEnum = ferry("put", "--durability", "MAYBE", "test", "s", "k", "a=1");
        assertEquals(2, badEnum.exit(), badEnum.toString());
        CliRun badHost = ferryRaw("get", "--host", "127.0.0.1:notaport", "test", "s", "k");
        assertEquals(1, badHost.exit());
        assertTrue(badHost.err().contains("--host"), badHost.err());

        // Nothing reached storage.
        assertNull(client.get(Key.of("test", "s", "k")));
    }

    /**
     * A value that is valid JSON but not a FerryDB value must be refused, as
     * ValueParser.fromJson intends ("integer out of int64 range", "null is not a
     * value"), not silently stored as the string the user typed.
     */
    @Test
    void jsonValuesThatAreNotFerryValuesAreRefused() {
        CliRun tooBig = ferry("put", "test", "cli", "json-edge", "n=99999999999999999999");
        CliRun nul = ferry("put", "test", "cli", "json-edge", "x=null");
        CliRun nestedNull = ferry("put", "test", "cli", "json-edge", "l=[1,null]");
        Record stored = client.get(Key.of("test", "cli", "json-edge"));
        assertAll(
                () -> assertEquals(1, tooBig.exit(), "n=99999999999999999999 should be refused: " + tooBig + " stored: " + stored),
                () -> assertTrue(tooBig.err().contains("bins[0] (n)") && tooBig.err().contains("int64"), tooBig.err()),
                () -> assertEquals(1, nul.exit(), "x=null should be refused: " + nul + " stored: " + stored),
                () -> assertTrue(nul.err().contains("bins[0] (x)") && nul.err().contains("null"), nul.err()),
                () -> assertEquals(1, nestedNull.exit(), "l=[1,null] should be refused: " + nestedNull + " stored: " + stored),
                () -> assertNull(stored, "nothing should have been written"));
    }

    @Test
    void unreachableNodeExitsOneWithUnavailable() {
        int closedPort = ServerProcess.freePort();
        CliRun r = ferryRaw("get", "--host", "127.0.0.1:" + closedPort, "--timeout-ms", "3000", "test", "s", "k");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("UNAVAILABLE"), r.err());
    }

    @Test
    void scanPrintsOneJsonLinePerRecord() {
        Set<String> written = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            assertEquals(0, ferry("put", "test", "cli-scan", "k" + i, "i=" + i, "s=v" + i).exit());
            written.add("k" + i);
        }
        assertEquals(0, ferry("put", "test", "cli-scan-other", "x", "i=99").exit());
        CliRun scan = ferry("scan", "--json", "test", "cli-scan");
        assertEquals(0, scan.exit(), scan.toString());
        Set<String> seen = new HashSet<>();
        for (String line : scan.out().split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode j = readJson(line);
            assertEquals("cli-scan", j.get("set").asText());
            String key = j.get("key").asText();
            assertTrue(seen.add(key), "duplicate " + key);
            assertEquals("v" + j.get("bins").get("i").asInt(), j.get("bins").get("s").asText());
            assertEquals("k" + j.get("bins").get("i").asInt(), key);
        }
        assertEquals(written, seen);
        // Progress and the JSON summary go to stderr.
        String[] errLines = scan.err().trim().split("\n");
        assertTrue(errLines[errLines.length - 2].contains("4096/4096 partitions, 5 records"), scan.err());
        JsonNode summary = readJson(errLines[errLines.length - 1]);
        assertEquals(5, summary.get("records").asLong());

        CliRun quiet = ferry("scan", "--json", "--quiet", "--max", "2", "--bins", "i", "test", "cli-scan");
        assertEquals(0, quiet.exit());
        assertEquals("", quiet.err(), "--quiet prints no progress");
        String[] lines = quiet.out().trim().split("\n");
        assertEquals(2, lines.length, quiet.out());
        Set<String> binNames = new HashSet<>();
        readJson(lines[0]).get("bins").fieldNames().forEachRemaining(binNames::add);
        assertEquals(Set.of("i"), binNames);

        CliRun text = ferry("scan", "--quiet", "test", "cli-scan");
        assertEquals(5, text.out().trim().split("\n").length, text.out());
        assertTrue(text.out().contains("test:cli-scan:k3 gen=1"), text.out());
    }

    @Test
    void infoJsonDescribesTheNode() {
        ferry("put", "test", "cli-info", "k", "a=1");
        CliRun info = ferry("info", "--json");
        assertEquals(0, info.exit(), info.toString());
        JsonNode j = info.json();
        assertEquals("cli-it", j.get("nodeId").asText());
        assertEquals(server.hostPort(), j.get("grpcAddress").asText());
        assertEquals("127.0.0.1:" + server.httpPort(), j.get("httpAddress").asText());
        assertEquals(server.dataDir().toString(), j.get("dataDir").asText());
        JsonNode ns = j.get("namespaces").get(0);
        assertEquals("test", ns.get("name").asText());
        assertEquals(1048576, ns.get("maxRecordSizeBytes").asInt());
        assertTrue(ns.get("lastLsnSum").asLong() >= 1);
        assertEquals(client.info().namespaces().get(0).lastLsnSum(), ns.get("lastLsnSum").asLong());

        CliRun text = ferry("info");
        assertEquals(0, text.exit());
        assertTrue(text.out().startsWith("node cli-it  version " + FerryNode.VERSION), text.out());
        assertTrue(text.out().contains("namespace test: rf=2"), text.out());
    }

    private static JsonNode readJson(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + s, e);
        }
    }

    // ---- the launcher script, as an external process ----

    private static Path launcher() {
        Path root = Path.of(System.getProperty("ferry.repo.root", "..")).toAbsolutePath().normalize();
        Path script = root.resolve("bin").resolve("ferry");
        assertTrue(Files.isExecutable(script), script + " is not executable");
        assertTrue(Files.isRegularFile(root.resolve("ferry-cli/target/ferry-cli.jar")), "run mvn package first: no ferry-cli.jar");
        return script;
    }

    private static CliRun runLauncher(Path workDir, long timeoutS, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(launcher().toString());
        cmd.addAll(List.of(args));
        Path out = workDir.resolve("launcher-" + args[0] + ".out");
        Path err = workDir.resolve("launcher-" + args[0] + ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        pb.environment().put("FERRY_JAVA_OPTS", "-Xmx384m -XX:+UseSerialGC");
        Process p = pb.start();
        try {
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                throw new AssertionError("bin/ferry " + String.join(" ", args) + " still running after " + timeoutS + " s; output:\n"
                        + Files.readString(out) + Files.readString(err));
            }
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        return new CliRun(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void launcherHelpAndDemo() throws Exception {
        Path work = Files.createDirectories(tmp.resolve("launcher"));
        CliRun help = runLauncher(work, 60, "--help");
        assertEquals(0, help.exit(), help.toString());
        assertTrue(help.out().contains("Usage: ferry"), help.out());
        for (String sub : List.of("server", "put", "get", "delete", "exists", "scan", "info", "bench", "demo")) {
            assertTrue(help.out().contains(sub), "help lists " + sub + ":\n" + help.out());
        }

        CliRun demo = runLauncher(work, 180, "demo", "--seconds", "1", "--data-dir", work.resolve("demo-data").toString());
        assertEquals(0, demo.exit(), demo.toString());
        assertTrue(demo.out().contains("demo done"), demo.toString());
        assertTrue(demo.out().contains("1999/1999 SYNC records present"), demo.out());
        assertFalse(Files.exists(work.resolve("ferry-demo-data")), "demo used the default data dir despite --data-dir");
    }
}
