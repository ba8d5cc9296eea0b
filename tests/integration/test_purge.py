"""test_purge.py — a large purge of benchmark data, through lithair-admin on real nodes.

One Purge entry used to delete every benchmark record at once: 160,000 of them held every
replica's loop 350-600 ms, past the election timeout, and the cluster changed leader. The
leader now proposes the purge in chunks of 4,096 records, each once the last is applied.

Run: python3 test_purge.py BUILD_DIR [TEST...]
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, run_tests  # noqa: E402

CHUNK = 4096  # node/service/service.c SVC_PURGE_CHUNK


def leader_status(c):
    st = c.status()
    return next(s for s in st if s.get("role") == "leader")


def test_purge_in_chunks(build):
    """Over two chunks of benchmark records and some plain ones: the purge answers the
    whole count, commits one entry per chunk (a full last chunk is followed by an empty
    one), keeps the plain records and the leader, and leaves equal replicas."""
    with Cluster(build, 3) as c:
        c.wait_leader()
        for i in range(3):
            c.admin("items", "create", '{"id":"keep%d","name":"plain %d"}' % (i, i))
        written = 0
        for _ in range(12):  # bounded: a sanitized build writes a few thousand a second
            _, r, _ = c.admin("bench", "--type", "write", "--concurrency", "16", "--duration",
                              "2", "--warmup", "0", "--payload-size", "64",
                              timeout_ms=60000)
            written += int(r["writes"])
            if written >= 2 * CHUNK + 100:
                break
        check(written >= 2 * CHUNK + 100, "benchmark records written: %d" % written)
        before = leader_status(c)
        check(int(before["records"]) == written + 3, "records: %r" % before["records"])
        _, out, _ = c.admin("items", "purge", timeout_ms=60000)
        deleted = int(out["deleted"])
        check(deleted == written, "deleted %d of %d" % (deleted, written))
        after = leader_status(c)
        chunks = deleted // CHUNK + 1
        check(int(after["commit"]) - int(before["commit"]) >= chunks,
              "one entry per chunk: commit %s -> %s for %d records" %
              (before["commit"], after["commit"], deleted))
        check(after["id"] == before["id"] and after["term"] == before["term"],
              "no leader change: %r -> %r" % ((before["id"], before["term"]),
                                              (after["id"], after["term"])))
        check(int(after["records"]) == 3, "the plain records stay: %r" % after["records"])
        _, out, _ = c.admin("items", "purge")
        check(int(out["deleted"]) == 0, "nothing left: %r" % out)
        # its JSON is printed as every command's is, not on one compact line of its own
        raw = subprocess.run([c.admin_bin, "--endpoints", c.endpoints(), "-w", "json", "items",
                              "purge"], capture_output=True, text=True, timeout=30)
        check(raw.returncode == 0 and len(raw.stdout.strip().splitlines()) == 3 and
              json.loads(raw.stdout) == {"deleted": "0"}, "purge -w json: %r" % raw.stdout)
        _, page, _ = c.admin("items", "list")
        ids = sorted(x["id"] for x in page["items"])
        check(ids == ["keep0", "keep1", "keep2"], "kept: %r" % ids)
        c.wait_converged()  # every replica applied the same chunks: equal digests


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
