package io.ferrydb.cli;

import io.ferrydb.api.Durability;
import io.ferrydb.core.namespace.NamespaceConfig;
import io.ferrydb.server.config.NodeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StartLocalCommandTest {

    @Test
    void theReplicationFactorReachesBothNamespacesOfEveryNode(@TempDir Path dir) throws Exception {
        Path file = StartLocalCommand.writeNamespaces(dir, 1);
        NodeConfig c = NodeConfig.load(file);
        Map<String, NamespaceConfig> byName = c.namespaceConfigs().stream().collect(Collectors.toMap(NamespaceConfig::name, n -> n));
        assertEquals(1, byName.get("test").replicationFactor());
        assertEquals(1, byName.get("redis").replicationFactor());
        assertEquals(Durability.ASYNC, byName.get("redis").defaultDurability());
        assertEquals(2, byName.size());
    }

    @Test
    void aReplicationFactorOutOfRangeIsRefusedByName(@TempDir Path dir) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StartLocalCommand.writeNamespaces(dir, 0));
        assertTrue(e.getMessage().contains("--replication-factor"), e.getMessage());
    }
}
