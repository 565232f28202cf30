package io.ferrydb.client;

import io.ferrydb.api.Key;
import io.ferrydb.proto.FerryClusterGrpc;
import io.ferrydb.proto.FerryGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * The client's connections to one node: {@code connections} channels, each with its
 * pipelined session (opened lazily, replaced when broken), and blocking stubs for
 * unary calls. Keys are spread over the channels by partition, so operations on one
 * key always travel on one connection, in order.
 */
final class NodeConnection {
    private final String address;
    private final ClientConfig config;
    private final ManagedChannel[] channels;
    private final FerryGrpc.FerryStub[] stubs;
    private final PipelinedSession[] sessions;
    /** Replaced (broken) sessions still holding requests: the sweeper expires them too. */
    private final Queue<PipelinedSession> retired = new ConcurrentLinkedQueue<>();

    NodeConnection(String address, ClientConfig config) {
        this.address = address;
        this.config = config;
        int n = config.connections();
        this.channels = new ManagedChannel[n];
        this.stubs = new FerryGrpc.FerryStub[n];
        this.sessions = new PipelinedSession[n];
        for (int i = 0; i < n; i++) {
            channels[i] = NettyChannelBuilder.forTarget(address)
                    .usePlaintext()
                    .directExecutor()
                    .maxInboundMessageSize(64 * 1024 * 1024)
                    .build();
            stubs[i] = FerryGrpc.newStub(channels[i]);
        }
    }

    String address() {
        return address;
    }

    /** The session of the key's partition, opening a new one when the last broke. */
    PipelinedSession session(Key key) {
        int i = sessions.length == 1 ? 0 : key.partition() % sessions.length;
        PipelinedSession s = sessionAt(i);
        if (s == null || s.isBroken()) {
            synchronized (this) {
                s = sessions[i];
                if (s == null || s.isBroken()) {
                    if (s != null && !s.idle()) {
                        retired.add(s);
                    }
                    s = new PipelinedSession(address, stubs[i], config.maxRequestsPerMessage(), config.requestTimeoutMs());
                    sessions[i] = s;
                }
            }
        }
        return s;
    }

    private synchronized PipelinedSession sessionAt(int i) {
        return sessions[i];
    }

    /** A blocking stub with the request deadline. */
    FerryGrpc.FerryBlockingStub blocking() {
        return FerryGrpc.newBlockingStub(channels[0]).withDeadlineAfter(config.requestTimeoutMs(), TimeUnit.MILLISECONDS);
    }

    /** A blocking stub without a deadline, for streams that may run long (scans). */
    FerryGrpc.FerryBlockingStub streaming() {
        return FerryGrpc.newBlockingStub(channels[0]);
    }

    FerryClusterGrpc.FerryClusterBlockingStub cluster(long timeoutMs) {
        return FerryClusterGrpc.newBlockingStub(channels[0]).withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Fails requests past their deadline. */
    void expire(long nowNs) {
        for (int i = 0; i < sessions.length; i++) {
            PipelinedSession s = sessionAt(i);
            if (s != null) {
                s.expire(nowNs);
            }
        }
        retired.removeIf(s -> {
            s.expire(nowNs);
            return s.idle();
        });
    }

    /** Starts closing; {@link #awaitClosed} waits for it. */
    void close() {
        for (int i = 0; i < sessions.length; i++) {
            PipelinedSession s = sessionAt(i);
            if (s != null) {
                s.close();
            }
        }
        for (ManagedChannel channel : channels) {
            channel.shutdown();
        }
    }

    void awaitClosed(long deadlineNs) throws InterruptedException {
        for (ManagedChannel channel : channels) {
            if (!channel.awaitTermination(Math.max(1, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                channel.shutdownNow();
            }
        }
    }

    void closeNow() {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow();
        }
    }
}
