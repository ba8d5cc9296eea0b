"""test_observability.py — are the figures the playground shows true? Real processes
(lithair-gateway --spawn 3), checked against what the nodes and the processes really do.

- The leader's per-follower `recentActive` (cluster status, `progress` events) says
  whether it heard from that follower lately: true all along for followers that answer
  every heartbeat, false soon for one that is stopped (SIGSTOP).
- GET /metrics is valid Prometheus text exposition format (0.0.4), read by a strict parser
  written here: HELP and TYPE once per family, before its samples, samples of a family
  together, well-formed names, labels and values, histograms with cumulative buckets, a
  +Inf bucket equal to _count, and bucket bounds that are the true bounds.
- A leader cut off from the others that still says it leads an older term: the cluster
  status names the new leader and calls the old one desynced; lithair-admin status
  measures lags against the leader of the highest term.

Run: python3 test_observability.py BUILD_DIR [TEST_NAME...]
"""

import math
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gw_harness import Gateway  # noqa: E402
from harness import check, run_tests, wait_for  # noqa: E402
from test_partition import PartitionCluster  # noqa: E402


def status(g):
    st, _, body = g.get("/_playground/cluster/status", timeout=5)
    check(st == 200, "status: %r" % (body,))
    return body


def test_recent_active_is_steady(build_dir):
    """recentActive of followers that answer every heartbeat stays true at every look
    (the raft core clears its own flag at each CheckQuorum round, so reporting that flag
    made a healthy follower read as silent for a heartbeat several times a second); a
    stopped follower reads false within a second or so."""
    with Gateway(build_dir, spawn=3) as g:
        leader = g.wait_leader(timeout=20)
        wait_for("every follower active", lambda: all(
            f["recentActive"] for n in status(g)["nodes"] if n["id"] == leader
            for f in n["followers"]) and status(g)["leaderId"] == leader, timeout=10)
        looks, silent = 0, []
        t_end = time.monotonic() + 4.0
        while time.monotonic() < t_end and looks < 2000:
            s = status(g)
            if s["leaderId"] != leader:
                break
            for n in s["nodes"]:
                if n["id"] == leader:
                    check(len(n["followers"]) == 2, "two followers: %r" % n["followers"])
                    silent += [(round(4.0 - (t_end - time.monotonic()), 3), f["id"])
                               for f in n["followers"] if not f["recentActive"]]
            looks += 1
        check(looks >= 50, "too few status looks (%d) to tell" % looks)
        check(not silent, "followers that answer every heartbeat read as silent (at s, id) "
              "in %d looks: %r" % (looks, silent[:20]))
        # the flag is not simply always true: a stopped follower reads false soon
        victim = [i for i in (1, 2, 3) if i != leader][0]
        pid = [n["pid"] for n in status(g)["nodes"] if n["id"] == victim][0]
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            wait_for("the stopped follower read as silent", lambda: any(
                f["id"] == victim and not f["recentActive"]
                for n in status(g)["nodes"] if n["id"] == leader for f in n["followers"]),
                timeout=5, interval=0.02)
            check(time.monotonic() - t0 < 2.0, "silent only after %.2f s"
                  % (time.monotonic() - t0))
        finally:
            os.kill(pid, signal.SIGCONT)


# ------------------------------------------------------------------ /metrics

PROM_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
PROM_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
PROM_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def prom_value(text, what):
    """A sample value as the format writes it: a Go float, NaN, +Inf or -Inf."""
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf"))
    check(re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text),
          "%s: not a number: %r" % (what, text))
    return float(text)


def prom_labels(text, what):
    """Parses 'a="x",b="y"' (what is between the braces); returns a dict."""
    labels, i = {}, 0
    check(text != "", "%s: empty braces (the grammar wants at least one label)" % what)
    while i < len(text):
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        check(m, "%s: bad label at %r" % (what, text[i:]))
        name, i, val = m.group(1), m.end(), ""
        while True:
            check(i < len(text), "%s: unterminated label value" % what)
            c = text[i]
            if c == "\\":
                check(i + 1 < len(text) and text[i + 1] in "\\\"n",
                      "%s: bad escape in a label value: %r" % (what, text[i:i + 2]))
                val += {"\\": "\\", '"': '"', "n": "\n"}[text[i + 1]]
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                check(c != "\n", "%s: raw newline in a label value" % what)
                val += c
                i += 1
        check(name not in labels, "%s: label %s twice" % (what, name))
        check(not name.startswith("__"), "%s: reserved label name %s" % (what, name))
        labels[name] = val
        if i < len(text):
            check(text[i] == ",", "%s: expected ',' at %r" % (what, text[i:]))
            i += 1
    return labels


def prom_parse(text):
    """A strict reader of the Prometheus text format 0.0.4. Returns {family: {"type",
    "help", "samples": [(name, labels, value)]}}; fails on anything the format does not
    allow, and on what this project promises beyond it (HELP and TYPE for every family)."""
    check(text.endswith("\n"), "the exposition ends with a newline")
    fams, order, current = {}, [], None

    def family_of(name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                return base
        return name

    def fam(name):
        if name not in fams:
            fams[name] = {"type": None, "help": None, "samples": []}
            order.append(name)
        return fams[name]

    seen = set()
    for ln, line in enumerate(text[:-1].split("\n"), 1):
        what = "line %d %r" % (ln, line)
        check(line.strip() != "" or line == "", "%s: blanks" % what)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                check(PROM_NAME.match(name), "%s: bad metric name" % what)
                f = fam(name)
                check(not f["samples"], "%s: %s after the family's samples" % (what, parts[1]))
                key = parts[1].lower()
                check(f[key] is None, "%s: a second %s for %s" % (what, parts[1], name))
                check(len(parts) == 4 and parts[3] != "", "%s: %s without text" % (what, parts[1]))
                if key == "type":
                    check(parts[3] in PROM_TYPES, "%s: unknown type" % what)
                f[key] = parts[3]
                current = name
            continue
        if line == "":
            continue
        m = re.fullmatch(r"([^\s{]+)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?", line)
        check(m, "%s: not a sample line" % what)
        name, ltext, vtext = m.group(1), m.group(2), m.group(3)
        check(PROM_NAME.match(name), "%s: bad metric name" % what)
        labels = prom_labels(ltext, what) if ltext is not None else {}
        value = prom_value(vtext, what)
        fname = family_of(name)
        f = fam(fname)
        check(fname == current, "%s: a sample of %s away from its family's other lines "
              "(after %s)" % (what, fname, current))
        key = (name, tuple(sorted(labels.items())))
        check(key not in seen, "%s: the same series twice" % what)
        seen.add(key)
        f["samples"].append((name, labels, value))
    for name in order:
        f = fams[name]
        check(f["type"] is not None and f["help"] is not None,
              "family %s lacks %s" % (name, "TYPE" if f["type"] is None else "HELP"))
        if f["type"] == "counter":
            check(name.endswith("_total"), "counter %s does not end in _total" % name)
        for sname, labels, value in f["samples"]:
            if f["type"] in ("counter", "histogram"):
                check(value >= 0 and not math.isnan(value), "%s %r: negative" % (sname, labels))
            if f["type"] == "histogram":
                check(sname in (name + "_bucket", name + "_sum", name + "_count"),
                      "histogram %s has a sample %s" % (name, sname))
        if f["type"] == "histogram":
            prom_check_histogram(name, f["samples"])
    return fams


def prom_check_histogram(name, samples):
    """Buckets in increasing `le` order, cumulative, ending with +Inf equal to _count; one
    _sum and one _count per label set."""
    series = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            check("le" in labels, "%s%r: a bucket without le" % (sname, labels))
            s["buckets"].append((prom_value(labels["le"], "le"), value, labels["le"]))
        else:
            check("le" not in labels, "%s%r: le outside a bucket" % (sname, labels))
            s["sum" if sname.endswith("_sum") else "count"] = value
    for rest, s in series.items():
        what = "%s%r" % (name, dict(rest))
        b = s["buckets"]
        check(b and b[-1][2] == "+Inf", "%s: the last bucket is not +Inf: %r" % (what, b[-3:]))
        check(all(b[i][0] < b[i + 1][0] for i in range(len(b) - 1)),
              "%s: bucket bounds not increasing" % what)
        check(all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)),
              "%s: buckets not cumulative: %r" % (what, [(x[2], x[1]) for x in b]))
        check(s["count"] is not None and s["sum"] is not None, "%s: _sum or _count missing" % what)
        check(b[-1][1] == s["count"], "%s: +Inf bucket %r != _count %r" % (what, b[-1][1],
                                                                         s["count"]))


def scrape(g):
    st, h, text = g.get("/metrics", timeout=10)
    check(st == 200, "metrics: %d" % st)
    check(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "content type %r" % h.get("content-type"))
    return prom_parse(text), text


def series_map(fams, types=("counter", "histogram")):
    """{(name, labels): value} of the counter-like series (histograms: _count, buckets)."""
    out = {}
    for fname, f in fams.items():
        if f["type"] in types:
            for name, labels, value in f["samples"]:
                if not name.endswith("_sum"):
                    out[(name, tuple(sorted(labels.items())))] = value
    return out


def test_metrics_exposition(build_dir):
    """/metrics parses strictly; the fsync histogram's bounds are the node's (powers of two
    microseconds, written exactly); counters do not go down between two scrapes."""
    with Gateway(build_dir, spawn=3) as g:
        g.wait_leader(timeout=20)
        for i in range(20):
            check(g.post("/api/items", {"name": "m%d" % i})[0] == 201, "create")
        wait_for("every node in /metrics", lambda: scrape(g)[1].count(
            "lithair_node_fsync_seconds_count{") == 3, timeout=10)
        fams, text = scrape(g)
        for want in ("lithair_node_up", "lithair_node_role", "lithair_node_fsync_seconds",
                     "lithair_gateway_request_duration_seconds", "lithair_gateway_requests_total",
                     "lithair_gateway_circuit_open", "lithair_gateway_uptime_seconds"):
            check(want in fams and fams[want]["samples"], "no %s in:\n%s" % (want, text))
        # one role per answering node
        for node in ("1", "2", "3"):
            check(sum(v for _, lb, v in fams["lithair_node_role"]["samples"]
                      if lb["node"] == node) == 1, "node %s has one role" % node)
        # the node counts fsyncs in buckets [2^(b-1), 2^b) us: each bound is 2^b us exactly
        for _, labels, _ in fams["lithair_node_fsync_seconds"]["samples"]:
            le = labels.get("le")
            if le is None or le == "+Inf":
                continue
            us = float(le) * 1e6
            check(abs(us - round(us)) < 1e-6 and round(us) > 0 and
                  round(us) & (round(us) - 1) == 0,
                  "fsync bucket le=%s is not a power of two microseconds (%r us)" % (le, us))
        before = series_map(fams)
        for i in range(5):
            g.post("/api/items", {"name": "n%d" % i})
        after = series_map(scrape(g)[0])
        for key, v in before.items():
            if key in after:
                check(after[key] >= v, "%r went down: %r -> %r" % (key, v, after[key]))



# ------------------------------------------------------------------ a deposed leader


class SlowStepDownCluster(PartitionCluster):
    """Raft links through proxies (test_partition); node 3 has an election timeout of
    10 s, so that, led by it and then cut off, it goes on saying it leads its old term
    for seconds (CheckQuorum steps it down only after its own election timeout) while the
    two others elect a new leader."""

    def __enter__(self):
        self.proxies.start()
        for n in self.nodes:
            n.start(extra=["--election-ticks", "1000"] if n.id == 3 else [])
        return self


def test_deposed_leader_is_not_shown_healthy(build_dir):
    """A cut-off leader that still says it leads an older term: the gateway's status
    names the new leader and calls the old one desynced (it was `healthy`: its lag was
    read from the new leader's progress, its allegiance not at all); lithair-admin status
    measures every lag against the leader of the highest term (it took the last endpoint
    that said it led: the old leader, listed last, made its own lag 0)."""
    with SlowStepDownCluster(build_dir) as c:
        first = c.wait_leader(timeout=15)
        if first != 3:
            c.admin("leader", "transfer", "3", timeout_ms=5000)
        wait_for("node 3 to lead", lambda: c.leader() == 3, timeout=10)
        term0 = int(c.node_status(3)["term"])
        with Gateway(build_dir, nodes=c.nodes) as g:
            c.proxies.isolate(3, "cut")
            others = [n for n in c.nodes if n.id != 3]
            new = wait_for("a new leader among 1 and 2", lambda: c.leader(nodes=others),
                           timeout=10, interval=0.1)
            for i in range(5):  # the new leader's log moves past the old one's
                c.admin("items", "create", '{"name": "after-%d"}' % i, endpoints=c.node(new).rpc)
            old = c.node_status(3)
            check(old and old["role"] == "leader" and int(old["term"]) == term0,
                  "node 3 still says it leads term %d (the test's premise): %r" % (term0, old))
            s = wait_for("the gateway to see node 3 and the new leader", lambda: (
                lambda s: s if s["leaderId"] == new and all(
                    "term" in n for n in s["nodes"]) else None)(status(g)), timeout=10)
            byid = {n["id"]: n for n in s["nodes"]}
            check(s["term"] > term0, "the cluster's term is the new leader's: %r" % s["term"])
            check(byid[3]["role"] == "leader" and byid[3]["term"] == term0,
                  "node 3 shown as it says: %r" % byid[3])
            check(byid[3]["health"] == "desynced",
                  "a deposed leader of term %d (the leader is node %d, term %d) shown %r"
                  % (term0, new, s["term"], byid[3]["health"]))
            for n in others:
                check(byid[n.id]["health"] == "healthy", "node %d: %r" % (n.id, byid[n.id]))
            # lithair-admin status: lags against the leader of the highest term
            rows = {int(r["id"]): r for r in c.status() if r.get("healthy")}
            check(set(rows) == {1, 2, 3}, "admin status rows: %r" % rows)
            new_last = int(rows[new]["lastIndex"])
            check(int(rows[3]["lag"]) >= new_last - int(rows[3]["applied"]) >= 5,
                  "node 3's lag %r: the new leader's last index %d, node 3 applied %r"
                  % (rows[3]["lag"], new_last, rows[3]["applied"]))
            c.proxies.heal()


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
