package io.ferrydb.redis;

import io.ferrydb.api.CommitLevel;
import io.ferrydb.api.Durability;
import io.ferrydb.api.FerryException;
import io.ferrydb.proto.FlushScope;
import io.ferrydb.server.service.RequestHandler;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One client connection. Commands run in arrival order on the connection's event loop
 * and are answered in that order, however they complete. A command whose effect is not
 * in place when it returns (a write queued for its partition's storage thread, a
 * command forwarded to another node, a scan) holds back the commands behind it, so a
 * pipelined read always sees the writes sent before it; plain SETs and GETs instead
 * share the event loop's {@link LoopBatch}, which keeps their order itself. Answers that are ready leave
 * together at the end of a read cycle (one flush per batch of pipelined commands).
 *
 * <p>Bounded: at most {@code maxPipelined} commands wait or are unanswered; beyond it
 * the connection stops reading until answers drain (TCP pushes back on the client).
 */
final class RedisConnection extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(RedisConnection.class);

    final RedisEndpoint endpoint;
    final long id;
    final long createdAtMs = System.currentTimeMillis();
    String name = "";
    int db;
    String set = "db0";
    int protocol = 2;
    boolean authenticated;
    volatile Durability durability;
    volatile CommitLevel commitLevel;
    /**
     * Set while a command runs when its effect is not in place when it returns (forwarded
     * to another node, queued for a storage thread, a scan): later commands wait for it.
     */
    volatile boolean unfinished;
    /** Commands queued since MULTI (null: not in a transaction); see {@link Transactions}. */
    java.util.List<byte[][]> queued;
    /** A command was refused while queueing: EXEC answers EXECABORT. */
    boolean queueFailed;
    /** Highest LSN this connection wrote per partition mastered here (WAIT). Bounded by the partition count. */
    final Map<Integer, Long> localWrites = new ConcurrentHashMap<>();
    /** Commit level of this connection's forwarded writes per partition (WAIT). */
    final Map<Integer, CommitLevel> remoteWrites = new ConcurrentHashMap<>();

    private ChannelHandlerContext ctx;
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();
    private final ArrayDeque<Slot> unanswered = new ArrayDeque<>();
    private CompletableFuture<Reply> barrier;
    /** The last SET/GET handed to the event loop's {@link LoopBatch}; other commands wait until it is answered. */
    private CompletableFuture<Reply> lastBatched;
    private boolean closing;
    /** The socket is gone: pollers (WAIT) stop. */
    volatile boolean closed;

    private static final class Slot {
        Reply reply;
        CompletableFuture<Reply> pending;
        boolean closeAfter;
    }

    RedisConnection(RedisEndpoint endpoint, long id) {
        this.endpoint = endpoint;
        this.id = id;
        this.authenticated = endpoint.settings().password.isEmpty();
        this.durability = endpoint.settings().durability;
        this.commitLevel = endpoint.settings().commitLevel;
    }

    void select(int db) {
        this.db = db;
        this.set = "db" + db;
    }

    void noteLocalWrite(int partition, long lsn) {
        localWrites.merge(partition, lsn, Math::max);
    }

    void noteRemoteWrite(int partition, CommitLevel level) {
        remoteWrites.put(partition, level);
    }

    java.util.concurrent.Executor eventLoop() {
        return ctx.channel().eventLoop();
    }

    String remoteAddress() {
        return ctx == null ? "?" : String.valueOf(ctx.channel().remoteAddress()).replaceFirst("^/", "");
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        endpoint.opened(this);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        endpoint.closed(this);
        waiting.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (closing) {
            return;
        }
        if (msg instanceof RespDecoder.ProtocolError e) {
            Slot s = new Slot();
            s.reply = Reply.error("ERR " + e.message());
            s.closeAfter = true;
            unanswered.add(s);
            closing = true;
            return;
        }
        waiting.add(msg);
        runWaiting();
        if (waiting.size() + unanswered.size() >= endpoint.settings().maxPipelined) {
            ctx.channel().config().setAutoRead(false);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        answer();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof java.io.IOException)) {
            LOG.warn("redis connection {} failed", id, cause);
        }
        ctx.close();
    }

    /** Runs waiting commands in order until one must wait for an unfinished command before it. */
    private void runWaiting() {
        while (!waiting.isEmpty() && !closing) {
            if (barrier != null && !barrier.isDone()) {
                return;
            }
            barrier = null;
            byte[][] next = (byte[][]) waiting.peek();
            if (lastBatched != null && !lastBatched.isDone() && !batchable(next)) {
                barrier = lastBatched;
                return;
            }
            execute((byte[][]) waiting.poll());
        }
    }

    private static boolean batchable(byte[][] args) {
        return (args.length == 3 && Commands.is(args[0], "set")) || (args.length == 2 && Commands.is(args[0], "get"));
    }

    /**
     * A plain SET of a key mastered here joins the event loop's batch; so does a GET
     * while this connection has batched commands unanswered (it must see them). Null:
     * not batched, run it as any other command.
     */
    private CompletableFuture<Reply> tryBatch(byte[][] args) {
        if (!authenticated || queued != null || !batchable(args)) {
            return null;
        }
        boolean set = args.length == 3;
        if (!set && (lastBatched == null || lastBatched.isDone())) {
            return null;
        }
        io.ferrydb.api.Key key;
        try {
            key = Commands.key(this, endpoint.keyspace().namespace(), args[1]);
        } catch (RuntimeException e) {
            return null;
        }
        if (!endpoint.keyspace().local(key.partition())) {
            return null;
        }
        endpoint.metrics().command(set ? "set" : "get");
        LoopBatch batch = endpoint.batch(ctx.channel().eventLoop());
        return set ? batch.set(this, key, args[2]) : batch.get(this, key);
    }

    private void execute(byte[][] args) {
        unfinished = false;
        Object result;
        try {
            CompletableFuture<Reply> batched = tryBatch(args);
            if (batched != null) {
                lastBatched = batched;
                result = batched;
            } else {
                result = endpoint.commands().run(this, args);
            }
        } catch (RuntimeException e) {
            result = errorReply(e);
        }
        Slot s = new Slot();
        if (result instanceof Reply r) {
            s.reply = r;
        } else {
            @SuppressWarnings("unchecked")
            CompletableFuture<Reply> f = (CompletableFuture<Reply>) result;
            if (f.isDone()) {
                s.reply = settle(f);
            } else {
                s.pending = f;
                if (unfinished) {
                    barrier = f;
                }
                f.whenComplete((r, e) -> scheduleResume());
            }
        }
        if (s.reply == Commands.QUIT_REPLY) {
            s.reply = Reply.OK;
            s.closeAfter = true;
            closing = true;
        }
        unanswered.add(s);
    }

    private final java.util.concurrent.atomic.AtomicBoolean resumeScheduled = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Connections to wake per event loop, gathered while a storage thread runs a batch
     * ({@link #gatherWakeups}) or while a {@link FlushScope} is open (a message of answers
     * to forwarded commands): one task per loop instead of one per connection.
     */
    private static final ThreadLocal<Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>>> WAKEUPS = new ThreadLocal<>();
    /** Registers a scope's wake-ups with {@link FlushScope} (once per scope). */
    private static final Object SCOPE_WAKEUPS = new Object();

    /** Runs {@code work}, then wakes the connections it completed commands of, one task per event loop. */
    static void gatherWakeups(Runnable work) {
        Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>> outer = WAKEUPS.get();
        Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>> wake = new java.util.HashMap<>();
        WAKEUPS.set(wake);
        try {
            work.run();
        } finally {
            // An enclosing scope's gathering stays in place for what completes after this.
            if (outer != null) {
                WAKEUPS.set(outer);
            } else {
                WAKEUPS.remove();
            }
            wake(wake);
        }
    }

    private static void wake(Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>> wake) {
        for (Map.Entry<io.netty.channel.EventLoop, java.util.List<RedisConnection>> e : wake.entrySet()) {
            java.util.List<RedisConnection> conns = e.getValue();
            e.getKey().execute(() -> {
                for (RedisConnection c : conns) {
                    c.resume();
                }
            });
        }
    }

    /** Many commands completing together (a batch, a group commit, a message of answers) wake the connection once. */
    private void scheduleResume() {
        if (resumeScheduled.compareAndSet(false, true)) {
            Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>> gathering = WAKEUPS.get();
            if (gathering == null) {
                Map<io.netty.channel.EventLoop, java.util.List<RedisConnection>> scoped = new java.util.HashMap<>();
                if (FlushScope.deferIfActive(SCOPE_WAKEUPS, () -> {
                    WAKEUPS.remove();
                    wake(scoped);
                })) {
                    WAKEUPS.set(scoped);
                    gathering = scoped;
                }
            }
            if (gathering != null) {
                gathering.computeIfAbsent(ctx.channel().eventLoop(), l -> new java.util.ArrayList<>()).add(this);
            } else {
                ctx.channel().eventLoop().execute(this::resume);
            }
        }
    }

    /** On the event loop after an asynchronous command completed: answer, then run what waited for it. */
    private void resume() {
        resumeScheduled.set(false);
        runWaiting();
        answer();
    }

    /** Writes every answer that is ready, in order, and flushes once. */
    private void answer() {
        ByteBuf out = null;
        boolean close = false;
        while (!unanswered.isEmpty()) {
            Slot s = unanswered.peek();
            if (s.reply == null) {
                if (!s.pending.isDone()) {
                    break;
                }
                s.reply = settle(s.pending);
            }
            unanswered.poll();
            if (out == null) {
                out = ctx.alloc().ioBuffer();
            }
            if (s.reply instanceof Reply.Err err) {
                endpoint.metrics().error(err.message());
            }
            s.reply.write(out, protocol);
            if (s.closeAfter) {
                close = true;
                break;
            }
        }
        if (out != null) {
            if (close) {
                ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            ctx.writeAndFlush(out);
        }
        if (!ctx.channel().config().isAutoRead() && waiting.size() + unanswered.size() < endpoint.settings().maxPipelined / 2) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    static Reply settle(CompletableFuture<Reply> f) {
        try {
            return f.join();
        } catch (RuntimeException e) {
            return errorReply(e);
        }
    }

    /** An exception as the client sees it: Redis errors as they are, FerryDB refusals with their status. */
    static Reply errorReply(Throwable t) {
        Throwable c = t;
        while ((c instanceof java.util.concurrent.CompletionException || c instanceof java.util.concurrent.ExecutionException)
                && c.getCause() != null) {
            c = c.getCause();
        }
        if (c instanceof RedisValues.RedisError e) {
            return Reply.error(e.getMessage());
        }
        FerryException fe = RequestHandler.failure(c);
        if (fe.code() == io.ferrydb.api.ErrorCode.INTERNAL) {
            LOG.error("redis command failed", c);
        }
        return Reply.error("ERR " + fe.code() + ": " + fe.reason());
    }
}
