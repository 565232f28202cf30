package io.ferrydb.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ferrydb.api.FerryException;
import io.ferrydb.api.Key;
import io.ferrydb.api.Value;
import io.ferrydb.client.FerryClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code ferry load FILE}: a mirrored bulk load from CSV (a header row names the
 * columns; the key column is the record key, the others are bins, values read like
 * {@code ferry put}'s) or JSON lines (one object per line; its key field is the key, the
 * other fields are bins). Records go in batches through the client's bulk API: SST
 * ingest on each partition's master and mirrors, without log entries. A progress line
 * per second; bad input names the line and field and loads nothing of that batch.
 */
@Command(name = "load", description = "Bulk-load a CSV or JSON-lines file: SST ingest on masters and mirrors, no log entries.")
final class LoadCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;
    @Mixin
    ClientOptions client;

    @Parameters(index = "0", paramLabel = "FILE", description = "A .csv or .jsonl file.")
    Path file;

    @Option(names = "--ns", defaultValue = "test", description = "Namespace (default: ${DEFAULT-VALUE}).")
    String namespace;

    @Option(names = "--set", required = true, description = "Set the records go to.")
    String set;

    @Option(names = "--format", description = "csv or jsonl (default: from the file name).")
    String format;

    @Option(names = "--key-field", defaultValue = "key", description = "Column or field holding the key (default: ${DEFAULT-VALUE}).")
    String keyField;

    @Option(names = "--batch", defaultValue = "5000", description = "Records per bulk call (default: ${DEFAULT-VALUE}).")
    int batch;

    @Override
    public Integer call() throws IOException {
        if (batch < 1 || batch > 50_000) {
            throw FerryException.invalid("--batch must be 1..50000, got %d", batch);
        }
        String fmt = format != null ? format : file.toString().endsWith(".csv") ? "csv" : file.toString().endsWith(".jsonl") ? "jsonl" : null;
        if (!"csv".equals(fmt) && !"jsonl".equals(fmt)) {
            throw FerryException.invalid("--format must be csv or jsonl (or a FILE ending in .csv or .jsonl), got '%s'", format == null ? file : format);
        }
        if (!Files.isRegularFile(file)) {
            throw FerryException.invalid("FILE %s is not a readable file", file);
        }
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        long loaded = 0;
        long lastProgress = start;
        int lineNo = 0;
        List<Key> keys = new ArrayList<>(batch);
        List<Map<String, Value>> bins = new ArrayList<>(batch);
        try (FerryClient c = client.connect(); BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            List<String> header = null;
            String line;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                if ("csv".equals(fmt) && header == null) {
                    header = csv(line, lineNo);
                    if (!header.contains(keyField)) {
                        throw FerryException.invalid("line 1: the header has no key column '%s' (--key-field): %s", keyField, header);
                    }
                    continue;
                }
                Map<String, Value> record = new LinkedHashMap<>();
                String key = "csv".equals(fmt) ? csvRecord(header, line, lineNo, record) : jsonRecord(line, lineNo, record);
                keys.add(ValueParser.key(namespace, set, key, "string"));
                bins.add(record);
                if (keys.size() == batch) {
                    loaded += send(c, keys, bins, lineNo);
                }
                long now = System.nanoTime();
                if (now - lastProgress >= 1_000_000_000L) {
                    lastProgress = now;
                    err.printf("loaded %,d records (%,.0f/s), at line %,d%n", loaded, loaded / ((now - start) / 1e9), lineNo);
                    err.flush();
                }
            }
            if (!keys.isEmpty()) {
                loaded += send(c, keys, bins, lineNo);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (client.json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("loaded", loaded);
            m.put("lines", lineNo);
            m.put("seconds", Math.round(seconds * 1000) / 1000.0);
            m.put("records_per_s", Math.round(loaded / Math.max(seconds, 1e-9)));
            spec.commandLine().getOut().println(Output.json(m));
        } else {
            spec.commandLine().getOut().printf("loaded %,d records from %s into %s/%s in %.2f s (%,.0f/s), SST ingest on masters and mirrors%n",
                    loaded, file, namespace, set, seconds, loaded / Math.max(seconds, 1e-9));
        }
        return 0;
    }

    private static long send(FerryClient c, List<Key> keys, List<Map<String, Value>> bins, int lineNo) {
        try {
            long n = c.bulkLoad(keys, bins);
            keys.clear();
            bins.clear();
            return n;
        } catch (FerryException e) {
            throw new FerryException(e.code(), "batch ending at line " + lineNo + ": " + e.reason(), e);
        }
    }

    private String jsonRecord(String line, int lineNo, Map<String, Value> record) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            throw FerryException.invalid("line %d: not JSON: %s", lineNo, e.getMessage().lines().findFirst().orElse(""));
        }
        if (n == null || !n.isObject()) {
            throw FerryException.invalid("line %d: not a JSON object", lineNo);
        }
        JsonNode k = n.get(keyField);
        if (k == null || k.isNull() || k.isContainerNode()) {
            throw FerryException.invalid("line %d: field '%s' (the key, --key-field) is missing or not a scalar", lineNo, keyField);
        }
        for (Map.Entry<String, JsonNode> f : n.properties()) {
            if (!f.getKey().equals(keyField)) {
                record.put(f.getKey(), ValueParser.fromJson("line " + lineNo + " field " + f.getKey(), f.getValue()));
            }
        }
        return k.asText();
    }

    private String csvRecord(List<String> header, String line, int lineNo, Map<String, Value> record) {
        List<String> cells = csv(line, lineNo);
        if (cells.size() != header.size()) {
            throw FerryException.invalid("line %d: %d columns, the header has %d", lineNo, cells.size(), header.size());
        }
        String key = null;
        for (int i = 0; i < cells.size(); i++) {
            if (header.get(i).equals(keyField)) {
                key = cells.get(i);
            } else if (!cells.get(i).isEmpty()) {
                record.put(header.get(i), ValueParser.value("line " + lineNo + " column " + header.get(i), cells.get(i)));
            }
        }
        if (key == null || key.isEmpty()) {
            throw FerryException.invalid("line %d: the key column '%s' is empty", lineNo, keyField);
        }
        return key;
    }

    /** One CSV line (RFC 4180 quoting: "a ""quoted"", comma" is one cell). */
    static List<String> csv(String line, int lineNo) {
        List<String> cells = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quoted) {
                if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cell.append('"');
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    cell.append(ch);
                }
            } else if (ch == '"' && cell.length() == 0) {
                quoted = true;
            } else if (ch == ',') {
                cells.add(cell.toString());
                cell.setLength(0);
            } else {
                cell.append(ch);
            }
        }
        if (quoted) {
            throw FerryException.invalid("line %d: unterminated quote", lineNo);
        }
        cells.add(cell.toString());
        return cells;
    }
}
