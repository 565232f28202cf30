package io.ferrydb.redis;

import io.ferrydb.redis.RedisValues.RedisError;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * MULTI / EXEC / DISCARD. After MULTI a connection's commands are checked (name, arity,
 * authentication: a refusal answers the error at once and dooms the transaction, as in
 * Redis) and queued, answered {@code +QUEUED}; EXEC runs them in order, each after the
 * previous one completed (so each sees the effects of those before it), and answers the
 * array of their replies, errors included; DISCARD drops the queue.
 *
 * <p>What this gives, and no more (docs/REDIS.md): ordering on this connection, and no
 * command of this connection between the queued ones. It is not isolation: commands of
 * other connections, nodes and native clients can run between two queued commands and
 * see the first one's effect before the second's. It is not all-or-nothing: a command
 * that fails at EXEC leaves the ones before it applied and the ones after it still run
 * (Redis does the same for errors at EXEC, but Redis also runs the whole queue without
 * any other client in between; FerryDB does not). WATCH is not implemented.
 */
final class Transactions {
    static final Reply QUEUED = new Reply.Simple("QUEUED");
    /** Run at once inside MULTI, never queued (Redis also runs WATCH and RESET at once; neither exists here). */
    static final Set<String> IMMEDIATE = Set.of("multi", "exec", "discard", "quit");

    private final Commands commands;

    Transactions(Commands commands) {
        this.commands = commands;
    }

    void register(Commands t) {
        t.add("multi", 1, false, (c, a) -> {
            if (c.queued != null) {
                throw new RedisError("ERR MULTI calls can not be nested");
            }
            c.queued = new ArrayList<>();
            c.queueFailed = false;
            return Reply.OK;
        });
        t.add("discard", 1, false, (c, a) -> {
            if (c.queued == null) {
                throw new RedisError("ERR DISCARD without MULTI");
            }
            c.queued = null;
            return Reply.OK;
        });
        t.add("exec", 1, false, this::exec);
    }

    private Object exec(RedisConnection c, byte[][] a) {
        List<byte[][]> queue = c.queued;
        if (queue == null) {
            throw new RedisError("ERR EXEC without MULTI");
        }
        c.queued = null;
        if (c.queueFailed) {
            throw new RedisError("EXECABORT Transaction discarded because of previous errors.");
        }
        CompletableFuture<Reply> done = new CompletableFuture<>();
        runFrom(c, queue, 0, new ArrayList<>(queue.size()), done);
        // Commands behind EXEC wait for the whole transaction.
        c.unfinished = true;
        return done;
    }

    /**
     * Runs queued commands from {@code from} on, in order, on the connection's event
     * loop: one that completes later resumes the rest there when it has.
     */
    private void runFrom(RedisConnection c, List<byte[][]> queue, int from, List<Reply> replies, CompletableFuture<Reply> done) {
        for (int i = from; i < queue.size(); i++) {
            Object result;
            try {
                result = commands.invoke(c, queue.get(i));
            } catch (RuntimeException e) {
                result = RedisConnection.errorReply(e);
            }
            if (result instanceof Reply r) {
                replies.add(r);
                continue;
            }
            @SuppressWarnings("unchecked")
            CompletableFuture<Reply> f = (CompletableFuture<Reply>) result;
            if (f.isDone()) {
                replies.add(RedisConnection.settle(f));
                continue;
            }
            int next = i + 1;
            f.whenCompleteAsync((r, e) -> {
                replies.add(RedisConnection.settle(f));
                runFrom(c, queue, next, replies, done);
            }, c.eventLoop());
            return;
        }
        done.complete(new Reply.Arr(replies));
    }
}
