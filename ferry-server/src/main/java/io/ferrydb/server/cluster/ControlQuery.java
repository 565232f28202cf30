package io.ferrydb.server.cluster;

import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.HeartbeatRequest;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Read-only requests to the control-plane state machine. The first byte says what is
 * asked; the rest is its argument. A heartbeat answer starts with a status byte:
 * ANSWERED (the leader's controller replied) or REDIRECT with the leader the answering
 * peer knows, because linearizable reads are also served by followers and only the
 * leader's controller may grant a lease. Reads are not logged, so this format may change
 * between versions without a migration (only running peers of mixed versions would
 * disagree, and they fail the query with a clear error).
 */
final class ControlQuery {
    static final byte HEARTBEAT = 1;
    static final byte VIEW = 2;
    static final byte HISTORY = 3;

    /** First byte of a heartbeat answer: the rest is the controller's encoded reply. */
    static final byte ANSWERED = 0;
    /** First byte of a heartbeat answer from a peer that does not lead: the rest is the leader it knows (UTF-8, may be empty). */
    static final byte REDIRECT = 1;

    private ControlQuery() {}

    static byte[] heartbeat(HeartbeatRequest request) {
        byte[] body = ClusterCodec.encodeHeartbeat(request);
        byte[] out = new byte[body.length + 1];
        out[0] = HEARTBEAT;
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }

    static byte[] view() {
        return new byte[] {VIEW};
    }

    /** HISTORY, u16 partition, then the namespace name in UTF-8. */
    static byte[] history(String namespace, int partition) {
        checkPartition(partition);
        byte[] name = namespace.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(3 + name.length).put(HISTORY).putShort((short) partition).put(name).array();
    }

    /** The argument bytes after the kind byte. */
    static byte[] body(byte[] query) {
        return Arrays.copyOfRange(query, 1, query.length);
    }

    static int historyPartition(byte[] query) {
        if (query.length < 3) {
            throw new IllegalArgumentException("history query of " + query.length + " bytes is too short");
        }
        int partition = ((query[1] & 0xff) << 8) | (query[2] & 0xff);
        checkPartition(partition);
        return partition;
    }

    static String historyNamespace(byte[] query) {
        return new String(query, 3, query.length - 3, StandardCharsets.UTF_8);
    }

    static byte[] answered(byte[] encodedReply) {
        byte[] out = new byte[encodedReply.length + 1];
        out[0] = ANSWERED;
        System.arraycopy(encodedReply, 0, out, 1, encodedReply.length);
        return out;
    }

    static byte[] redirect(String leaderHint) {
        byte[] id = leaderHint == null ? new byte[0] : leaderHint.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[id.length + 1];
        out[0] = REDIRECT;
        System.arraycopy(id, 0, out, 1, id.length);
        return out;
    }

    static boolean isRedirect(byte[] answer) {
        if (answer.length == 0 || answer[0] != ANSWERED && answer[0] != REDIRECT) {
            throw new IllegalArgumentException("heartbeat answer of " + answer.length + " bytes has no valid status");
        }
        return answer[0] == REDIRECT;
    }

    static String redirectHint(byte[] answer) {
        return new String(answer, 1, answer.length - 1, StandardCharsets.UTF_8);
    }

    private static void checkPartition(int partition) {
        if (partition < 0 || partition >= Limits.PARTITION_COUNT) {
            throw new IllegalArgumentException("partition must be 0.." + (Limits.PARTITION_COUNT - 1) + ", got " + partition);
        }
    }
}
