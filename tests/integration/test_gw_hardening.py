"""test_gw_hardening.py — the gateway's start-up checks, firewall edge cases and request
forms a QA run of its security and supervisor found wrong: a deny rule cuts the blocked
client's open event streams, a remote admin cannot lock themselves out by mistake, the
rules are in force on a gateway started without a quorum, a flood of logins leaves the
HTTP workers to others, made-up session tokens cost the cluster bounded reads, strict
--listen-addr, --node-bin / --frontend / --data-dir / --listen errors, exec failures
reported, 503 (not 401) before the demo users exist, /security/stats, absolute-form
targets, unknown methods (405 with Allow), idempotent logout, attach-mode kill of a node
that is down, attach-mode wal-stats and snapshot of nodes given under swapped ids, the
firewall's small rules (normalized networks, no duplicates), and request framing: header
lines civetweb would stop reading, a Content-Length that is not a number, a
Transfer-Encoding other than chunked, a chunked body's trailer fields, an event stream's
query parameter given twice or sent with HEAD, a body trickled in, before or after an early
answer; oversized creates at once, a list of large records.

Usage: python3 test_gw_hardening.py BUILD_DIR [TEST_NAME...]
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Cluster, check, free_port, help_entry, range_refused,  # noqa: E402
                     run_tests, wait_for)
from gw_harness import Gateway, expect_error, http_request, raw_exchange  # noqa: E402


def raw_bytes(port, data, seconds=5.0):
    """What arrives for `data` sent on a new connection (gw_harness.raw_exchange)."""
    return raw_exchange(port, data, seconds)[0]


def request_from(src, host, port, method, path, body=None, headers=None, timeout=10):
    """One request from source address `src` to host:port; (status, headers, body)."""
    return http_request(host, port, method, path, body=body, headers=headers, timeout=timeout,
                        source=src)


def head_and_json(got):
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return lines[0], hdrs, json.loads(body) if body else None


def first_answer(got):
    """The first answer in the bytes `got`: (status line, headers, everything after its
    head, its Content-Length (0 if none))."""
    head, _, rest = got.partition(b"\r\n\r\n")
    status, h, _ = head_and_json(head)
    return status, h, rest, int(h.get("content-length", "0"))


class Stream:
    """An event stream opened from source address `src`; counts the bytes it receives and
    notices when the gateway ends it."""

    def __init__(self, src, port, path="/_playground/events"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(src, 0))
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
        self.data = b""
        self.ended = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                with self.lock:
                    self.data += d
        except OSError:
            pass
        self.ended = True

    def size(self):
        with self.lock:
            return len(self.data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def local_non_loopback_ipv4():
    """An IPv4 address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: the route picks a source
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def run_gateway(build_dir, args, timeout=20):
    """Runs lithair-gateway with `args` to its exit; (status, stderr)."""
    r = subprocess.run([os.path.join(build_dir, "gateway", "lithair-gateway")] + args,
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr


def absent_node():
    return SimpleNamespace(id=1, rpc="tcp://127.0.0.1:%d" % free_port(),
                           events="tcp://127.0.0.1:%d" % free_port())


# ------------------------------------------------------------------ firewall


def test_deny_rule_cuts_open_streams(build_dir):
    """A client whose address a new deny rule blocks loses its open event streams at once
    (as a logout ends a session's), not only its next requests; other clients' go on.
    127.0.0.2 is loopback, but an event stream is no route a loopback client always
    reaches."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader()
        blocked = Stream("127.0.0.2", g.port)
        other = Stream("127.0.0.1", g.port)
        wait_for("both streams to start", lambda: blocked.size() > 0 and other.size() > 0)
        st, _, rule = g.post("/_playground/security/firewall",
                             {"cidr": "127.0.0.2/32", "note": "cut the stream"})
        check(st == 201, "rule: %d %r" % (st, rule))
        wait_for("the blocked client's stream to end", lambda: blocked.ended, timeout=3)
        check(not other.ended, "another client's stream goes on")
        expect_error(request_from("127.0.0.2", "127.0.0.1", g.port, "GET",
                                  "/_playground/events"), 403, "PERMISSION_DENIED", "firewall")
        # the events written after the rule reach the other stream only
        n = other.size()
        for i in range(3):
            check(g.post("/api/items", {"name": "after-block-%d" % i})[0] == 201, "write")
        wait_for("the other stream to get them", lambda: other.size() > n)
        check(b"after-block" not in blocked.data, "nothing after the rule reached the blocked")
        other.close()
        blocked.close()
        check(g.request("DELETE", "/_playground/security/firewall/" + rule["id"])[0] == 204,
              "rule removed")
        again = Stream("127.0.0.2", g.port)
        wait_for("a new stream once the rule is gone", lambda: again.size() > 0)
        again.close()


def test_remote_admin_cannot_lock_themselves_out(build_dir):
    """A deny rule that matches the caller's own (non-loopback) address is a 409 naming the
    address and the rule, unless ?force=true; a rule that leaves the caller an allow rule
    of its own, or a loopback caller (who keeps the security routes), is added."""
    ip = local_non_loopback_ipv4()
    if ip is None:
        print("SKIP: this machine has no non-loopback IPv4 address")
        return
    with Gateway(build_dir, spawn=3, extra=["--listen-addr", "0.0.0.0"]) as g:
        g.wait_leader()

        def remote(method, path, body=None):
            return request_from(ip, ip, g.port, method, path, body)
        _, body = expect_error(remote("POST", "/_playground/security/firewall",
                                      {"cidr": "0.0.0.0/0", "note": "oops"}),
                               409, "FAILED_PRECONDITION")
        check(ip in body["message"] and "0.0.0.0/0" in body["message"] and
              "force=true" in body["message"], "names the address and the rule: %r" % body)
        check(g.get("/_playground/security/firewall")[2]["rules"] == [], "nothing was added")
        check(remote("GET", "/_playground/security/firewall")[0] == 200, "still reachable")
        expect_error(remote("POST", "/_playground/security/firewall?force=maybe",
                            {"cidr": "0.0.0.0/0"}), 400, "INVALID_ARGUMENT", "force")
        # an allow rule for the caller that is more specific: the deny does not lock out
        st, _, allow = remote("POST", "/_playground/security/firewall",
                              {"cidr": ip + "/32", "action": "allow"})
        check(st == 201, "allow rule: %d %r" % (st, allow))
        st, _, deny = remote("POST", "/_playground/security/firewall", {"cidr": "0.0.0.0/0"})
        check(st == 201, "deny with the caller allowed: %d %r" % (st, deny))
        check(remote("GET", "/_playground/cluster/status")[0] == 200, "the caller still passes")
        for r in (allow, deny):
            check(g.request("DELETE", "/_playground/security/firewall/" + r["id"])[0] == 204,
                  "removed")
        # forced: added, and the caller is then refused
        st, _, forced = remote("POST", "/_playground/security/firewall?force=true",
                               {"cidr": ip + "/32"})
        check(st == 201, "forced: %d %r" % (st, forced))
        expect_error(remote("GET", "/_playground/security/firewall"), 403, "PERMISSION_DENIED")
        # a loopback caller is not refused: it keeps the page and the security routes
        st, _, lo = g.post("/_playground/security/firewall", {"cidr": "127.0.0.0/8"})
        check(st == 201, "loopback self rule: %d %r" % (st, lo))
        for r in (forced, lo):
            check(g.request("DELETE", "/_playground/security/firewall/" + r["id"])[0] == 204,
                  "removed")
        check(remote("GET", "/_playground/security/firewall")[0] == 200, "reachable again")


def test_firewall_in_force_without_a_quorum(build_dir):
    """A gateway started on a cluster without a quorum enforces the rules its node holds
    (they were let through: no rule had been read, so every blocked client reached the
    cluster's status and kill); a client not on this machine is refused with a 503 until
    the rules could be read at all, a loopback client keeps the page."""
    with Cluster(build_dir, 3) as c:
        with Gateway(build_dir, nodes=c.nodes) as g:
            g.wait_leader()
            st, _, rule = g.post("/_playground/security/firewall", {"cidr": "127.0.0.2/32"})
            check(st == 201, "rule: %d %r" % (st, rule))

            def applied():
                st = c.status()
                return len(st) == 3 and len({s.get("applied") for s in st}) == 1
            wait_for("every node to apply the rule", applied)
        c.node(2).kill()
        c.node(3).kill()
        with Gateway(build_dir, nodes=c.nodes) as g:
            # the tick reads the rules within a second (the node may still think it leads)
            wait_for("the rule to be in force", lambda: request_from(
                "127.0.0.2", "127.0.0.1", g.port, "GET", "/_playground/cluster/status")[0] == 403,
                timeout=10)
            for path in ("/_playground/cluster/status", "/_playground/events"):
                expect_error(request_from("127.0.0.2", "127.0.0.1", g.port, "GET", path), 403,
                             "PERMISSION_DENIED", "127.0.0.2/32")
            expect_error(request_from("127.0.0.2", "127.0.0.1", g.port, "POST",
                                      "/_playground/cluster/kill/1?force=true"), 403,
                         "PERMISSION_DENIED", "firewall")
            check(c.node(1).alive(), "node 1 was not killed")
            check(g.get("/_playground/cluster/status")[0] == 200, "another client passes")
    ip = local_non_loopback_ipv4()
    check(ip is not None, "this machine has a non-loopback IPv4 address")
    with Gateway(build_dir, nodes=[absent_node()], extra=["--listen-addr", "0.0.0.0"]) as g:
        h, _ = expect_error(request_from(ip, ip, g.port, "GET", "/_playground/cluster/status"),
                            503, "UNAVAILABLE", "firewall rules could not be read")
        check(h.get("retry-after") == "1", "Retry-After: %r" % h)
        check(request_from("127.0.0.1", ip, g.port, "GET", "/index.html")[0] == 200,
              "a loopback client keeps the page")


def test_firewall_small_rules(build_dir):
    """An empty body names the missing cidr; host bits are cleared (10.0.0.1/8 is
    10.0.0.0/8); the same rule twice is a 409; the plan's /security/stats is
    /security/status; kill/01 names no node."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader()
        _, body = expect_error(g.post("/_playground/security/firewall", {}), 422)
        check(body["details"] == [{"field": "cidr", "description": "is required"}],
              "cidr is required: %r" % body)
        st, _, r1 = g.post("/_playground/security/firewall", {"cidr": "10.0.0.1/8"})
        check(st == 201 and r1["cidr"] == "10.0.0.0/8", "normalized: %r" % r1)
        st, _, t = g.post("/_playground/security/test-firewall", {"ip": "10.200.0.1"})
        check(st == 200 and t["action"] == "deny" and t["rule"]["cidr"] == "10.0.0.0/8",
              "the network is denied: %r" % t)
        for same in ("10.0.0.0/8", "10.9.9.9/8"):
            _, body = expect_error(g.post("/_playground/security/firewall", {"cidr": same}), 409,
                                   "ALREADY_EXISTS", "the same rule exists")
            check(r1["id"] in body["message"], "names the rule: %r" % body)
        st, _, r2 = g.post("/_playground/security/firewall",
                           {"cidr": "10.0.0.0/8", "action": "allow"})
        check(st == 201, "the other action on the same network is another rule: %r" % r2)
        st, _, r3 = g.post("/_playground/security/firewall", {"cidr": "192.0.2.7"})
        check(st == 201 and r3["cidr"] == "192.0.2.7", "a bare address is kept as given: %r" % r3)
        st, _, stats = g.get("/_playground/security/stats")
        st2, _, status = g.get("/_playground/security/status")
        check(st == 200 and st2 == 200 and set(stats) == set(status) and
              stats["firewall"]["rules"] == 3, "stats is status: %r" % stats)
        expect_error(g.post("/_playground/cluster/kill/01"), 404, "NOT_FOUND")
        expect_error(g.post("/_playground/cluster/restart/01"), 404, "NOT_FOUND")


# ------------------------------------------------------------------ sessions


def test_first_login_waits_for_the_demo_users(build_dir):
    """Right after a fresh start, admin/admin is a 503 with Retry-After while the demo users
    are being created — never a 401 'wrong password' — and then logs in."""
    with Gateway(build_dir, spawn=3) as g:
        seen = []

        def login():
            st, h, b = g.post("/_playground/auth/login", {"user": "admin", "password": "admin"})
            seen.append((st, h, b))
            return st == 200
        wait_for("admin to log in", login, timeout=30, interval=0.05)
        for st, h, b in seen[:-1]:
            check(st in (503, 429), "before the users exist: %d %r" % (st, b))
            if st == 503:
                check(h.get("retry-after") == "1", "Retry-After: %r" % h)
                check(b["code"] == "UNAVAILABLE", "%r" % b)
        # once they exist, a wrong password is a 401 again (after the login limiter's
        # bucket, 5 a second, has refilled)
        time.sleep(2.1)
        expect_error(g.post("/_playground/auth/login", {"user": "admin", "password": "x"}), 401,
                     "UNAUTHENTICATED", "wrong user name or password")
        print("  logins refused before the users existed: %d (%s)" %
              (len(seen) - 1, sorted({s for s, _, _ in seen[:-1]})))


def test_login_flood_leaves_workers(build_dir):
    """Logins waiting for the password hash (one at a time, ~0.1 s each) hold at most a
    quarter of the HTTP workers: a flood of them from a few addresses, each within its
    login limit, took every worker, and a request of another client waited seconds behind
    them. Past that, a login is a 503 with Retry-After."""
    with Gateway(build_dir, spawn=3, extra=["--threads", "8"]) as g:
        g.wait_leader()
        wait_for("the demo users", lambda: g.post(
            "/_playground/auth/login", {"user": "viewer", "password": "viewer"})[0] == 200,
            timeout=20, interval=0.2)
        got = []

        def flood(src):
            try:
                got.append(request_from(src, "127.0.0.1", g.port, "POST",
                                        "/_playground/auth/login",
                                        {"user": "admin", "password": "wrong"}, timeout=30))
            except OSError as e:
                got.append((None, {}, str(e)))
        workers = []
        for a in range(2, 8):  # six addresses, ten logins (the limiter's burst) from each
            for _ in range(10):
                workers.append(threading.Thread(target=flood, args=("127.0.0.%d" % a,)))
        for w in workers:
            w.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        st = g.get("/healthz", timeout=30)[0]
        waited = time.monotonic() - t0
        for w in workers:
            w.join(timeout=60)
        check(not any(w.is_alive() for w in workers), "every login answered")
        check(st == 200, "healthz: %d" % st)
        check(waited < 1.5, "healthz waited %.2f s behind the logins" % waited)
        codes = sorted({r[0] for r in got}, key=str)
        check(set(codes) <= {401, 429, 503} and 401 in codes and 503 in codes,
              "logins: %r" % codes)
        busy = [r for r in got if r[0] == 503]
        check(all(r[1].get("retry-after") == "1" and "too many logins" in r[2]["message"]
                  for r in busy), "503s: %r" % busy[:2])
        print("  healthz answered in %.3f s; logins %s" %
              (waited, {c: sum(1 for r in got if r[0] == c) for c in codes}))


def rpc_calls(g):
    """The gateway's RPC calls to its nodes so far (/metrics), summed over the nodes."""
    st, _, m = g.get("/metrics")
    check(st == 200, "metrics: %d" % st)
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in m.splitlines()
               if ln.startswith("lithair_gateway_rpc_calls_total{"))


def test_unknown_tokens_cost_bounded_reads(build_dir):
    """Each token this gateway has not seen costs two cluster reads (one linearizable):
    made-up bearer tokens from one address, as fast as it can send them, made the cluster
    read at will. Past 20 at once and 10 a second per address such a lookup is a 429 with
    Retry-After; a session this gateway has seen, and a request without a token, are not
    slowed by it."""
    with Gateway(build_dir, spawn=1) as g:
        g.wait_leader()
        tok = wait_for("a login", lambda: (lambda r: r[2]["token"] if r[0] == 200 else None)(
            g.post("/_playground/auth/login", {"user": "viewer", "password": "viewer"})),
            timeout=20, interval=0.2)
        mine = {"Authorization": "Bearer " + tok}
        src = "127.0.0.3"
        st, _, me = request_from(src, "127.0.0.1", g.port, "GET", "/_playground/auth/me",
                                 headers=mine)
        check(st == 200 and me["user"] == "viewer", "me: %d %r" % (st, me))
        # the background: what the gateway asks its nodes on its own over a second
        b0, t0 = rpc_calls(g), time.monotonic()
        time.sleep(1.0)
        background = (rpc_calls(g) - b0 - 1) / (time.monotonic() - t0)  # less this read
        got, lock = [], threading.Lock()

        def flood(k):
            for i in range(25):
                r = request_from(src, "127.0.0.1", g.port, "GET", "/_playground/auth/me",
                                 headers={"Authorization": "Bearer made-up-%d-%d" % (k, i)})
                with lock:
                    got.append(r)
        c0, t0 = rpc_calls(g), time.monotonic()
        ths = [threading.Thread(target=flood, args=(k,)) for k in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(timeout=60)
        elapsed = time.monotonic() - t0
        calls = rpc_calls(g) - c0 - 1
        codes = {c: sum(1 for r in got if r[0] == c) for c in {r[0] for r in got}}
        print("  200 made-up tokens in %.2f s: %r; %d RPC calls (background %.1f/s)" %
              (elapsed, codes, calls, background))
        check(len(got) == 200 and set(codes) <= {401, 429}, "answers: %r" % codes)
        looked_up = codes.get(401, 0)
        check(looked_up <= 20 + 10 * elapsed + 1, "%d lookups in %.2f s" % (looked_up, elapsed))
        check(calls <= 2 * looked_up + background * elapsed + 5,
              "%d RPC calls for %d lookups" % (calls, looked_up))
        busy = [r for r in got if r[0] == 429]
        check(busy and all(r[2]["code"] == "RESOURCE_EXHAUSTED" and
                           int(r[1].get("retry-after", "0")) >= 1 and
                           "unknown session tokens" in r[2]["message"] for r in busy),
              "429s: %r" % busy[:2])
        # not slowed: a session seen here (past its 2 s in the cache too), no token at all
        time.sleep(2.2)
        for h in (mine, {}):
            st, _, me = request_from(src, "127.0.0.1", g.port, "GET", "/_playground/auth/me",
                                     headers=h)
            check(st == 200 and me["anonymous"] == (h == {}), "me with %r: %d %r" % (h, st, me))
        # another address is not refused for this one's lookups
        st, _, _ = request_from("127.0.0.4", "127.0.0.1", g.port, "GET", "/_playground/auth/me",
                                headers={"Authorization": "Bearer made-up-elsewhere"})
        check(st == 401, "another address: %d" % st)
        st, _, s = g.get("/_playground/security/status")
        lk = s.get("sessionLookups", {})
        check(st == 200 and lk.get("rejected", 0) >= len(busy) and
              lk.get("clusterReads", 0) >= 2 * looked_up, "status: %r" % lk)


def test_logout_is_idempotent(build_dir):
    """A stale or unknown token logs out with 204, as a bearer token as well as a cookie."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader()
        tok = wait_for("a login", lambda: (lambda r: r[2]["token"] if r[0] == 200 else None)(
            g.post("/_playground/auth/login", {"user": "editor", "password": "editor"})),
            timeout=20, interval=0.1)
        bearer = {"Authorization": "Bearer " + tok}
        check(g.request("POST", "/_playground/auth/logout", headers=bearer)[0] == 204, "logout")
        for h in (bearer, {"Cookie": "lithair_session=" + tok},
                  {"Authorization": "Bearer never-issued"}, {"Authorization": "Bearer"},
                  {"Cookie": "lithair_session=never-issued"}):
            st, hd, _ = g.request("POST", "/_playground/auth/logout", headers=h)
            check(st == 204 and "Max-Age=0" in hd.get("set-cookie", ""),
                  "logout again with %r: %d" % (h, st))
        # any other route still refuses the stale bearer token
        expect_error(g.request("GET", "/api/items", headers=bearer), 401, "UNAUTHENTICATED")


# ------------------------------------------------------------------ request forms


def test_request_forms(build_dir):
    """Absolute-form targets for this host are answered (another host: a JSON 400); a
    well-formed method civetweb does not know is a 405 with Allow, a malformed one a 400;
    'GET *' gets no answer at all (civetweb closes before any callback: docs/API.md)."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        p = g.port
        got = raw_bytes(p, b"GET http://127.0.0.1:%d/index.html HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n" % p)
        check(got.startswith(b"HTTP/1.1 200") and b"<!doctype html>" in got,
              "absolute form, this host: %r" % got[:200])
        status, _, body = head_and_json(raw_bytes(
            p, b"GET http://localhost:%d/_playground/auth/me HTTP/1.1\r\n"
               b"Host: evil.example\r\nConnection: close\r\n\r\n" % p))
        check(status.startswith("HTTP/1.1 200") and body["role"] == "admin",
              "the target's host counts, not Host (RFC 9112 3.2.2): %r %r" % (status, body))
        status, _, body = head_and_json(raw_bytes(
            p, b"GET http://evil.example:%d/_playground/security/firewall HTTP/1.1\r\n"
               b"Host: 127.0.0.1\r\n\r\n" % p))
        check(status.startswith("HTTP/1.1 400") and body["code"] == "INVALID_ARGUMENT" and
              "evil.example" in body["message"], "another host: %r %r" % (status, body))
        check(raw_bytes(p, b"GET * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 3) == b"",
              "GET * (a known limitation): no answer")
        for m in (b"TRACE", b"FOO", b"post", b"M-SEARCH"):
            status, h, body = head_and_json(raw_bytes(
                p, b"%s /_playground/cluster/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % m))
            check(status.startswith("HTTP/1.1 405") and h.get("allow") == "GET, HEAD" and
                  body["code"] == "INVALID_ARGUMENT", "%s: %r %r %r" % (m, status, h, body))
        status, h, _ = head_and_json(raw_bytes(
            p, b"FOO /api/items/abc?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        check(status.startswith("HTTP/1.1 405") and h.get("allow") == "GET, HEAD, PUT, DELETE",
              "an item's methods: %r %r" % (status, h))
        status, h, _ = head_and_json(raw_bytes(p, b"TRACE /app.js HTTP/1.1\r\n\r\n"))
        check(status.startswith("HTTP/1.1 405") and h.get("allow") == "GET, HEAD",
              "a static file: %r %r" % (status, h))
        status, _, body = head_and_json(raw_bytes(p, b"FOO /api/nope HTTP/1.1\r\n\r\n"))
        check(status.startswith("HTTP/1.1 404") and body["code"] == "NOT_FOUND", "%r" % status)
        status, _, body = head_and_json(raw_bytes(p, b"G(ET /healthz HTTP/1.1\r\n\r\n"))
        check(status.startswith("HTTP/1.1 400"), "a malformed method stays a 400: %r" % status)


def test_header_lines_cut_short(build_dir):
    """civetweb stops reading header lines at one that starts with a blank (an obsolete
    line folding), a ':' or a byte past ASCII, and drops every line after it without a
    word: a DELETE whose If-Match came after such a line deleted the record although the
    version did not match (QA). Such a request is now a 400 that closes the connection,
    and changes nothing; so is an HTTP/1.1 request without Host (RFC 9112 3.2), whose
    header lines may all have been dropped."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader(30)
        for i, line in enumerate((b" folded", b":x: 1", b"\xc3\xa9: 1")):
            iid = "cut%d" % i
            st, _, _ = g.post("/api/items", {"name": "keep me", "id": iid})
            check(st == 201, "create %s: %d" % (iid, st))
            got, closed = raw_exchange(g.port, b"DELETE /api/items/%s HTTP/1.1\r\nHost: "
                                       b"127.0.0.1\r\nUser-Agent: t\r\n%s\r\nIf-Match: "
                                       b'"9"\r\n\r\n' % (iid.encode(), line))
            status, h, body = head_and_json(got)
            check(status.startswith("HTTP/1.1 400") and body["code"] == "INVALID_ARGUMENT" and
                  set(body) == {"code", "message", "details"} and
                  "header line" in body["message"] and h.get("connection") == "close" and
                  closed, "%r: %r" % (line, got))
            st, _, back = g.get("/api/items/" + iid)
            check(st == 200 and back["version"] == "1", "%r: the record stays: %d %r"
                  % (line, st, back))
        # the same line first of all (no header read at all), and a Content-Length after it:
        # the body must not be read as another request
        got, closed = raw_exchange(g.port, b"POST /api/items HTTP/1.1\r\n:x\r\nHost: "
                                   b"127.0.0.1\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 39\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "
                                   b"127.0.0.1\r\n\r\n")
        status, h, body = head_and_json(got)
        check(status.startswith("HTTP/1.1 400") and b"HTTP/1.1 200" not in got and closed and
              body["code"] == "INVALID_ARGUMENT", "no header line read: %r" % got)
        # what stays fine: CR LF or LF line ends (or a mix, bare LF first), a value with
        # blanks and non-ASCII bytes, and HTTP/1.0 without Host
        for req in (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a b \xc3\xa9\r\n"
                    b"Connection: close\r\n\r\n",
                    b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\nX-A: 1\nConnection: close\n\n",
                    b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\r\nConnection: close\n\n",
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\nConnection: close\n\n",
                    b"GET /healthz HTTP/1.0\r\n\r\n", b"GET /healthz HTTP/1.0\n\n"):
            got = raw_bytes(g.port, req)
            check(got.startswith(b"HTTP/1.1 200"), "%r: %r" % (req, got[:300]))
        got = raw_bytes(g.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        status, _, body = head_and_json(got)
        check(status.startswith("HTTP/1.1 400") and "Host" in body["message"],
              "HTTP/1.1 without Host: %r" % got)


def test_content_length_is_a_number(build_dir):
    """A Content-Length that is not a plain decimal number is a 400 that closes the
    connection (RFC 9112 6.3): civetweb read its leading digits ('2, 40' as 2, '0x20' as 0,
    '+2' as 2) and the rest of the body as the next request (QA: '0x20' answered 'the body
    is empty', then 'Bad request' for the body's bytes)."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        for value in (b"2, 40", b"0x20", b"+2", b"2abc", b"2 2", b"-0"):
            got, closed = raw_exchange(g.port, b"POST /_playground/security/test-firewall "
                                       b"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                       b"application/json\r\nContent-Length: %s\r\n\r\n{}GET "
                                       b"/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % value)
            status, h, rest, n = first_answer(got)
            body = json.loads(rest[:n] or b"null")
            check(status.startswith("HTTP/1.1 400") and body["code"] == "INVALID_ARGUMENT" and
                  "Content-Length" in body["message"] and h.get("connection") == "close" and
                  len(rest) == n and closed, "%r: %r" % (value, got))
        # a plain number, with blanks after it, or the same value twice: read as sent
        for value in (b"2", b"2 ", b"02"):
            got, _ = raw_exchange(g.port, b"POST /_playground/security/test-firewall HTTP/1.1"
                                  b"\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: %s\r\nConnection: close\r\n\r\n{}" % value)
            status, _, body = head_and_json(got)
            check(status.startswith("HTTP/1.1 422") and "ip" in json.dumps(body),
                  "%r: %r" % (value, got))


def test_transfer_encoding_other_than_chunked(build_dir):
    """A Transfer-Encoding other than chunked is a 400 that closes the connection (RFC 9112
    6.3: the body's length cannot be known): civetweb took 'identity' for no body at all,
    and the body was read as the next request (QA: 'the body is empty', then 'Bad
    request' for the body's bytes)."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        for value in (b"identity", b"IDENTITY"):
            got, closed = raw_exchange(g.port, b"POST /_playground/security/test-firewall "
                                       b"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                       b"application/json\r\nTransfer-Encoding: %s\r\n\r\n"
                                       b'{"ip":"1.2.3.4"}GET /healthz HTTP/1.1\r\nHost: '
                                       b"127.0.0.1\r\n\r\n" % value)
            status, h, rest, n = first_answer(got)
            body = json.loads(rest[:n] or b"null")
            check(status.startswith("HTTP/1.1 400") and body["code"] == "INVALID_ARGUMENT" and
                  "Transfer-Encoding" in body["message"] and h.get("connection") == "close" and
                  len(rest) == n and closed, "%r: %r" % (value, got))


def test_chunked_body_with_trailer_fields(build_dir):
    """A chunked request body may end with trailer fields (RFC 9112 7.1.2); civetweb then
    closes the connection after the answer, which said keep-alive: the request pipelined
    behind it went unanswered (QA). The answer to a chunked request now says close, and the
    connection is closed after it, with or without trailer fields."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        for trailer in (b"X-Checksum: 1\r\n", b""):
            got, closed = raw_exchange(g.port, b"POST /_playground/security/test-firewall "
                                       b"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                       b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       b"11\r\n{\"ip\": \"1.2.3.4\"}\r\n0\r\n%s\r\nGET /healthz "
                                       b"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % trailer)
            status, h, rest, n = first_answer(got)
            answers = 1 + (b"HTTP/1.1 " in rest[n:])
            check(status.startswith("HTTP/1.1 200") and
                  json.loads(rest[:n])["action"] == "allow" and closed and
                  (answers == 2 or h.get("connection") == "close"),
                  "trailer %r: an answer that says keep-alive, then nothing: %r" % (trailer, got))


def test_event_stream_query_given_twice(build_dir):
    """?lastEventId= given twice is a 400 naming it, as a repeated parameter is on every
    route (docs/API.md): the stream took the first and started (QA)."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        for q in ("lastEventId=1&lastEventId=2", "lastEventId=1&lastEventId=1",
                  "lastEventId=1&%6castEventId=2"):
            got, closed = raw_exchange(g.port, b"GET /_playground/events?%s HTTP/1.1\r\n"
                                       b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
                                       % q.encode(), 3)
            check(got.startswith(b"HTTP/1.1 400"), "%s: %r" % (q, got[:300]))
            status, _, body = head_and_json(got)
            check(body["code"] == "INVALID_ARGUMENT" and
                  "lastEventId" in body["message"] and closed, "%s: %r" % (q, got[:300]))


def test_event_stream_head_answers_as_get(build_dir):
    """HEAD on an event stream answers what a GET would start with (docs/API.md): a query
    a GET refuses (an unknown parameter, a lastEventId that is not a number, one given
    twice) is a 400 to the HEAD too, without a body; it was a 200 text/event-stream (QA)."""
    with Gateway(build_dir, nodes=[absent_node()]) as g:
        for q in ("?bogus=1", "?lastEventId=x", "?lastEventId=1&lastEventId=2"):
            get = raw_bytes(g.port, b"GET /_playground/events%s HTTP/1.1\r\nHost: 127.0.0.1"
                                    b"\r\nConnection: close\r\n\r\n" % q.encode(), 3)
            head = raw_bytes(g.port, b"HEAD /_playground/events%s HTTP/1.1\r\nHost: "
                                     b"127.0.0.1\r\nConnection: close\r\n\r\n" % q.encode(), 3)
            check(get.startswith(b"HTTP/1.1 400") and head.startswith(b"HTTP/1.1 400") and
                  head.endswith(b"\r\n\r\n") and b"application/json" in head,
                  "%s: GET %r, HEAD %r" % (q, get[:200], head[:300]))
        head = raw_bytes(g.port, b"HEAD /_playground/events/cluster?lastEventId=3 HTTP/1.1\r\n"
                                 b"Host: 127.0.0.1\r\n\r\n", 3)
        check(head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head and
              head.endswith(b"\r\n\r\n"), "a good HEAD: %r" % head)


def test_trickled_body_times_out(build_dir):
    """A body that arrives a byte every 0.3 s is a 408 once --request-timeout-ms has passed
    in all (docs/API.md), chunked or not: civetweb's read of the body waits for every byte
    asked for, its timeout being for each pause alone, so the gateway's deadline was only
    looked at once the whole body was in (QA: a 2,000-byte body at that pace held a worker
    thread for 10 minutes; 128 such clients, every worker)."""
    with Gateway(build_dir, nodes=[absent_node()],
                 extra=["--request-timeout-ms", "1500"]) as g:
        for framing, first in ((b"Content-Length: 2000", b'{"ip": "'),
                               (b"Transfer-Encoding: chunked", b'7d0\r\n{"ip": "')):
            sk = socket.create_connection(("127.0.0.1", g.port), timeout=10)
            try:
                sk.sendall(b"POST /_playground/security/test-firewall HTTP/1.1\r\nHost: "
                           b"127.0.0.1\r\nContent-Type: application/json\r\n%s\r\n\r\n%s"
                           % (framing, first))
                t0, got, closed = time.monotonic(), b"", False
                sk.settimeout(0.3)
                while time.monotonic() - t0 < 12 and not closed:
                    try:
                        sk.sendall(b"1")
                        chunk = sk.recv(65536)
                        got += chunk
                        closed = chunk == b""
                    except socket.timeout:
                        pass
                    except OSError:
                        closed = True
                took = time.monotonic() - t0
                check(closed and took < 5 and (got == b"" or got.startswith(b"HTTP/1.1 408")),
                      "%s: closed %s after %.1f s: %r" % (framing.decode(), closed, took, got))
            finally:
                sk.close()
        st, _, _ = g.get("/index.html")
        check(st == 200, "the gateway answers: %d" % st)


def test_unread_small_body_trickled(build_dir):
    """A request answered before its body was read (a 415 here) keeps its connection when
    the body is small, and civetweb then reads the body to its end to find the next request
    - with no deadline but each read's: a client that sends the rest a byte every half
    second held a worker thread for as long as it liked (QA: 0.5 s a byte, a 2,000-byte
    body, 1,000 s; every other read of a request is bounded by --request-timeout-ms). The
    gateway now reads the rest itself within that time, and closes the connection when the
    client is slower."""
    with Gateway(build_dir, nodes=[absent_node()],
                 extra=["--request-timeout-ms", "1500"]) as g:
        sk = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        try:
            sk.sendall(b"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       b"text/plain\r\nContent-Length: 2000\r\n\r\nx")
            got = b""
            while b"}" not in got:
                chunk = sk.recv(65536)
                check(chunk, "closed before the answer: %r" % got)
                got += chunk
            check(got.startswith(b"HTTP/1.1 415"), "the early answer: %r" % got)
            t0, closed = time.monotonic(), False
            while time.monotonic() - t0 < 10 and not closed:
                try:
                    sk.sendall(b"x")
                    sk.settimeout(0.5)
                    closed = sk.recv(65536) == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
            took = time.monotonic() - t0
            check(closed and took < 6, "the trickling client still holds its connection after "
                  "%.1f s (closed: %s)" % (took, closed))
        finally:
            sk.close()
        st, _, _ = g.get("/index.html")
        check(st == 200, "the gateway answers: %d" % st)


def post_many(port, bodies, timeout=60):
    """POSTs every body of `bodies` to /api/items at once, each on its own connection;
    returns [(status, body)] in the same order."""
    out = [None] * len(bodies)

    def one(i):
        try:
            out[i] = http_request("127.0.0.1", port, "POST", "/api/items", raw=bodies[i],
                                  headers={"Content-Type": "application/json"},
                                  timeout=timeout)[::2]
        except OSError as e:
            out[i] = (None, repr(e))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return out


def test_oversized_creates_fail_alone(build_dir):
    """Creates sent at once travel to the leader as one Rpc/Batch: a burst of creates with
    an oversized description (each a 422 on its own) made a batch over the 16 MiB a node
    takes, the node closed the connection, and every write of that batch - other clients'
    valid ones too - was a 504 of unknown outcome (QA: 79 of 110 such creates and 3 of 10
    small ones). A batch now holds at most 1 MiB."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader(30)
        big = json.dumps({"name": "big", "description": "d" * 1000000}).encode()
        bodies = [big] * 110 + [json.dumps({"name": "small %d" % i}).encode()
                                for i in range(10)]
        got = post_many(g.port, bodies)
        bad = [(i, st, str(b)[:200]) for i, (st, b) in enumerate(got)
               if st != (422 if i < 110 else 201)]
        check(not bad, "%d of %d answers are not 422 (big) or 201 (small): %r"
              % (len(bad), len(got), bad[:5]))
        st, _, s = g.get("/_playground/security/status")
        check(all(c["opens"] == 0 for c in s["circuits"]), "no breaker opened: %r"
              % s["circuits"])


def test_list_of_large_records(build_dir):
    """GET /api/items?limit=1000 over 1,000 records of ~70 KB: the node's reply (~70 MB)
    was over the 64 MiB the gateway's RPC client takes and was dropped; the answer was a
    503 "no node is reachable (the cluster may be down ...)" and three such lists opened
    the circuit breakers of two healthy nodes (QA). A page now ends at 8 MiB of records,
    with a cursor to the rest."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader(30)
        # The opens during the lists are what this is about. A breaker may open while the
        # nodes start (the gateway calls them before they listen) or, on a loaded machine,
        # while 100 creates of 70 KB at once (7 MB a batch, synced by three WALs on one
        # disk) run past their deadline: seen twice in full suites, the phase unknown then;
        # those are said, not failed.
        def opens():
            return {c["node"]: c["opens"] for c in g.get("/_playground/security/status")[2]
                    ["circuits"]}
        start = opens()
        body = json.dumps({"name": "large", "description": "d" * 4096,
                           "metadata": {"blob": "x" * 65400}}).encode()
        for _ in range(10):  # 100 at once, ten times
            got = post_many(g.port, [body] * 100)
            check(all(st == 201 for st, _ in got), "creates: %r" % [st for st, _ in got])
        before = opens()
        ids, cursor, pages = [], "", 0
        while pages < 20:
            st, _, page = g.get("/api/items?limit=1000" + ("&cursor=" + cursor if cursor else ""),
                                timeout=60)
            check(st == 200, "a page of large records: %d %r" % (st, str(page)[:300]))
            ids += [it["id"] for it in page["items"]]
            pages += 1
            cursor = page["nextCursor"]
            if not cursor:
                break
        check(len(ids) == 1000 and len(set(ids)) == 1000 and pages >= 8,
              "every record once: %d ids (%d distinct) in %d pages"
              % (len(ids), len(set(ids)), pages))
        after = opens()
        print("  breaker opens after the leader was known %r, after the creates %r, after the "
              "lists %r" % (start, before, after))
        check(after == before, "no breaker opened by the lists: %r, then %r" % (before, after))


# ------------------------------------------------------------------ start-up


def test_startup_checks(build_dir):
    """Bad flags exit 2 naming the problem (no wrapped address, no node that cannot run,
    no missing page); environment failures name the path or the cause."""
    root = tempfile.mkdtemp(prefix="lithair-gwh-")
    try:
        front = os.path.join(root, "front")
        os.makedirs(front)
        afile = os.path.join(root, "afile")
        open(afile, "w").close()
        node_bin = os.path.join(build_dir, "node", "lithair-node")
        data = os.path.join(root, "data")
        port = str(free_port())
        base = ["--listen", port, "--frontend", front]
        sup = base + ["--spawn", "3", "--data-dir", data, "--node-bin", node_bin]
        for bad in ("383.0.0.1", "127.000.000.001", "999.1.1.1", "127.1", "localhost.x"):
            rc, err = run_gateway(build_dir, sup + ["--listen-addr", bad])
            check(rc == 2 and "bad address" in err and bad in err, "%s: %d %r" % (bad, rc, err))
        for bad, why in ((os.path.join(root, "nope"), "No such file or directory"),
                         (afile, "Permission denied"),
                         (root, "not a regular file")):
            rc, err = run_gateway(build_dir, base + ["--spawn", "3", "--data-dir", data,
                                                     "--node-bin", bad])
            check(rc == 2 and bad in err and why in err, "--node-bin %s: %d %r" % (bad, rc, err))
        for bad, why in ((os.path.join(root, "nope"), "No such file or directory"),
                         (afile, "not a directory")):
            rc, err = run_gateway(build_dir, ["--listen", port, "--frontend", bad, "--spawn", "3",
                                              "--data-dir", data, "--node-bin", node_bin])
            check(rc == 2 and bad in err and why in err, "--frontend %s: %d %r" % (bad, rc, err))
        rc, err = run_gateway(build_dir, sup + ["--rate-burst", "5"])
        check(rc == 2 and "--rate-limit" in err, "--rate-burst alone: %d %r" % (rc, err))
        rc, err = run_gateway(build_dir, base + ["--node", "1,foo://x,tcp://127.0.0.1:1"])
        check(rc == 2 and "foo://x" in err, "a bad --node URL is a usage error: %d %r" % (rc, err))
        # one line naming the node, the URL and what is wrong, as lithair-node says it (it
        # was a log line joining every node's RPC URLs, with "invalid argument")
        for node, words in (("1,foo://x,tcp://127.0.0.1:1",
                             "--node 1: the RPC URL 'foo://x': unknown scheme"),
                            ("2,tcp://127.0.0.1:1,tcp://127.0.0.1:0",
                             "--node 2: the events URL 'tcp://127.0.0.1:0': port must be 1..65535"),
                            ("3,tcp://127.0.0.1:1,tcp://x",
                             "--node 3: the events URL 'tcp://x': no port")):
            rc, err = run_gateway(build_dir, base + ["--node", node])
            check(rc == 2 and err.startswith("lithair-gateway: " + words) and
                  len(err.strip().splitlines()) == 1, "--node %s: %d %r" % (node, rc, err))
        # a number is digits: no blank or sign in front (" -1" was ULONG_MAX), no overflow
        # (99999999999999999999 was clamped to ULONG_MAX, a node's ID)
        for nid in (" -1", "+1", " 1", "99999999999999999999"):
            rc, err = run_gateway(build_dir, base + ["--node", "%s,tcp://127.0.0.1:%d,"
                                                     "tcp://127.0.0.1:%d" % (nid, free_port(),
                                                                             free_port())])
            check(rc == 2 and "--node ID takes a number" in err,
                  "--node ID %r: %d %r" % (nid, rc, err))
        rc, err = run_gateway(build_dir, ["--listen", " " + port, "--frontend", front, "--spawn",
                                          "3", "--data-dir", data, "--node-bin", node_bin])
        check(rc == 2 and "--listen takes a number" in err, "--listen ' N': %d %r" % (rc, err))
        # an unknown short option is named (the first of a cluster: it named the program's
        # path or the argument before it), a flag without its value says so
        for args, words in ((["-xyz"] + sup, "unknown option '-x'"),
                            (sup + ["--no-events", "-xyz"], "unknown option '-x'"),
                            (sup + ["--no-events=1"], "unknown option '--no-events=1'"),
                            (sup + ["--listen"], "--listen needs a value")):
            rc, err = run_gateway(build_dir, args)
            check(rc == 2 and words in err, "%r: %d %r" % (args, rc, err))
        # each --node has URLs of its own: one node given twice under two IDs was two
        u = ["tcp://127.0.0.1:%d" % free_port() for _ in range(3)]
        for nodes, words in ((["1,%s,%s" % (u[0], u[1]), "2,%s,%s" % (u[0], u[2])],
                              "--node 2: %s is also node 1's RPC URL" % u[0]),
                             (["1,%s,%s" % (u[0], u[1]), "2,%s,%s" % (u[2], u[1])],
                              "--node 2: %s is also node 1's events URL" % u[1]),
                             (["1,%s,%s" % (u[0], u[0])], "both %s" % u[0])):
            rc, err = run_gateway(build_dir, base + sum([["--node", n] for n in nodes], []))
            check(rc == 2 and words in err, "%r: %d %r" % (nodes, rc, err))
        # a flag of supervisor mode in attach mode is refused, not ignored (QA: a --node-arg
        # or --data-dir given with --node did nothing, without a word)
        node = ["--node", "1,tcp://127.0.0.1:%d,tcp://127.0.0.1:%d" % (free_port(), free_port())]
        for flag in (["--data-dir", data], ["--node-bin", node_bin], ["--node-base-port", "7100"],
                     ["--node-arg=--snapshot-interval"], ["--node-cpus", "off"]):
            rc, err = run_gateway(build_dir, base + node + flag)
            name = flag[0].split("=")[0]
            check(rc == 2 and name + " is for --spawn" in err,
                  "%s in attach mode: %d %r" % (name, rc, err))
        for dd, why in ((afile, afile + " exists and is not a directory"),
                        (os.path.join(afile, "sub"), afile + " exists and is not a directory")):
            rc, err = run_gateway(build_dir, base + ["--spawn", "3", "--data-dir", dd,
                                                     "--node-bin", node_bin])
            check(rc == 1 and why in err, "--data-dir %s: %d %r" % (dd, rc, err))
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        try:
            rc, err = run_gateway(build_dir, ["--listen", str(port),
                                              "--frontend", front, "--node",
                                              "1,tcp://127.0.0.1:%d,tcp://127.0.0.1:%d" %
                                              (free_port(), free_port())])
            # said before anything starts: no node spawned (they were started, then stopped)
            spawned = os.path.join(root, "spawned")
            rc2, err2 = run_gateway(build_dir, ["--listen", str(port),
                                                "--frontend", front, "--spawn", "3",
                                                "--data-dir", spawned, "--node-bin", node_bin])
        finally:
            taken.close()
        check(rc == 1 and "Address already in use" in err, "a taken port: %d %r" % (rc, err))
        check(rc2 == 1 and "cannot listen on 127.0.0.1:%d: Address already in use" % port in err2
              and "started" not in err2 and not os.path.exists(spawned),
              "a taken port, --spawn: %d %r" % (rc2, err2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_help_states_every_range(build_dir):
    """--help states the range each numeric flag must be in, the one its refusal names (QA:
    it gave only the defaults of --threads, --max-body, --coalesce, the timeouts, the breaker,
    the rate limit and the session TTL; a user learned "2 to 4096" from the refusal)."""
    root = tempfile.mkdtemp(prefix="lithair-gwh-")
    try:
        r = subprocess.run([os.path.join(build_dir, "gateway", "lithair-gateway"), "--help"],
                           capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        text = r.stdout
        check(r.returncode == 0 and "Usage: lithair-gateway" in text, "--help: %r" % (r,))
        base = ["--listen", str(free_port()), "--frontend", root, "--spawn", "3", "--data-dir",
                os.path.join(root, "data")]
        for flag in ("--listen", "--spawn", "--node-base-port", "--max-body", "--threads",
                     "--request-timeout-ms", "--rpc-timeout-ms", "--coalesce",
                     "--coalesce-senders", "--breaker-failures", "--breaker-cooldown-ms",
                     "--rate-limit", "--rate-burst", "--session-ttl-s"):
            args = base + [flag, "99999999999"]
            if flag == "--rate-burst":
                args += ["--rate-limit", "10"]
            rc, err = run_gateway(build_dir, args)
            lohi = range_refused(err)
            entry = help_entry(text, flag)
            check(rc == 2 and lohi and entry and "%s..%s" % lohi in entry,
                  "%s: refused with %r; --help says %r" % (flag, err, entry))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_max_body_within_what_a_node_takes(build_dir):
    """--max-body stops at 8 MiB, half the 16 MiB RPC a node takes: with 32 MiB allowed, one
    create over 16 MiB was dropped by the node with its connection, and every other call in
    flight on that connection failed with it (QA)."""
    root = tempfile.mkdtemp(prefix="lithair-gwh-")
    try:
        base = ["--listen", str(free_port()), "--frontend", root, "--spawn", "3", "--data-dir",
                os.path.join(root, "data")]
        rc, err = run_gateway(build_dir, base + ["--max-body", "16777216"])
        check(rc == 2 and "from 1024 to 8388608" in err, "16 MiB refused: %d %r" % (rc, err))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    with Gateway(build_dir, nodes=[absent_node()], extra=["--max-body", "8388608"]) as g:
        st, _, _ = g.get("/healthz", timeout=3)
        check(st in (200, 503), "8 MiB accepted: the gateway serves (%d)" % st)


def test_listen_addr_decides_the_host_check(build_dir):
    """The Host check (DNS rebinding) follows the address parsed: on 127.0.0.1 a foreign
    Host is refused."""
    with Gateway(build_dir, nodes=[absent_node()], extra=["--listen-addr", "127.0.0.1"]) as g:
        expect_error(g.get("/_playground/security/firewall", headers={"Host": "evil.example"}),
                     403, "PERMISSION_DENIED", "loopback")


def test_host_check_beyond_loopback(build_dir):
    """Listening beyond loopback, the API answers a Host that is an address, localhost, this
    machine's name or an --allowed-host; another name is refused (DNS rebinding: a page on
    another site whose name now points at this machine sends that name, and its Origin
    equals it, so the cross-site check alone let it drive the cluster). The page's files
    are served to any Host. Bad --allowed-host values are refused at start."""
    import socket as socketmod
    with Gateway(build_dir, nodes=[absent_node()],
                 extra=["--listen-addr", "0.0.0.0", "--allowed-host", "Playground.Example"]) as g:
        path = "/_playground/auth/me"
        for host in ("evil.example", "evil.example:%d" % g.port, "playground.example.evil",
                     "example"):
            _, body = expect_error(g.get(path, headers={"Host": host}), 403,
                                   "PERMISSION_DENIED", "--allowed-host")
            check(host.split(":")[0] in body["message"], "names %s: %r" % (host, body))
        for host in ("127.0.0.1:%d" % g.port, "localhost", "playground.example",
                     "PLAYGROUND.example:%d" % g.port, socketmod.gethostname()):
            st, _, _ = g.get(path, headers={"Host": host})
            check(st == 200, "Host %s: %d" % (host, st))
        st, _, _ = g.get("/", headers={"Host": "evil.example"})
        check(st == 200, "the page's files for any Host: %d" % st)
    port = str(free_port())
    base = ["--listen", port, "--frontend", tempfile.gettempdir(), "--node",
            "1,tcp://127.0.0.1:1,tcp://127.0.0.1:2"]
    for bad in ("", "a..b", ".a", "a.", "host:80", "a b", "x" * 254, "[::1]"):
        rc, err = run_gateway(build_dir, base + ["--allowed-host", bad])
        check(rc == 2 and "--allowed-host: bad name" in err, "%r: %d %r" % (bad, rc, err))
    rc, err = run_gateway(build_dir, base + sum((["--allowed-host", "h%d" % i]
                                                for i in range(17)), []))
    check(rc == 2 and "too many --allowed-host" in err, "17 names: %d %r" % (rc, err))


def test_exec_failure_is_reported(build_dir):
    """A node binary that vanishes after the start: the restart is refused saying why, and
    the node's exitError and node.log say it too (it used to answer 200 for a process that
    exited 127 at once, with exitError null and an empty log)."""
    root = tempfile.mkdtemp(prefix="lithair-gwh-")
    try:
        copy = os.path.join(root, "lithair-node")
        shutil.copy2(os.path.join(build_dir, "node", "lithair-node"), copy)
        with Gateway(build_dir, spawn=3, extra=["--node-bin", copy]) as g:
            g.wait_leader()
            os.unlink(copy)
            check(g.post("/_playground/cluster/kill/3?force=true")[0] == 200, "kill 3")
            _, body = expect_error(g.post("/_playground/cluster/restart/3"), 500, "INTERNAL",
                                   "cannot execute " + copy)
            check("No such file or directory" in body["message"], "why: %r" % body)
            n3 = [n for n in g.get("/_playground/cluster/status")[2]["nodes"] if n["id"] == 3][0]
            check(not n3["running"] and "cannot execute" in (n3["exitError"] or ""),
                  "status: %r" % n3)
            with open(os.path.join(n3["dataDir"], "node.log"), "rb") as f:
                check(b"ERROR node3 cannot execute" in f.read(), "node.log says why")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ attach mode


def test_attach_kill_of_a_down_node(build_dir):
    """Attach mode: a node that does not answer is a 409 'not running', with or without
    ?force (it was a false quorum refusal, and with force a 503)."""
    with Cluster(build_dir, 3) as c, Gateway(build_dir, nodes=c.nodes) as g:
        g.wait_leader()
        c.node(2).kill()
        for path in ("/_playground/cluster/kill/2", "/_playground/cluster/kill/2?force=true",
                     "/_playground/cluster/kill/2?graceful=true"):
            expect_error(g.post(path), 409, "FAILED_PRECONDITION", "node 2 is not running")
        # a live node whose stop would lose the quorum is still refused for that
        leader = g.wait_leader()
        expect_error(g.post("/_playground/cluster/kill/%d" % leader), 409, "FAILED_PRECONDITION",
                     "quorum")



def test_attach_wal_stats_and_snapshot_name_their_node(build_dir):
    """Attach mode, --node IDs 1 and 2 swapped: wal-stats and snapshot showed node 2's
    figures as node 1's and the reverse, labelled by the id given, not the node's (QA).
    Their replies now carry the node's own id (rpc.proto): a node that is not the one given
    is a failure saying so, as in the cluster status, and /metrics counts it down."""
    with Cluster(build_dir, 3) as c:
        c.wait_leader(timeout=10)
        swapped = [SimpleNamespace(id=1, rpc=c.node(2).rpc, events=c.node(2).events),
                   SimpleNamespace(id=2, rpc=c.node(1).rpc, events=c.node(1).events),
                   c.node(3)]

        def named(ns):  # nodes 1 and 2 refused, naming the node each URL holds; 3 shown
            return [n["id"] for n in ns] == [1, 2, 3] and "error" not in ns[2] and all(
                n.get("code") == "FAILED_PRECONDITION" and "bytes" not in n and
                "is node %d, not node %d (check --node)" % (3 - n["id"], n["id"]) in n["error"]
                for n in ns[:2])
        with Gateway(build_dir, nodes=swapped) as g:
            def wal_stats():  # the gateway dials the nodes in the background
                st, _, w = g.get("/_playground/cluster/wal-stats")
                return w if st == 200 and named(w["nodes"]) else None
            w = wait_for("wal-stats to name the swapped nodes", wal_stats, timeout=10)
            check(int(w["nodes"][2]["bytes"]) > 0, "node 3's figures: %r" % w["nodes"][2])
            st, _, sn = g.post("/_playground/cluster/snapshot")
            check(st == 200 and [n["id"] for n in sn["nodes"]] == [3] and named(
                sorted(sn["failed"], key=lambda n: n["id"]) + sn["nodes"]),
                "snapshot: %d %r" % (st, sn))
            st, _, m = g.get("/metrics")
            check(st == 200 and 'lithair_node_up{node="1"} 0' in m and
                  'lithair_node_up{node="2"} 0' in m and 'lithair_node_up{node="3"} 1' in m and
                  'fsync_seconds_count{node="1"}' not in m and
                  'fsync_seconds_count{node="3"}' in m, "metrics: %r" % m[:2000])
        # given right, each node's figures under its own id
        with Gateway(build_dir, nodes=c.nodes) as g:
            def all_three():
                st, _, w = g.get("/_playground/cluster/wal-stats")
                return w if st == 200 and [n["id"] for n in w["nodes"]] == [1, 2, 3] and \
                    not any("error" in n for n in w["nodes"]) else None
            wait_for("wal-stats of every node", all_three, timeout=10)
            st, _, sn = g.post("/_playground/cluster/snapshot")
            check(st == 200 and [n["id"] for n in sn["nodes"]] == [1, 2, 3] and
                  sn["failed"] == [], "snapshot: %d %r" % (st, sn))

if __name__ == "__main__":
    sys.exit(run_tests(globals()))
