package io.ferrydb.cli;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Redis's own tools against a FerryDB node: redis-cli (Debian's redis-tools, installed
 * by .ci/run) for a session, and redis-benchmark exactly as the issue runs it. Skipped
 * with a message only where the binaries are not installed.
 */
class RedisToolsIT {
    @TempDir
    static Path tmp;
    static ServerProcess node;
    static int port;

    @BeforeAll
    static void start() {
        Assumptions.assumeTrue(onPath("redis-cli") && onPath("redis-benchmark"),
                "redis-cli/redis-benchmark not installed (apt-get install redis-tools; .ci/run does)");
        port = ServerProcess.freePort();
        node = ServerProcess.start("t1", tmp.resolve("t1"), "--redis-port", String.valueOf(port));
    }

    @AfterAll
    static void stop() {
        if (node != null) {
            node.close();
        }
    }

    static boolean onPath(String binary) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, binary))) {
                return true;
            }
        }
        return false;
    }

    /** Runs a command, returns stdout+stderr; fails on a non-zero exit or timeout. */
    static String run(long timeoutS, String... cmd) throws IOException, InterruptedException {
        Path out = Files.createTempFile(tmp, "out", ".txt");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in " + timeoutS + " s: " + Files.readString(out));
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " exited " + p.exitValue() + ": " + text);
        return text;
    }

    /** redis-cli on db 3 (the benchmark uses db 0). */
    static String cli(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("redis-cli", "-h", "127.0.0.1", "-p", String.valueOf(port), "-n", "3"));
        cmd.addAll(List.of(args));
        return run(30, cmd.toArray(new String[0])).trim();
    }

    @Test
    void redisCliSession() throws Exception {
        assertEquals("PONG", cli("ping"));
        assertEquals("OK", cli("set", "greeting", "hello ferry"));
        assertEquals("hello ferry", cli("get", "greeting"));
        assertEquals("3", cli("incrby", "visits", "3"));
        assertEquals("2", cli("hset", "user:1", "name", "Ada", "born", "1815"));
        assertEquals("name\nAda\nborn\n1815", cli("hgetall", "user:1"));
        assertEquals("hash", cli("type", "user:1"));
        assertEquals("3", cli("dbsize"));
        assertTrue(cli("info", "server").contains("redis_version:"));
        // RESP3 (-3): redis-cli prints the map's pairs, one per line.
        assertEquals("name Ada\nborn 1815", cli("-3", "hgetall", "user:1"));
        assertEquals("ERR unknown command 'zadd', with args beginning with: 'z' '1' 'x'", cli("zadd", "z", "1", "x"));
        // Lists, sets and KEYS as redis-cli prints them.
        assertEquals("3", cli("rpush", "tools:l", "a", "b", "c"));
        assertEquals("a\nb\nc", cli("lrange", "tools:l", "0", "-1"));
        assertEquals("c", cli("rpop", "tools:l"));
        assertEquals("2", cli("sadd", "tools:s", "x", "y"));
        assertEquals("list", cli("type", "tools:l"));
        assertEquals("set", cli("type", "tools:s"));
        assertEquals(List.of("tools:l", "tools:s"), cli("keys", "tools:*").lines().sorted().toList());
        assertEquals("1", cli("-3", "sismember", "tools:s", "y"));
        // A script through stdin, pipelined by redis-cli --pipe as mass insertion does.
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < 1000; i++) {
            script.append("SET pipe:").append(i).append(' ').append(i).append('\n');
        }
        Path in = tmp.resolve("mass.txt");
        Files.writeString(in, script);
        Process p = new ProcessBuilder("redis-cli", "-p", String.valueOf(port), "-n", "3", "--pipe").redirectInput(in.toFile())
                .redirectErrorStream(true).start();
        String pipe = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertTrue(pipe.contains("errors: 0, replies: 1000"), pipe);
        assertEquals("999", cli("get", "pipe:999"));
    }

    /** The command, exactly: 100,000 SETs and GETs from 50 clients with 100-byte values, no errors. */
    @Test
    void redisBenchmarkCompletesWithoutErrors() throws Exception {
        String out = run(600, "redis-benchmark", "-h", "127.0.0.1", "-p", String.valueOf(port),
                "-t", "set,get", "-n", "100000", "-c", "50", "-d", "100", "-q");
        String finalLines = out.replaceAll(".*\r", "");
        assertFalse(out.contains("ERR") || out.toLowerCase().contains("error"), out);
        for (String test : List.of("SET", "GET")) {
            Matcher m = Pattern.compile(test + ": ([0-9.]+) requests per second").matcher(finalLines);
            assertTrue(m.find(), test + " summary missing: " + finalLines);
            assertTrue(Double.parseDouble(m.group(1)) > 0, finalLines);
        }
        // Without -r redis-benchmark writes the one key "key:__rand_int__", a 100-byte value.
        assertEquals("100", run(30, "redis-cli", "-p", String.valueOf(port), "strlen", "key:__rand_int__").trim());
    }

    /**
     * redis-benchmark's list and set tests: 50 clients on one list ("mylist") and one set,
     * every push and pop a generation-checked read-modify-write of the whole record, with
     * no error (no race lost 32 times in a row) and nothing lost: as many pops as pushes
     * leave the list empty, hence deleted.
     */
    @Test
    void redisBenchmarkListsAndSetsWithoutErrors() throws Exception {
        String out = run(600, "redis-benchmark", "-h", "127.0.0.1", "-p", String.valueOf(port),
                "-t", "lpush,rpush,lpop,rpop,sadd", "-n", "1500", "-c", "50", "-q");
        String finalLines = out.replaceAll(".*\r", "");
        assertFalse(out.contains("ERR") || out.toLowerCase().contains("error"), out);
        for (String test : List.of("LPUSH", "RPUSH", "LPOP", "RPOP", "SADD")) {
            assertTrue(Pattern.compile(test + ": ([0-9.]+) requests per second").matcher(finalLines).find(), test + " missing: " + finalLines);
        }
        assertEquals("0", run(30, "redis-cli", "-p", String.valueOf(port), "llen", "mylist").trim());
        assertEquals("none", run(30, "redis-cli", "-p", String.valueOf(port), "type", "mylist").trim());
        assertEquals("1", run(30, "redis-cli", "-p", String.valueOf(port), "scard", "myset").trim());
    }
}
