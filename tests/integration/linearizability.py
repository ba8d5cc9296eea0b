"""linearizability.py — a Wing & Gong / Lowe linearizability checker for registers.

A history is a list of operations on one register, each a dict:
  {"kind": "write"|"read", "value": v, "start": t0, "end": t1 or None, "ok": bool}
A write that failed or timed out may or may not have happened: give it ok=False and it is
treated as concurrent with everything after its start (end = infinity) and optional
(it may be left out of the linearization). A failed read says nothing and is dropped.
A read of a record that does not exist yet returns value None (the initial state).

check(history) returns (True, None) or (False, explanation). The search linearizes, at each
step, some operation whose start precedes every pending operation's end (a "minimal"
operation), and memoizes (set of linearized operations, register value) to cut repeats.
"""

INF = float("inf")


def check(history, initial=None, max_states=2_000_000):
    ops = []
    for op in history:
        if op["kind"] == "read" and not op["ok"]:
            continue
        end = op["end"] if op["ok"] and op["end"] is not None else INF
        ops.append({"kind": op["kind"], "value": op["value"], "start": op["start"], "end": end,
                    "optional": op["kind"] == "write" and not op["ok"]})
    ops.sort(key=lambda o: o["start"])
    n = len(ops)
    required = frozenset(i for i in range(n) if not ops[i]["optional"])
    seen = set()
    # Depth-first search over (done set, value); iterative to stay within Python's stack.
    stack = [(frozenset(), initial)]
    states = 0
    while stack:
        done, value = stack.pop()
        if required <= done:
            return True, None
        key = (done, value)
        if key in seen:
            continue
        seen.add(key)
        states += 1
        if states > max_states:
            return False, "search too large (%d states): inconclusive" % states
        pending = [i for i in range(n) if i not in done]
        # Skipping an optional write that can no longer matter is handled by `required`.
        min_end = min(ops[i]["end"] for i in pending)
        for i in pending:
            o = ops[i]
            if o["start"] > min_end:
                break  # ops are sorted by start: no later one can be minimal
            if o["kind"] == "write":
                stack.append((done | {i}, o["value"]))
            elif o["value"] == value:
                stack.append((done | {i}, value))
    return False, "no linearization of %d operations exists" % n


def _self_test():
    w = lambda v, s, e, ok=True: {"kind": "write", "value": v, "start": s, "end": e, "ok": ok}
    r = lambda v, s, e: {"kind": "read", "value": v, "start": s, "end": e, "ok": True}
    assert check([w(1, 0, 1), r(1, 2, 3)])[0]
    assert not check([w(1, 0, 1), r(None, 2, 3)])[0], "stale read after a completed write"
    assert check([w(1, 0, 5), r(None, 1, 2), r(1, 3, 4)])[0], "concurrent write seen late"
    assert not check([w(1, 0, 5), r(1, 1, 2), r(None, 3, 4)])[0], "value went back"
    assert check([w(1, 0, 1), w(2, 2, 3, ok=False), r(1, 4, 5)])[0], "failed write skipped"
    assert check([w(1, 0, 1), w(2, 2, 3, ok=False), r(2, 4, 5)])[0], "failed write applied"
    assert not check([w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)])[0], "lost acknowledged write"


if __name__ == "__main__":
    _self_test()
    print("1 passed, 0 failed")
