package io.ferrydb.server.config;

import io.ferrydb.api.Durability;
import io.ferrydb.api.ErrorCode;
import io.ferrydb.api.FerryException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NodeConfigTest {
    @TempDir
    Path tmp;

    private static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("docs/ferry.yaml"))) {
            p = p.getParent();
        }
        return p;
    }

    @Test
    void documentedConfigLoadsAndMatchesTheEmbeddedDefaults() {
        NodeConfig c = NodeConfig.load(repoRoot().resolve("docs/ferry.yaml"));
        NodeConfig d = new NodeConfig();
        assertEquals(d.toYaml(), c.toYaml(), "docs/ferry.yaml must show the embedded defaults");
        assertEquals(7400, c.port);
        assertEquals(Durability.SYNC, c.namespaceConfigs().get(0).defaultDurability());
    }

    @Test
    void unknownKeyIsRefusedNamingItsPath() throws IOException {
        Path f = tmp.resolve("bad.yaml");
        Files.writeString(f, "namespaces:\n  - name: a\n    replication-factr: 2\n");
        FerryException e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("namespaces[0].replication-factr"), e.getMessage());
    }

    @Test
    void wrongTypeIsRefusedNamingTheField() throws IOException {
        Path f = tmp.resolve("bad.yaml");
        Files.writeString(f, "port: lots\n");
        FerryException e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("'port'"), e.getMessage());
    }

    @Test
    void outOfRangeValuesAreRefusedNamingTheField() throws IOException {
        Path f = tmp.resolve("bad.yaml");
        Files.writeString(f, "namespaces:\n  - name: a\n    max-record-size-bytes: 10\n");
        FerryException e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("namespaces[0]") && e.getMessage().contains("max-record-size-bytes"), e.getMessage());

        Files.writeString(f, "async-flush-ms: 0\n");
        e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("async-flush-ms"), e.getMessage());

        Files.writeString(f, "record-cache-bytes: 4096\n");
        e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("record-cache-bytes must be 0 (off) or >= 1 MiB, got 4096"), e.getMessage());
        Files.writeString(f, "record-cache-bytes: 0\n");
        assertEquals(0, NodeConfig.load(f).recordCacheBytes, "0 turns the cache off");

        Files.writeString(f, "namespaces:\n  - name: a\n  - name: a\n");
        e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("namespaces[1].name 'a' is configured twice"), e.getMessage());
    }

    @Test
    void emptyFileGivesDefaults() throws IOException {
        Path f = tmp.resolve("empty.yaml");
        Files.writeString(f, "");
        assertEquals(new NodeConfig().toYaml(), NodeConfig.load(f).toYaml());
    }

    @Test
    void redisSectionIsCheckedAndEnablingItAddsItsNamespace() throws IOException {
        Path f = tmp.resolve("redis.yaml");
        Files.writeString(f, "redis:\n  port: 70000\n");
        FerryException e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("redis.port"), e.getMessage());
        Files.writeString(f, "redis:\n  io-thread: 2\n");
        e = assertThrows(FerryException.class, () -> NodeConfig.load(f));
        assertTrue(e.getMessage().contains("redis.io-thread"), e.getMessage());
        Files.writeString(f, "redis:\n  enabled: true\n  namespace: kv\n");
        NodeConfig c = NodeConfig.load(f);
        assertEquals(java.util.List.of("test", "kv"), c.namespaceConfigs().stream().map(n -> n.name()).toList());
        assertEquals(Durability.ASYNC, c.namespaceConfigs().get(1).defaultDurability());
        assertTrue(!new NodeConfig().redis.enabled, "off unless enabled");
    }
}
