package io.ferrydb.server.cluster;

import io.ferrydb.api.FerryException;
import io.ferrydb.api.Limits;
import io.ferrydb.core.cluster.ApplyResult;
import io.ferrydb.core.cluster.ClusterCodec;
import io.ferrydb.core.cluster.ClusterCommand;
import io.ferrydb.core.cluster.ClusterTimings;
import io.ferrydb.core.cluster.ClusterView;
import io.ferrydb.core.cluster.HeartbeatReply;
import io.ferrydb.core.cluster.HeartbeatRequest;
import io.ferrydb.core.cluster.HistoryEntry;
import io.ferrydb.core.cluster.Liveness;
import io.ferrydb.core.cluster.NamespaceSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Ratis control plane with real Ratis servers on loopback ports and temporary directories. */
class RatisControlPlaneTest {
    private static final String NS = "test";
    /** Long enough that nodes which never heartbeat in these tests are not declared failed. */
    private static final ClusterTimings PATIENT = new ClusterTimings(1000, 5000, 30_000, 1000, 0.1);

    @TempDir
    Path tmp;
    private final List<RatisControlPlane> planes = new ArrayList<>();

    @AfterEach
    void closeAll() {
        planes.forEach(RatisControlPlane::close);
    }

    // --- single voter ---

    @Test
    void singleVoterCommitsJoinAnswersHeartbeatsAndSurvivesRestartFromSnapshot() throws Exception {
        Map<String, String> voters = voters("n1");
        ControlPlaneConfig config = ControlPlaneConfig.of("n1", voters, tmp.resolve("n1"))
                .withTimings(PATIENT).withSnapshotThresholdEntries(5);
        RatisControlPlane plane = start(config);
        List<ClusterView> seen = new CopyOnWriteArrayList<>();
        plane.addViewListener(seen::add);
        awaitTrue(() -> plane.isLeader(), 5000, "single voter elects itself");
        assertEquals(Optional.of("n1"), plane.leaderId());

        ApplyResult r = get(plane.submit(join("n1")));
        assertInstanceOf(ApplyResult.Applied.class, r);
        ClusterView v = get(plane.view());
        assertEquals(r.version(), v.version());
        assertEquals(Liveness.ALIVE, v.member("n1").liveness());
        assertEquals(Map.of("n1", Limits.PARTITION_COUNT), v.mastersPerNode(NS));
        assertEquals(v.version(), seen.get(seen.size() - 1).version(), "listener saw the applied view");

        HeartbeatReply hb = get(plane.heartbeat(heartbeat("n1", v.version())));
        assertTrue(hb.fromLeader());
        assertTrue(hb.leaseGranted());
        assertEquals(v.version(), hb.version());
        assertEquals(null, hb.view(), "the node already holds this version");
        assertTrue(plane.heartbeatAgesMs().containsKey("n1"));
        HeartbeatReply stranger = get(plane.heartbeat(heartbeat("n7", 0)));
        assertTrue(stranger.fromLeader());
        assertFalse(stranger.leaseGranted(), "an unknown node gets no lease (its heartbeat proposes its join)");

        // More log entries than the snapshot threshold: repeated joins are no-ops but still logged.
        for (int i = 0; i < 8; i++) {
            get(plane.submit(join("n1")));
        }
        get(plane.submit(join("n2")));
        awaitTrue(() -> plane.latestSnapshotFile().isPresent(), 5000, "a snapshot is taken after 5 entries");
        assertTrue(plane.snapshotsTaken() > 0);
        ClusterView before = get(plane.view());
        List<HistoryEntry> historyBefore = get(plane.history(NS, 17));
        assertFalse(historyBefore.isEmpty());
        plane.close();
        assertEquals(RatisControlPlane.State.CLOSED, plane.state());

        Path snapshot = plane.latestSnapshotFile().orElseThrow();
        assertTrue(Files.exists(snapshot), "snapshot file on disk: " + snapshot);
        assertTrue(Files.exists(snapshot.resolveSibling(snapshot.getFileName() + ".md5")), "with its MD5 file");

        RatisControlPlane again = start(config);
        assertTrue(again.snapshotsLoaded() > 0, "restart loads the snapshot");
        awaitTrue(() -> again.localView().version() == before.version(), 5000, "snapshot + log tail restore the state");
        awaitTrue(() -> again.isLeader(), 5000, "restarted voter leads again");
        ClusterView after = get(again.view());
        assertEquals(before.version(), after.version());
        assertEquals(before.members(), after.members());
        assertEquals(before.mastersPerNode(NS), after.mastersPerNode(NS));
        for (int p = 0; p < Limits.PARTITION_COUNT; p += 97) {
            assertEquals(before.entry(NS, p), after.entry(NS, p), "partition " + p);
        }
        assertEquals(historyBefore, get(again.history(NS, 17)));
        ApplyResult more = get(again.submit(join("n3")));
        assertTrue(more.version() > before.version(), "commits continue after the restart");
    }

    @Test
    void leaderDeclaresASilentNodeFailed() throws Exception {
        RatisControlPlane plane = start(ControlPlaneConfig.of("n1", voters("n1"), tmp.resolve("n1"))
                .withTimings(new ClusterTimings(100, 300, 500, 200, 0.1)));
        awaitTrue(() -> plane.isLeader(), 5000, "leader");
        // n1 joins the way nodes do, through its heartbeats; n2 is joined by a command and then stays silent.
        awaitTrue(() -> get(plane.heartbeat(heartbeat("n1", 0))).leaseGranted(), 5000, "n1 joined by heartbeat");
        get(plane.submit(join("n2")));
        assertEquals(Liveness.ALIVE, plane.localView().member("n2").liveness());
        awaitTrue(() -> {
            assertTrue(get(plane.heartbeat(heartbeat("n1", 0))).leaseGranted(), "n1 keeps its lease");
            return plane.localView().member("n2").liveness() == Liveness.DEAD;
        }, 5000, "the ticker declares silent n2 dead");
        assertEquals(Liveness.ALIVE, plane.localView().member("n1").liveness());
        HeartbeatReply late = get(plane.heartbeat(heartbeat("n2", 0)));
        assertTrue(late.fromLeader());
        assertFalse(late.leaseGranted(), "a dead node gets no lease until it has joined again");
        assertTrue(plane.proposalsSent() >= 2, "join(n1) and failed(n2) went through the proposer");
    }

    @Test
    void garbledQueriesAndCommandsFailCleanlyAndTheServerKeepsServing() throws Exception {
        RatisControlPlane plane = start(ControlPlaneConfig.of("n1", voters("n1"), tmp.resolve("n1")).withTimings(PATIENT));
        awaitTrue(() -> plane.isLeader(), 5000, "leader");
        long version = get(plane.submit(join("n1"))).version();

        for (byte[] bad : List.of(new byte[0], new byte[] {0x7f}, new byte[] {ControlQuery.HISTORY, 1},
                new byte[] {ControlQuery.HISTORY, (byte) 0xff, (byte) 0xff, 'x'}, new byte[] {ControlQuery.HEARTBEAT, 9, 9})) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> plane.rawQuery(bad).get(10, TimeUnit.SECONDS));
            assertTrue(messages(e).contains("bad control query"), messages(e));
        }
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> plane.rawSubmit(new byte[] {1, 99, 3}).get(10, TimeUnit.SECONDS));
        assertTrue(messages(e).contains("control command does not decode"), messages(e));

        assertEquals(version, get(plane.view()).version(), "nothing was applied");
        assertEquals(List.of(), get(plane.history("no-such-namespace", 5)));
        assertTrue(get(plane.submit(join("n2"))).version() > version, "still commits");
    }

    // --- three voters ---

    @Test
    void threeVotersReplicateFailOverAndKeepCommitting() throws Exception {
        Map<String, String> voters = voters("v1", "v2", "v3");
        List<RatisControlPlane> group = new ArrayList<>();
        for (String id : voters.keySet()) {
            group.add(start(ControlPlaneConfig.of(id, voters, tmp.resolve(id)).withTimings(PATIENT)));
        }
        String leader = awaitLeader(group, 10_000);
        RatisControlPlane follower = group.stream().filter(p -> !p.config().nodeId().equals(leader)).findFirst().orElseThrow();

        // Through a follower's client: the command goes to the leader and applies on all three.
        ApplyResult joined = get(follower.submit(join("v1")));
        get(follower.submit(join("v2")));
        long version = get(follower.submit(join("v3"))).version();
        assertTrue(version > joined.version());
        awaitConverged(group, version, 5000);

        // A non-voter talks to the group through its client only.
        RatisControlPlane outsider = start(ControlPlaneConfig.of("x1", voters, tmp.resolve("x1")).withTimings(PATIENT));
        assertFalse(outsider.config().voter());
        long withOutsider = get(outsider.submit(join("x1"))).version();
        HeartbeatReply outsiderHb = get(outsider.heartbeat(heartbeat("x1", 0)));
        assertTrue(outsiderHb.fromLeader());
        assertTrue(outsiderHb.leaseGranted());
        assertEquals(withOutsider, outsiderHb.view().version(), "a node behind gets the current view");
        assertEquals(Optional.of(leader), outsider.leaderId());
        assertEquals(Map.of(), outsider.heartbeatAgesMs());
        awaitConverged(group, withOutsider, 5000);

        // Followers serve linearizable reads too, but must not grant leases: they name the leader instead,
        // and the heartbeat follows.
        byte[] atFollower = get(outsider.rawQuery(ControlQuery.heartbeat(heartbeat("x1", 0)), follower.config().nodeId()));
        assertTrue(ControlQuery.isRedirect(atFollower));
        assertEquals(leader, ControlQuery.redirectHint(atFollower));
        assertEquals(withOutsider, ClusterCodec.decodeView(get(outsider.rawQuery(ControlQuery.view(),
                follower.config().nodeId()))).version(), "a follower answers view reads linearizably");
        outsider.aimHeartbeatsAt(follower.config().nodeId());
        long redirects = outsider.heartbeatRedirects();
        HeartbeatReply redirected = get(outsider.heartbeat(heartbeat("x1", withOutsider)));
        assertTrue(redirected.fromLeader());
        assertTrue(redirected.leaseGranted());
        assertEquals(redirects + 1, outsider.heartbeatRedirects());
        get(outsider.heartbeat(heartbeat("x1", withOutsider)));
        assertEquals(redirects + 1, outsider.heartbeatRedirects(), "the next heartbeat goes straight to the leader");

        // Kill the leader: the other two elect a new one and keep the state.
        RatisControlPlane oldLeader = group.stream().filter(p -> p.config().nodeId().equals(leader)).findFirst().orElseThrow();
        long killedAtNs = System.nanoTime();
        oldLeader.close();
        group.remove(oldLeader);
        String newLeader = awaitLeader(group, 10_000);
        long failoverMs = (System.nanoTime() - killedAtNs) / 1_000_000;
        assertNotEquals(leader, newLeader);
        assertTrue(failoverMs < 5000, "new leader after " + failoverMs + " ms");
        System.out.printf("control-plane failover: new leader %s after %d ms%n", newLeader, failoverMs);
        RatisControlPlane survivor = group.get(0);
        assertEquals(withOutsider, get(survivor.view()).version(), "state intact");

        long after = get(outsider.submit(join("x2"))).version();
        assertTrue(after > withOutsider, "commits continue with two of three voters");
        awaitConverged(group, after, 5000);

        // The new leader's controller answers heartbeats (and grants leases to members it knows).
        HeartbeatReply hb = get(survivor.heartbeat(heartbeat("v2", after)));
        assertTrue(hb.fromLeader());
        assertTrue(hb.leaseGranted());
        RatisControlPlane leading = group.stream().filter(RatisControlPlane::isLeader).findFirst().orElseThrow();
        assertTrue(leading.heartbeatAgesMs().containsKey("v2"));
        assertTrue(leading.leaderChangeCount() >= 1);
        assertEquals(List.copyOf(get(leading.history(NS, 5))), get(outsider.history(NS, 5)));
    }

    @Test
    void callsFailInBoundedTimeWithoutAQuorum() throws Exception {
        Map<String, String> voters = voters("q1", "q2", "q3");
        RatisControlPlane lonely = start(ControlPlaneConfig.of("q1", voters, tmp.resolve("q1"))
                .withTimings(PATIENT).withRequestTimeoutMs(1000, 1500));
        long startNs = System.nanoTime();
        CompletableFuture<HeartbeatReply> hb = lonely.heartbeat(heartbeat("q1", 0));
        ExecutionException e = assertThrows(ExecutionException.class, () -> hb.get(15, TimeUnit.SECONDS));
        long hbMs = (System.nanoTime() - startNs) / 1_000_000;
        assertTrue(hbMs < 6000, "heartbeat gave up after " + hbMs + " ms: " + messages(e));

        startNs = System.nanoTime();
        CompletableFuture<ApplyResult> submit = lonely.submit(join("q1"));
        assertThrows(ExecutionException.class, () -> submit.get(15, TimeUnit.SECONDS));
        long submitMs = (System.nanoTime() - startNs) / 1_000_000;
        assertTrue(submitMs < 8000, "submit gave up after " + submitMs + " ms");
        assertFalse(lonely.isLeader());
        assertEquals(Map.of(), lonely.heartbeatAgesMs());
    }

    // --- configuration and lifecycle ---

    @Test
    void badConfigurationsNameTheField() {
        Path dir = tmp.resolve("c");
        assertInvalid("control-voters must have 1, 3 or 5 entries, got 2",
                () -> ControlPlaneConfig.of("a", voters("a", "b"), dir));
        assertInvalid("control-voters must have 1, 3 or 5 entries, got 0",
                () -> ControlPlaneConfig.of("a", Map.of(), dir));
        assertInvalid("control-voters must have 1, 3 or 5 entries, got 4",
                () -> ControlPlaneConfig.of("a", voters("a", "b", "c", "d"), dir));
        assertInvalid("control-voters must include this node's id 'z'",
                () -> ControlPlaneConfig.of("z", voters("a", "b", "c"), dir).withVoter(true));
        assertInvalid("listed in control-voters but the node is configured as a non-voter",
                () -> ControlPlaneConfig.of("a", voters("a"), dir).withVoter(false));
        assertInvalid("control-voters['a']: address 'localhost' must be host:port",
                () -> ControlPlaneConfig.of("a", Map.of("a", "localhost"), dir));
        assertInvalid("control-voters['a']: port of 'h:99999' must be 1..65535",
                () -> ControlPlaneConfig.of("a", Map.of("a", "h:99999"), dir));
        assertInvalid("control-voters['a']: port of 'h:x1' is not a number",
                () -> ControlPlaneConfig.of("a", Map.of("a", "h:x1"), dir));
        assertInvalid("control-voters['a']: address ':7' must be host:port",
                () -> ControlPlaneConfig.of("a", Map.of("a", ":7"), dir));
        assertInvalid("control-voters['b']: address h:1 is used by two voters",
                () -> ControlPlaneConfig.of("a", orderedMap("a", "h:1", "b", "h:1", "c", "h:2"), dir));
        assertInvalid("election-timeout-max-ms (500) must exceed election-timeout-min-ms (500)",
                () -> ControlPlaneConfig.of("a", voters("a"), dir).withElectionTimeoutMs(500, 500));
        assertInvalid("node-id must not be empty", () -> ControlPlaneConfig.of(" ", voters("a"), dir));
        assertInvalid("control-dir must be set", () -> ControlPlaneConfig.of("a", voters("a"), null));

        ControlPlaneConfig ok = ControlPlaneConfig.of("b", orderedMap("a", "[::1]:7410", "b", "h:7411", "c", "h:7412"), dir);
        assertTrue(ok.voter());
        assertEquals(7411, ok.ownRatisAddress().getPort());
        assertEquals(ok.groupUuid(), ControlPlaneConfig.of("x", voters("a"), dir).groupUuid(), "same name, same group");
        assertNotEquals(ok.groupUuid(), ok.withClusterName("other").groupUuid());
    }

    @Test
    void lifecycleIsExplicit() throws Exception {
        RatisControlPlane plane = new RatisControlPlane(ControlPlaneConfig.of("n1", voters("n1"), tmp.resolve("n1")));
        planes.add(plane);
        assertEquals(RatisControlPlane.State.NEW, plane.state());
        assertThrows(IllegalStateException.class, () -> plane.view());
        plane.start();
        assertEquals(RatisControlPlane.State.RUNNING, plane.state());
        assertThrows(IllegalStateException.class, plane::start);
        plane.close();
        plane.close();
        assertEquals(RatisControlPlane.State.CLOSED, plane.state());
        assertThrows(IllegalStateException.class, () -> plane.submit(join("n1")));
    }

    @Test
    void refusesAStorageDirOfAnotherCluster() throws Exception {
        Map<String, String> voters = voters("n1");
        ControlPlaneConfig first = ControlPlaneConfig.of("n1", voters, tmp.resolve("n1")).withClusterName("alpha");
        start(first).close();
        RatisControlPlane renamed = new RatisControlPlane(first.withClusterName("beta"));
        planes.add(renamed);
        assertInvalid("holds the control-plane state of another cluster", renamed::start);
        assertEquals(RatisControlPlane.State.CLOSED, renamed.state());
    }

    // --- helpers ---

    private RatisControlPlane start(ControlPlaneConfig config) throws IOException {
        RatisControlPlane plane = new RatisControlPlane(config);
        planes.add(plane);
        plane.start();
        return plane;
    }

    private static Map<String, String> voters(String... ids) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String id : ids) {
            out.put(id, "127.0.0.1:" + freePort());
        }
        return out;
    }

    private static Map<String, String> orderedMap(String... kv) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            out.put(kv[i], kv[i + 1]);
        }
        return out;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ClusterCommand.Join join(String node) {
        return new ClusterCommand.Join(node, address(node), httpAddress(node), true, List.of(new NamespaceSpec(NS, 2)),
                System.currentTimeMillis(), List.of());
    }

    private static HeartbeatRequest heartbeat(String node, long knownVersion) {
        return new HeartbeatRequest(node, address(node), httpAddress(node), true, List.of(new NamespaceSpec(NS, 2)),
                knownVersion, Map.of(), List.of());
    }

    private static String address(String node) {
        return "127.0.0.1:" + (7000 + Math.abs(node.hashCode() % 1000));
    }

    private static String httpAddress(String node) {
        return "127.0.0.1:" + (8000 + Math.abs(node.hashCode() % 1000));
    }

    private static <T> T get(CompletableFuture<T> f) {
        try {
            return f.get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("control-plane call failed: " + e, e);
        }
    }

    private static String awaitLeader(List<RatisControlPlane> group, long timeoutMs) {
        awaitTrue(() -> {
            long leaders = group.stream().filter(RatisControlPlane::isLeader).count();
            Optional<String> first = group.get(0).leaderId();
            return leaders == 1 && first.isPresent() && group.stream().allMatch(p -> p.leaderId().equals(first));
        }, timeoutMs, "one leader that every voter knows");
        return group.get(0).leaderId().orElseThrow();
    }

    private static void awaitConverged(List<RatisControlPlane> group, long version, long timeoutMs) {
        awaitTrue(() -> group.stream().allMatch(p -> p.localView().version() == version), timeoutMs,
                "all voters at version " + version);
        ClusterView first = group.get(0).localView();
        for (RatisControlPlane p : group) {
            assertEquals(first.members(), p.localView().members(), p.config().nodeId());
            assertEquals(first.tables().keySet(), p.localView().tables().keySet());
            assertEquals(first.entry(NS, 11), p.localView().entry(NS, 11));
        }
    }

    private static void awaitTrue(BooleanSupplier condition, long timeoutMs, String what) {
        long deadlineNs = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() < deadlineNs) {
            if (condition.getAsBoolean()) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("timed out after " + timeoutMs + " ms waiting for: " + what);
    }

    private static void assertInvalid(String expected, org.junit.jupiter.api.function.Executable build) {
        FerryException e = assertThrows(FerryException.class, build);
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
    }

    private static String messages(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            b.append(t).append(" / ");
        }
        return b.toString();
    }
}
