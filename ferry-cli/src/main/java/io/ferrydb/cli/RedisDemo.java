package io.ferrydb.cli;

import io.ferrydb.redis.RedisEndpoint;
import io.ferrydb.server.FerryNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The demo's Redis step: a node's Redis endpoint answering a few commands sent as a
 * Redis client would (RESP over a socket), so the output shows the wire answers.
 */
final class RedisDemo {
    private RedisDemo() {}

    /** Starts the endpoint on a free port, runs the commands, prints each answer, stops the endpoint. */
    static Map<String, Object> run(FerryNode node, java.util.function.BiConsumer<String, Object[]> say) throws IOException {
        Map<String, Object> report = new LinkedHashMap<>();
        try (RedisEndpoint redis = RedisEndpoint.start(node);
             Socket s = new Socket("127.0.0.1", redis.port())) {
            say.accept("Redis endpoint of node %s on 127.0.0.1:%d (namespace %s, SELECT n = set db<n>); try redis-cli -p %d",
                    new Object[] {node.config().nodeId, redis.port(), node.config().redis.namespace, redis.port()});
            List<List<String>> commands = List.of(
                    List.of("SET", "greeting", "hello from FerryDB"), List.of("GET", "greeting"),
                    List.of("INCRBY", "visits", "41"), List.of("INCR", "visits"),
                    List.of("HSET", "user:ada", "name", "Ada", "born", "1815"), List.of("HGETALL", "user:ada"),
                    List.of("SET", "session", "x", "PX", "1500"), List.of("PTTL", "session"), List.of("TYPE", "user:ada"),
                    List.of("LPUSH", "list", "x"), List.of("DBSIZE"));
            List<String> lines = new ArrayList<>();
            for (List<String> cmd : commands) {
                String answer = call(s, cmd);
                say.accept("redis> %s -> %s", new Object[] {String.join(" ", cmd), answer});
                lines.add(String.join(" ", cmd) + " -> " + answer);
            }
            report.put("redis_port", redis.port());
            report.put("redis_session", lines);
        }
        return report;
    }

    /** Sends one command as a RESP array and reads one answer, rendered on one line. */
    private static String call(Socket s, List<String> cmd) throws IOException {
        OutputStream out = s.getOutputStream();
        StringBuilder req = new StringBuilder("*").append(cmd.size()).append("\r\n");
        for (String a : cmd) {
            req.append('$').append(a.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(a).append("\r\n");
        }
        out.write(req.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
        return read(s.getInputStream());
    }

    private static String read(InputStream in) throws IOException {
        String line = line(in);
        char type = line.charAt(0);
        String rest = line.substring(1);
        return switch (type) {
            case '+', ':' -> rest;
            case '-' -> "(error) " + rest;
            case '$' -> {
                int n = Integer.parseInt(rest);
                if (n < 0) {
                    yield "(nil)";
                }
                byte[] b = in.readNBytes(n + 2);
                yield "\"" + new String(b, 0, n, StandardCharsets.UTF_8) + "\"";
            }
            case '*' -> {
                int n = Integer.parseInt(rest);
                List<String> items = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    items.add(read(in));
                }
                yield items.toString();
            }
            default -> throw new IOException("unexpected RESP type " + type);
        };
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) {
                throw new IOException("connection closed");
            }
            if (c != '\r') {
                b.write(c);
            }
        }
        return b.toString(StandardCharsets.UTF_8);
    }
}
