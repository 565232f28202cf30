package io.ferrydb.cli;

import io.ferrydb.proto.LossEntry;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LossesCommandTest {
    private static LossEntry entry(String kind, long epoch, long from, long to, String by) {
        return LossEntry.newBuilder().setId(1).setNamespace("test").setPartition(7).setEpoch(epoch).setNewEpoch(epoch + 1)
                .setFromLsn(from).setToLsn(to).setCount(to - from + 1).setCertainty("POSSIBLY_ACKNOWLEDGED").setKind(kind)
                .setDetectedBy(by).setDetectedAtMs(0).setDetail("").build();
    }

    @Test
    void aFailoverGapIsCountedUntilTheFailedMastersTailAccountsForIt() {
        LossEntry gap = entry("FAILOVER", 4, 11, 14, "n2");
        LossEntry tail = entry("DIVERGENT_TAIL", 4, 11, 16, "n1");
        LossEntry olderTail = entry("DIVERGENT_TAIL", 3, 11, 16, "n1");
        assertFalse(LossesCommand.superseded(gap, List.of(gap)));
        assertFalse(LossesCommand.superseded(gap, List.of(gap, olderTail)), "another epoch's tail says nothing about it");
        assertTrue(LossesCommand.superseded(gap, List.of(gap, tail)));
        assertFalse(LossesCommand.superseded(tail, List.of(gap, tail)));

        StringWriter alone = new StringWriter();
        LossesCommand.print(new PrintWriter(alone, true), List.of(gap), List.of(), false);
        assertTrue(alone.toString().startsWith("4 lost write(s) in 1 ledger record(s)"), alone.toString());
        assertTrue(alone.toString().contains("unknown until its failed master returns"), alone.toString());

        StringWriter both = new StringWriter();
        LossesCommand.print(new PrintWriter(both, true), List.of(gap, tail), List.of(), false);
        assertTrue(both.toString().startsWith("6 lost write(s) in 2 ledger record(s)"), "counted once, by the tail: " + both);
        assertTrue(both.toString().contains("superseded"), both.toString());

        StringWriter json = new StringWriter();
        LossesCommand.print(new PrintWriter(json, true), List.of(gap, tail), List.of(), true);
        assertTrue(json.toString().contains("\"superseded\":true"), json.toString());
        assertTrue(json.toString().contains("\"lost_writes\":6"), json.toString());
    }
}
