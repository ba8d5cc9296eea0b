"""test_playground_script.py — tools/playground.sh start and stop, as a user runs them.

`start` twice restarts the playground; `start` after a rebuild (the gateway's file replaced
while it runs) stops the old gateway and its nodes and runs the new one — it used to leave
the old one running (its /proc/PID/exe read "... (deleted)", so the pid file looked stale),
the new gateway could not listen, and `start` still said "running" because the old one
answered; `start` with the port taken by another program fails, says why and leaves nothing
running; `stop` leaves no process. The script runs the suite's own binaries, copied
(LITHAIR_PREBUILT), on free ports, with its home in a temporary directory.

Run: python3 test_playground_script.py BUILD_DIR [TEST...]
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, free_port, free_port_block, run_tests, wait_for  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "tools", "playground.sh")


def processes_under(path):
    """Pids of the processes whose command line names `path`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if path.encode() in f.read():
                    pids.append(int(d))
        except OSError:
            pass
    return pids


class Playground:
    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.tmp = tempfile.mkdtemp(prefix="lithair-pg-")
        self.bin = os.path.join(self.tmp, "bin")
        for sub, exe in (("gateway", "lithair-gateway"), ("node", "lithair-node")):
            os.makedirs(os.path.join(self.bin, sub))
            shutil.copy2(os.path.join(build_dir, sub, exe), os.path.join(self.bin, sub, exe))
        self.home = os.path.join(self.tmp, "home")
        self.port = free_port()
        self.env = dict(os.environ, LITHAIR_PREBUILT=self.bin, LITHAIR_HOME=self.home,
                        LITHAIR_PORT=str(self.port),
                        LITHAIR_NODE_BASE_PORT=str(free_port_block(
                            [1, 2, 3, 101, 102, 103, 201, 202, 203])))

    def run(self, cmd, timeout=120):
        return subprocess.run([SCRIPT, cmd], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def gateway_pid(self):
        with open(os.path.join(self.home, "run", "gateway.pid")) as f:
            return int(f.read().split()[0])

    def healthy(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port,
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def rebuild(self):
        """What a rebuild does to the running gateway's file: a new file in its place."""
        exe = os.path.join(self.bin, "gateway", "lithair-gateway")
        shutil.copy2(exe, exe + ".new")
        os.replace(exe + ".new", exe)

    def close(self):
        self.run("stop", timeout=60)
        for pid in processes_under(self.tmp):  # a failed test leaves nothing behind
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def started(pg, what):
    r = pg.run("start")
    check(r.returncode == 0, "%s: start failed (%d): %s" % (what, r.returncode, r.stderr[-800:]))
    check("is running" in r.stderr, "%s: start did not say it runs: %r" % (what, r.stderr[-400:]))
    pid = pg.gateway_pid()
    check(os.path.exists("/proc/%d" % pid), "%s: the gateway %d is not running" % (what, pid))
    check(pg.healthy(), "%s: /healthz does not answer" % what)
    # the gateway and its three nodes, nothing more
    wait_for("%s: the gateway and 3 nodes" % what, lambda: len(processes_under(pg.home)) == 4,
             timeout=10)
    # the CLI line it prints reaches these nodes (their ports are not the CLI's defaults)
    line = next((ln for ln in r.stderr.splitlines() if "CLI:" in ln), "")
    m = re.search(r"LITHAIR_ENDPOINTS=(\S+)", line)
    check(m is not None, "%s: the CLI line names the endpoints: %r" % (what, line))
    cli = subprocess.run([os.path.join(pg.build_dir, "tools", "admin", "lithair-admin"), "status"],
                         env=dict(os.environ, LITHAIR_ENDPOINTS=m.group(1)), capture_output=True,
                         text=True, timeout=30)
    check(cli.returncode == 0, "%s: the printed CLI line: %d %r" % (what, cli.returncode,
                                                                     cli.stderr))
    return pid


def test_start_restart_rebuild_stop(build_dir):
    pg = Playground(build_dir)
    try:
        first = started(pg, "first start")
        second = started(pg, "start again")
        check(second != first and not os.path.exists("/proc/%d" % first),
              "a second start restarts: gateway %d then %d" % (first, second))

        pg.rebuild()
        check(os.readlink("/proc/%d/exe" % second).endswith(" (deleted)"),
              "the running gateway's file was replaced")
        third = started(pg, "start after a rebuild")
        check(not os.path.exists("/proc/%d" % second),
              "the gateway of the old build (%d) still runs beside %d" % (second, third))
        check(not os.readlink("/proc/%d/exe" % third).endswith(" (deleted)"),
              "the gateway that runs is the new build")

        pg.rebuild()
        r = pg.run("stop")
        check(r.returncode == 0, "stop: %s" % r.stderr[-400:])
        check("stopped: gateway (pid %d)" % third in r.stderr, "stop says what: %r" % r.stderr)
        wait_for("no process left after stop", lambda: not processes_under(pg.home), timeout=15)
        # a second stop finds nothing and says so (it said "stopped", QA)
        r = pg.run("stop")
        check(r.returncode == 0 and "nothing was running" in r.stderr and "stopped" not in r.stderr,
              "stop with nothing running: %d %r" % (r.returncode, r.stderr))
    finally:
        pg.close()


def test_start_with_the_port_taken(build_dir):
    pg = Playground(build_dir)
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", pg.port))
        other.listen(8)
        t0 = time.monotonic()
        r = pg.run("start")
        check(r.returncode != 0, "start succeeded with port %d taken" % pg.port)
        check("did not start" in r.stderr and "cannot listen" in r.stderr,
              "start says why: %r" % r.stderr[-600:])
        check(time.monotonic() - t0 < 30, "start gave up quickly")
        wait_for("nothing left running", lambda: not processes_under(pg.home), timeout=15)
    finally:
        other.close()
        pg.close()


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
