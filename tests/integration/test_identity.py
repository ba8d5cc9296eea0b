"""test_identity.py — a node refuses data that are not its own, and a cluster never takes
in another cluster's node: real lithair-node processes, real data dirs.

Found by a QA run of the node's durability (each lost acknowledged writes without a word):
a node started on a data dir whose WAL was deleted (it served its snapshot's state and
formed a majority without 50 acknowledged writes); a node restarted with a --peer list of
its own (it elected itself); a node started on another cluster's data dir (its records
mixed with the cluster's); a follower whose committed entries differ from the leader's
(it sat silently, reported healthy, serving data the cluster never committed).

Run: python3 test_identity.py BUILD_DIR [TEST...]
"""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, free_port, run_tests, wait_for  # noqa: E402


def ident(node):
    out = {}
    with open(os.path.join(node.dir, "IDENTITY")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                k, v = line.split(None, 1)
                out[k] = v.strip()
    return out


def exits_with(node, text, timeout=15.0):
    """The node (just started) stops by itself and its log says `text`."""
    t0 = time.monotonic()
    while node.proc.poll() is None and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    rc = node.proc.poll()
    log = node.log_text()
    node.kill()
    check(rc is not None and rc != 0, "node %d stopped by itself (rc %r)" % (node.id, rc))
    check(text in log, "node %d's log says %r; its end:\n%s" % (node.id, text, log[-1500:]))


def item_ids(c, node):
    _, out, _ = c.admin("items", "list", "--all", "--serializable", endpoints=node.rpc,
                        timeout_ms=5000)
    return sorted(i["id"] for i in out["items"])


def create(c, prefix, n, nodes=None):
    for i in range(n):
        c.admin("items", "create", '{"id":"%s%d","name":"%s %d"}' % (prefix, i, prefix, i),
                endpoints=c.endpoints(nodes), timeout_ms=5000)


def backed_up(c, nodes):
    """Stops the cluster, copies `nodes`' data dirs aside (a backup), starts it again;
    returns {id: the backup's path}."""
    for n in c.nodes:
        n.kill()
    backup = {}
    for n in nodes:
        backup[n.id] = n.dir + ".bak"
        shutil.copytree(n.dir, backup[n.id])
    for n in c.nodes:
        n.start()
    return backup


def restored(c, backup):
    """Stops the cluster, puts the backed-up data dirs back and starts those nodes alone."""
    for n in c.nodes:
        n.kill()
    for nid, path in backup.items():
        n = c.node(nid)
        shutil.rmtree(n.dir)
        shutil.copytree(path, n.dir)
        n.start()


def test_cluster_named_and_recorded(build):
    """The first leader names the cluster through the log; every node records the same id
    and its own id and the members in its data dir's IDENTITY, which survives restarts."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        create(c, "a", 2)
        wait_for("every node records a cluster id",
                 lambda: len({ident(n)["cluster"] for n in c.nodes}) == 1
                 and ident(c.node(1))["cluster"] != "0" * 16, timeout=10)
        cluster = ident(c.node(1))["cluster"]
        for n in c.nodes:
            check(ident(n)["id"] == str(n.id), "node %d's IDENTITY names it" % n.id)
            check(ident(n)["members"] == "1,2,3", "node %d's IDENTITY lists the members" % n.id)
        for n in c.nodes:
            n.kill()
        for n in c.nodes:
            n.start()
        c.wait_leader()
        create(c, "b", 1)
        c.wait_converged()
        check({ident(n)["cluster"] for n in c.nodes} == {cluster}, "the id kept over restarts")


def test_cluster_id_learned_from_a_snapshot(build):
    """A node that rejoins empty after its cluster's Cluster entry was compacted away learns
    the id from the snapshot its leader sends (not from any message's stamp)."""
    with Cluster(build, 3, node_args=("--compact-keep", "0")) as c:
        c.wait_leader()
        create(c, "a", 3)
        c.wait_converged()
        c.admin("snapshot", timeout_ms=10000)
        cluster = ident(c.node(1))["cluster"]
        n3 = c.node(3)
        n3.kill()
        shutil.rmtree(n3.dir)
        n3.start()
        create(c, "b", 1, nodes=[c.node(1), c.node(2)])
        c.wait_converged()
        wait_for("node 3 to record the id", lambda: ident(n3)["cluster"] == cluster, timeout=10)
        check("from the leader's snapshot" in n3.log_text(), "learned from the snapshot")


def test_other_nodes_data_refused(build):
    """A data dir is one node's: started as another id, the node refuses, naming its owner."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        create(c, "a", 2)
        c.wait_converged()
        n2, n3 = c.node(2), c.node(3)
        n2.kill()
        n3.kill()
        shutil.rmtree(n3.dir)
        shutil.copytree(n2.dir, n3.dir)
        n3.start()
        exits_with(n3, "belongs to node 2")


def test_peer_list_must_match_the_data(build):
    """Restarted with a --peer list of its own, a node that elected itself and acknowledged
    writes beside the real cluster (QA); now it refuses, naming both member lists."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        create(c, "a", 2)
        c.wait_converged()
        n1 = c.node(1)
        n1.kill()
        saved = c.nodes
        c.nodes = [n1]  # Node.start lists the cluster's nodes as its peers
        try:
            n1.start()
        finally:
            c.nodes = saved
        exits_with(n1, "written by a cluster of members 1,2,3, but --peer names members 1")
        n1.start()  # with the right list it runs again
        c.wait_converged()


def test_first_start_typo_corrected(build):
    """A node first started with a wrong --peer list that never got to hold any state (its
    peers were not there) takes the corrected list at its next start instead of refusing:
    only data written with a member list binds the data dir to it."""
    with Cluster(build, 3) as c:
        n1 = c.node(1)
        n1.kill()
        saved = c.nodes
        c.nodes = [n1]  # a member list of its own; no election for 1,000 s, so no state
        try:
            n1.start(extra=("--election-ticks", "100000"))
        finally:
            c.nodes = saved
        time.sleep(0.5)
        n1.kill()
        check(ident(n1)["members"] == "1", "the first start wrote its (wrong) members")
        n1.start()
        c.wait_leader()
        create(c, "a", 2)
        c.wait_converged()
        check(ident(n1)["members"] == "1,2,3", "the corrected list taken: %r" % ident(n1))
        check("holds no state yet: taking this start's identity" in n1.log_text(),
              "it says so")


def test_second_process_changes_nothing(build):
    """A second lithair-node started on a running node's data dir is refused (the WAL's
    LOCK) and changes nothing there first. It deleted the temp file of the snapshot the
    running node was writing (that snapshot failed with "input/output error"), and wrote an
    IDENTITY of its own into a data dir that had none, so that the running node's next
    start was refused as "belongs to node 2" (QA)."""
    with Cluster(build, 1, node_args=("--snapshot-delay-ms", "3000")) as c:
        c.wait_leader()
        create(c, "a", 3)
        n1 = c.node(1)
        snap_dir = os.path.join(n1.dir, "snap")
        os.remove(os.path.join(n1.dir, "IDENTITY"))  # a data dir from before IDENTITY
        snap = subprocess.Popen([c.admin_bin, "--endpoints", n1.rpc, "--timeout", "20000",
                                 "snapshot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_for("the snapshot's temp file",
                     lambda: any(f.endswith(".tmp") for f in os.listdir(snap_dir)), timeout=10)
            ports = [free_port() for _ in range(3)]
            p = subprocess.run([c.node_bin, "--id", "2", "--data-dir", n1.dir] +
                               sum([[f, "tcp://127.0.0.1:%d" % port]
                                    for f, port in zip(("--raft", "--rpc", "--events"), ports)],
                                   []), capture_output=True, text=True, timeout=30)
            check(p.returncode == 1 and "LOCK is held" in p.stderr and
                  "is in use by another process (a node still running on this data dir?)"
                  in p.stderr and "too busy" not in p.stderr,
                  "the second process refused: %d %r" % (p.returncode, p.stderr))
            check(any(f.endswith(".tmp") for f in os.listdir(snap_dir)),
                  "the running node's temp file is still there: %r" % os.listdir(snap_dir))
            check(not os.path.exists(os.path.join(n1.dir, "IDENTITY")),
                  "no IDENTITY written by the refused process: %r" %
                  (os.path.exists(os.path.join(n1.dir, "IDENTITY")) and ident(n1)))
            out, err = snap.communicate(timeout=30)
            check(snap.returncode == 0, "the running node's snapshot succeeds: %r %r" % (out, err))
        finally:
            if snap.poll() is None:
                snap.kill()
                snap.wait()
        n1.kill()
        n1.start()  # it restarts on its data: no other node's IDENTITY there
        c.wait_leader()
        check(ident(n1)["id"] == "1", "its IDENTITY names it: %r" % ident(n1))
        check(item_ids(c, n1) == ["a0", "a1", "a2"], "its records: %r" % item_ids(c, n1))


def test_wal_deleted_refused(build):
    """A node whose WAL directory is gone but whose snapshot is not refuses to start; it had
    served the snapshot's state and elected a leader without the writes since (QA)."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        create(c, "a", 5)
        c.admin("snapshot", timeout_ms=10000)
        create(c, "b", 5)
        c.wait_converged()
        n3 = c.node(3)
        n3.kill()
        shutil.rmtree(os.path.join(n3.dir, "wal"))
        n3.start()
        exits_with(n3, "the WAL's records are gone")
        n3.start()  # and again: the refusal does not fix itself
        exits_with(n3, "the WAL's records are gone")


def test_other_cluster_isolated(build):
    """A node started on another cluster's data dir (same ids, same members) is cut off:
    both sides drop its raft messages and say why, the cluster goes on with its majority
    and its records stay its own. Before, the two clusters' records mixed (QA)."""
    with Cluster(build, 3) as x, Cluster(build, 3) as y:
        x.wait_leader()
        y.wait_leader()
        create(x, "x", 6)
        create(y, "y", 4)
        x.wait_converged()
        y.wait_converged()
        check(ident(x.node(3))["cluster"] != ident(y.node(3))["cluster"], "two cluster ids")
        for n in x.nodes:
            n.kill()
        y3 = y.node(3)
        y3.kill()
        shutil.rmtree(y3.dir)
        shutil.copytree(x.node(3).dir, y3.dir)
        y3.start()
        wait_for("the cluster's nodes drop the stranger's messages",
                 lambda: "from another cluster" in y.node(1).log_text()
                 or "from another cluster" in y.node(2).log_text(), timeout=10)
        wait_for("the stranger drops theirs", lambda: "from another cluster" in y3.log_text(),
                 timeout=10)
        create(y, "z", 2, nodes=[y.node(1), y.node(2)])
        time.sleep(1.0)  # room for anything to go wrong
        want = sorted(["y%d" % i for i in range(4)] + ["z0", "z1"])
        for n in (y.node(1), y.node(2)):
            check(item_ids(y, n) == want, "node %d holds only its cluster's records" % n.id)
        held = item_ids(y, y3)  # what it knew committed: its cluster's, maybe not the last
        check(held and set(held) <= {"x%d" % i for i in range(6)},
              "the stranger holds only its own cluster's records: %r" % held)
        check(y3.alive(), "the stranger runs on, cut off")


def test_diverged_follower_stops(build):
    """Two nodes restored from an old backup go on without the third and commit new entries
    in its place; the third, restarted, holds other committed entries at the same indexes.
    Whichever side leads, the nodes whose committed entries the leader's log contradicts
    stop, saying so, instead of sitting silently with other data (QA: a follower did, and
    was reported healthy)."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        create(c, "a", 3)
        c.wait_converged()
        backup = backed_up(c, (c.node(2), c.node(3)))
        lead = c.wait_leader()
        # more terms on this history, so that the two histories' terms differ
        for _ in range(2):
            others = [n.id for n in c.nodes if n.id != int(lead)]
            c.admin("leader", "transfer", str(others[0]), timeout_ms=5000)
            lead = c.wait_leader(not_id=int(lead))
        create(c, "b", 10)
        c.wait_converged()
        restored(c, backup)
        c.wait_leader()
        create(c, "c", 10, nodes=[c.node(2), c.node(3)])
        c.node(1).start()
        said = "the cluster's logs diverged"
        wait_for("a node stops, saying the logs diverged",
                 lambda: any(said in n.log_text() and not n.alive() for n in c.nodes),
                 timeout=15)
        time.sleep(0.5)
        for n in c.nodes:  # nobody goes on silently with the other history's entries
            if n.alive():
                check(said not in n.log_text(), "node %d stopped once it said so" % n.id)
        stopped = [n.id for n in c.nodes if not n.alive()]
        check(stopped, "a node stopped")


def test_leader_reports_follower_ahead(build):
    """Two nodes restored from an old backup elect a leader; the third had snapshotted and
    compacted past everything they hold, so no entry of the leader's can be compared with
    its own: it answers with its commit index, past the leader's log. The leader logs an
    ERROR, shows `ahead` in that follower's progress (lithair-admin says so on stderr, and
    health is unhealthy), does not count its answers and tells it to stop, which it does."""
    with Cluster(build, 3, node_args=("--compact-keep", "0")) as c:
        c.wait_leader()
        create(c, "a", 2)
        c.wait_converged()
        backup = backed_up(c, (c.node(2), c.node(3)))
        c.wait_leader()
        create(c, "b", 20)
        c.wait_converged()
        c.admin("snapshot", timeout_ms=10000)
        restored(c, backup)
        lead = int(c.wait_leader())
        c.node(1).start()
        leader = c.node(lead)
        wait_for("the leader to say a follower holds commits past its log",
                 lambda: "past this leader's last entry" in leader.log_text(), timeout=15)
        rc, out, err = c.admin("status", endpoints=c.endpoints([c.node(2), c.node(3)]),
                               check_rc=False)
        st = next(s for s in out if s.get("role") == "leader")
        ahead = [f for f in st.get("followers", []) if int(f.get("ahead", "0")) > 0]
        check(ahead and ahead[0]["id"] in ("1", 1), "node 1 shown ahead: %r" % st.get("followers"))
        cmd = [c.admin_bin, "--endpoints", c.endpoints([c.node(2), c.node(3)]), "health"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and "diverged" in p.stderr, "health says diverged: %r" % p.stderr)
        # told by the leader, the follower stops instead of serving the other history
        n1 = c.node(1)
        wait_for("node 1 to stop, told", lambda: not n1.alive(), timeout=10)
        check("says this node holds entries committed up to" in n1.log_text(),
              "it says why: %r" % n1.log_text()[-600:])
        create(c, "c", 2, nodes=[c.node(2), c.node(3)])  # the others go on


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
