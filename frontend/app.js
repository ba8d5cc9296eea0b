/*
 * app.js: the Lithair Playground page's behaviour: cluster cards and controls, replication
 * monitor, benchmark, data explorer, toasts, and ONE Server-Sent Events stream
 * (/_playground/events) that feeds every live view. Initial state and refreshes after an
 * action come from plain GETs. One thing polls: the Storage view, because no event carries a
 * node's WAL segments, fsync percentiles or snapshot (GET /cluster/wal-stats every 3 s while
 * the tab is visible). Layout is index.html; HTTP and error words are api.js; charts are
 * charts.js. Contract: docs/API.md.
 */
'use strict';
(function () {
  const { request, ApiError } = window.LP.api;
  const { TimeChart, BarChart, fmt_num, fmt_ms, fmt_us, fmt_ticks, INCRS_125, COLORS } = window.LP.charts;

  const $ = (id) => document.getElementById(id);
  const STALE_MS = 3000;          /* a running node silent this long is shown as not answering */
  const FEED_MAX = 40;
  const APPLIED_MAX = 60000;      /* raft indexes remembered for the replicated badges */

  /* ---------------------------------------------------------------- state */
  const state = {
    mode: '',
    quorum: null,
    nodes: new Map(),             /* id -> node (status fields + live fields) */
    leaderId: null,
    term: 0,
    leaderLostAt: null,           /* ms timestamp when the page saw the leader go */
    leaderBlind: false,           /* the gateway was lost since the leader shown was seen */
    leaderMetrics: null,
    progress: null,               /* the leader's latest progress event */
    appliedBy: new Map(),         /* raft index -> Set(node id), from `committed` events */
    feed: [],                     /* newest first: {index, op, id, model, term, nodes:Set, t} */
    feedByIndex: new Map(),
    committedCount: 0, /* log entries this page has heard of (one count per index, whichever node told first) */
    feedSampledAt: -Infinity, /* the last committed event saying the gateway left some out ("skipped") */
    items: [],
    itemsTotal: 0,
    cursors: [null],              /* cursor of each page visited; last = current page */
    nextCursor: '',
    pendingNew: null,             /* the item just created, kept visible on the page */
    itemsFilter: null,            /* the filter of the rows shown: {status} or {name}, or null */
    editing: null,                /* {id, version} while the form edits an item */
    itemsError: false,            /* the table shows a failed load (reloaded when a leader is back) */
    /* lastEndAt: when this page saw a run end (-Infinity: none; 0 held back every item event
     * of the page's first 3 s, performance.now() counting from its load) */
    bench: { state: 'idle', lastEndAt: -Infinity, duration: 0, stopping: false, seq: -1, epoch: 0 }, /* seq, epoch: the newest status shown */
    me: { role: '', user: null, anonymous: true, address: '' }, /* GET /_playground/auth/me */
    fwRules: [],                  /* the firewall rules last listed */
    sse: { es: null, state: 'connecting', lastMsgAt: 0, everOpen: false, downSince: 0, liveAt: 0, lostTimer: null, retryMs: 1000, timer: null, bc: null, leading: false, helloBound: false, fwd: [], fwdTimer: null, metricsSeen: false, probing: false, probeAt: 0 },
  };

  /* ---------------------------------------------------------------- helpers */
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const c of [].concat(children || [])) if (c != null) e.append(c.nodeType ? c : document.createTextNode(String(c)));
    return e;
  }
  const num = (v) => (v == null || v === '' ? null : Number(v));
  // Ids are time-ordered UUIDs: items made in the same minute share their first
  // characters, so the short form is the random tail.
  const short_id = (id) => (id && id.length > 10 ? '…' + id.slice(-8) : id || '—');
  const INT_FMT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }); /* toLocaleString builds one per call */
  function fmt_int(v) { return v == null || Number.isNaN(v) ? '—' : INT_FMT.format(Math.round(v)); }
  /* set_text: the text only when it changed — a write of the same text still replaces the
   * node and costs a layout and a paint, at every live update */
  function set_text(e, v) { const t = String(v); if (e.textContent !== t) e.textContent = t; }
  function fmt_bytes(b) {
    if (b == null) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : String(Math.round(b))) + ' ' + u[i];
  }
  function fmt_dur(ms) {
    if (ms == null || ms < 0) return '—';
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  }
  function fmt_time(d) { return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0'); }
  function fmt_date(s) {
    if (!s) return '—';
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return s;
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return d.toTimeString().slice(0, 8);
    /* the local date, as the time of today's is local (the UTC date is a day off for part of
     * every day away from UTC) */
    const p2 = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p2(d.getMonth() + 1) + '-' + p2(d.getDate());
  }
  /* throttle: runs fn at most once per `ms`, on an animation frame (bursty streams stay cheap). */
  function throttle(fn, ms) {
    let last = 0;
    let timer = null;
    return () => {
      if (timer) return;
      const wait = Math.max(0, last + ms - performance.now());
      timer = setTimeout(() => requestAnimationFrame(() => { timer = null; last = performance.now(); fn(); }), wait);
    };
  }
  function raf_once(fn) {
    let pending = false;
    return () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; fn(); });
    };
  }

  /* ---------------------------------------------------------------- quorum and roles */
  /* quorum_info: running nodes against the majority a leader needs. Below it no election can
   * succeed, so "an election is under way" would promise something that cannot happen. */
  function quorum_info() {
    const size = state.nodes.size;
    let running = 0;
    for (const n of state.nodes.values()) if (n.running) running++;
    const needed = (state.quorum && Number(state.quorum.needed)) || Math.floor(size / 2) + 1;
    return { size, running, needed, lost: size > 0 && running < needed };
  }
  function quorum_words(q) {
    return 'Quorum lost: ' + q.running + ' of ' + q.size + ' nodes running — restart a node';
  }

  /* words: the sentence for a failed request. A 503 "no leader" while too few nodes run is
   * not a passing election: it says what would help instead of "try again in a second". */
  function words(e) {
    const q = quorum_info();
    if (e && e.code === 'UNAVAILABLE' && q.lost) return quorum_words(q) + ' (no leader can be elected until ' + q.needed + ' run).';
    return (e && (e.words || e.message)) || 'unknown error';
  }

  /* Roles, as the gateway ranks them (docs/API.md, Security): a button the current role may
   * not use is disabled and says which role it needs, rather than earning a 403 when clicked. */
  const ROLE_RANK = { none: 0, viewer: 1, editor: 2, admin: 3 };
  function can(need) {
    const r = state.me.role;
    return !r || (ROLE_RANK[r] || 0) >= ROLE_RANK[need]; /* before /auth/me answers: let the server decide */
  }
  function need_words(need) {
    return 'Needs the ' + need + ' role (you are ' + (state.me.anonymous ? 'anonymous, ' : '') + state.me.role + '): log in as ' + need + ' in the Security panel';
  }
  /* set_off: a control that may not be used now says why. It stays focusable, marked
   * aria-disabled (a `disabled` button leaves the tab order, and its title with it), with the
   * reason as its title, shown under it on keyboard focus (style.css); a click on it, or a
   * form submitted through it, does nothing (the capture listener in wire()). Its own title
   * (kept in data-title) comes back once it may be used. Writes only what changed. */
  function set_off(btn, off, why) {
    if (btn.dataset.title == null) btn.dataset.title = btn.getAttribute('title') || '';
    if (btn.disabled) btn.disabled = false; /* nothing uses `disabled`: it drops the focus */
    const title = off ? why || btn.dataset.title || 'Not available now' : btn.dataset.title;
    /* a busy button stays off until its action ends; busy() then applies what was asked */
    const want = off ? '1' : '';
    if (btn.dataset.off !== want) btn.dataset.off = want;
    if (!btn.classList.contains('is-busy') && off !== (btn.getAttribute('aria-disabled') === 'true')) {
      if (off) btn.setAttribute('aria-disabled', 'true'); else btn.removeAttribute('aria-disabled');
    }
    if (btn.title !== title) btn.title = title;
  }

  /* gate: `btn` is off when the role falls short of `need` (its title names the role), or
   * when `off` (its title is `why`, the reason). */
  function gate(btn, need, off, why) {
    const ok = can(need);
    set_off(btn, !!off || !ok, ok ? why : need_words(need));
    if (btn.dataset.needs !== (ok ? '' : need)) btn.dataset.needs = ok ? '' : need;
  }

  /* gateway_lost: the stream has been away long enough (1.5 s) that nothing shown is known:
   * no action is offered meanwhile. */
  function gateway_lost() {
    const s = state.sse;
    return s.state === 'offline' || (s.state !== 'live' && !!s.downSince && performance.now() - s.downSince > 1500);
  }
  const LOST_WHY = 'The gateway is unreachable: nothing can be done until it answers again';
  /* stream_refused: the gateway answers but refuses this role its event stream (401): with
   * --anonymous-role none before a login, or after a logout. Nothing is live then, as with the
   * gateway away, but "unreachable" and "reconnecting" would send the person the wrong way. */
  function stream_refused() { return state.me.role === 'none' && state.sse.state !== 'live'; }
  const REFUSED_WHY = 'Log in first (Security panel): this gateway gives anonymous clients no role (--anonymous-role none)';
  function lost_why() { return stream_refused() ? REFUSED_WHY : LOST_WHY; }

  /* ---------------------------------------------------------------- toasts */
  /* toast: shows a message now; returns {done(kind, text)} to turn a progress toast into its outcome. */
  function toast(kind, text, opts) {
    opts = opts || {};
    const box = $('toasts');
    const t = el('div', { class: 'toast toast-' + kind, 'data-testid': 'toast', 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status' });
    const msg = el('span', { class: 'toast-text', text });
    const close = el('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', text: '×', onclick: () => t.remove() });
    t.append(el('span', { class: 'toast-icon', 'aria-hidden': 'true' }), msg, close);
    box.prepend(t);
    while (box.children.length > 3) box.lastChild.remove();
    let timer = null;
    const arm = (k) => {
      clearTimeout(timer);
      if (k === 'progress') return;
      timer = setTimeout(() => t.remove(), k === 'error' ? 8000 : 3500);
    };
    arm(kind);
    return {
      done(k, s) {
        t.className = 'toast toast-' + k;
        t.dataset.kind = k;
        t.setAttribute('role', k === 'error' ? 'alert' : 'status');
        msg.textContent = s;
        arm(k);
      },
    };
  }

  /* busy: turns a button off (aria-disabled: a click or Enter on it does nothing) with a
   * spinner label while `fn` runs. Not `disabled`: a disabled button loses the focus, so an
   * action run from the keyboard (Refresh, Snapshot, Kill, History…) left the person on the
   * page's body, their place lost, and a dialog it opened gave the focus back to nothing (QA). */
  async function busy(btn, label, fn) {
    const old = btn ? btn.textContent : '';
    if (btn) {
      if (btn.dataset.off == null) btn.dataset.off = btn.getAttribute('aria-disabled') === 'true' ? '1' : '';
      btn.classList.add('is-busy');
      btn.setAttribute('aria-busy', 'true');
      btn.setAttribute('aria-disabled', 'true');
      btn.textContent = label;
    }
    try {
      return await fn();
    } finally {
      if (btn) {
        btn.classList.remove('is-busy');
        btn.removeAttribute('aria-busy');
        if (btn.dataset.off === '1') btn.setAttribute('aria-disabled', 'true'); else btn.removeAttribute('aria-disabled');
        btn.textContent = old;
      }
      render_cluster();
    }
  }

  /* confirm_dialog: resolves true when the person chooses the dangerous button. */
  function confirm_dialog(title, message, forceLabel) {
    const d = $('confirm-dialog');
    $('confirm-title').textContent = title;
    $('confirm-message').textContent = message;
    $('confirm-force').textContent = forceLabel || 'Do it anyway';
    return new Promise((resolve) => {
      const onclose = () => { d.removeEventListener('close', onclose); resolve(d.returnValue === 'force'); };
      d.returnValue = '';
      d.addEventListener('close', onclose);
      d.showModal();
    });
  }

  /* ---------------------------------------------------------------- cluster */
  const cardRefs = new Map();     /* id -> {card, fields..., kill, restart} */
  const clusterLog = [];

  /* log_cluster: a line in the 6-slot event strip, newest first. `key`: a line with the same
   * key in the last 3 s is not repeated. `group`: a line of the same group still in the strip
   * is replaced by this one, counted ("×5 since 12:00:01") — a circuit breaker flapping
   * between open and half_open every second would otherwise push the kills and elections
   * out of the strip. */
  function log_cluster(kind, text, key, group) {
    const now = new Date();
    if (key && clusterLog.some((e) => e.key === key && now - e.t < 3000)) return;
    let count = 1;
    let first = now;
    if (group) {
      const i = clusterLog.findIndex((e) => e.group === group);
      if (i >= 0) { count = clusterLog[i].count + 1; first = clusterLog[i].first; clusterLog.splice(i, 1); }
    }
    clusterLog.unshift({ t: now, kind, text, key, group, count, first });
    if (clusterLog.length > 6) clusterLog.length = 6;
    const ol = $('cluster-log');
    ol.replaceChildren(...clusterLog.map((e) => el('li', { class: 'ev ev-' + e.kind, 'data-group': e.group || null, 'data-count': e.group ? String(e.count) : null }, [
      el('time', { text: fmt_time(e.t) }), ' ', e.text,
      e.count > 1 ? el('span', { class: 'ev-count', title: e.count + ' changes since ' + fmt_time(e.first), text: ' ×' + e.count + ' since ' + fmt_time(e.first).slice(0, 8) }) : null])));
  }

  function node_get(id) {
    id = Number(id);
    let n = state.nodes.get(id);
    if (!n) {
      n = { id, role: 'down', term: 0, leaderId: 0, commit: null, applied: null, lastIndex: null, lag: null, health: 'unhealthy', walBytes: null, running: false, pid: null, uptimeMs: null, uptimeAt: 0, circuit: 'closed', lastSeen: 0 };
      state.nodes.set(id, n);
    }
    return n;
  }

  /* apply_status: a status answer may be older than the live events that arrived while it was
   * in flight (`sentAt`): then it never undoes a newer role, term or process state. */
  function apply_status(s, sentAt) {
    state.mode = s.mode || '';
    state.quorum = s.quorum || null;
    const now = performance.now();
    sentAt = sentAt == null ? now : sentAt;
    const seen = new Set();
    for (const x of s.nodes || []) {
      const n = node_get(x.id);
      seen.add(n.id);
      /* a node that does not answer reports no indexes: keep the last ones seen, dimmed */
      const keep = (k, v) => { if (v !== undefined && v !== null) n[k] = v; };
      keep('commit', num(x.commit)); keep('applied', num(x.applied)); keep('lastIndex', num(x.lastIndex));
      keep('lag', num(x.lag)); keep('walBytes', num(x.walBytes)); keep('circuit', x.circuit); keep('rpcUrl', x.rpcUrl);
      const xterm = num(x.term);
      const roleFresh = (n.roleEventAt || 0) <= sentAt && (n.nodeEventAt || 0) <= sentAt && !(xterm != null && n.term != null && xterm < n.term);
      if (roleFresh) {
        keep('term', xterm);
        keep('leaderId', num(x.leaderId));
        const booting = n.role === 'starting' && x.role === 'down' && x.running;
        n.role = booting ? 'starting' : x.role || 'down';
        n.health = x.health || 'unhealthy';
        n.error = x.error || '';
      }
      if ((n.nodeEventAt || 0) <= sentAt) {
        n.running = x.running !== false && x.role !== 'down';
        if (x.role === 'down' && x.running) n.running = true; /* process up but not answering */
        n.pid = x.pid || null;
        n.uptimeMs = num(x.uptimeMs);
        n.uptimeAt = now;
        n.exitError = x.exitError || '';
      }
      if (roleFresh && x.role !== 'down') n.lastSeen = now;
      if (Array.isArray(x.followers) && x.followers.length && x.role === 'leader' && roleFresh) {
        state.progress = { node: n.id, lastIndex: n.lastIndex, commit: n.commit, followers: x.followers, at: now };
      }
    }
    for (const id of [...state.nodes.keys()]) if (!seen.has(id)) state.nodes.delete(id);
    if (s.term != null) state.term = Math.max(state.term, Number(s.term));
    render_cluster();
    render_badges();
  }

  function set_leader(id) {
    const ln = id != null ? state.nodes.get(id) : null;
    if (id === state.leaderId) {
      /* the same node in a newer term: elected again, with no loss seen in between (a
       * gateway restart restarts its nodes; the strip showed a pre-vote and no outcome) */
      if (ln && ln.term && state.leaderTerm && ln.term > state.leaderTerm) {
        log_cluster('leader', 'Node ' + id + ' elected leader again for term ' + ln.term +
          (state.leaderBlind ? ' (while the gateway was unreachable)' : ''), 'leader' + id + '@' + ln.term);
      }
      if (ln && ln.term) state.leaderTerm = ln.term;
      return;
    }
    state.leaderTerm = ln && ln.term ? ln.term : 0;
    const prev = state.leaderId;
    /* a leader again: a table that failed (or may have missed changes) without one reloads */
    if (id != null && prev == null && (state.itemsError || state.leaderLostAt != null)) setTimeout(load_items, 0);
    if (id == null) {
      if (prev != null) {
        state.leaderLostAt = performance.now();
        const p = state.nodes.get(prev);
        state.leaderLost = { id: prev, term: p ? p.term : 0 };
      }
    } else if (state.leaderLostAt != null && prev == null) {
      const ms = Math.round(performance.now() - state.leaderLostAt);
      const n = state.nodes.get(id);
      /* the gateway was away meanwhile, or the leader went before the stream came back from
       * a loss (seen gone as the stream dropped, elected after it was back, no render
       * between): how long there was no leader is not known */
      const unseen = state.leaderBlind || (state.sse.liveAt > 0 && state.leaderLostAt < state.sse.liveAt);
      /* the same node in the same term: no election took place; it stopped answering (frozen,
       * cut off) and answers again. "Node 3 elected leader for term 5" named an election
       * that never happened (QA: the nodes frozen with SIGSTOP). */
      const lost = state.leaderLost;
      const same = lost && lost.id === id && n && n.term && lost.term === n.term;
      log_cluster('leader', same ? 'Node ' + id + ' answers again as leader of term ' + n.term + ' (no election)' +
        (unseen ? '' : ' — ' + ms + ' ms without an answering leader')
        : 'Node ' + id + ' elected leader' + (n && n.term ? ' for term ' + n.term : '') +
        (unseen ? ' (while the gateway was unreachable)' : ' — ' + ms + ' ms without a leader'), 'leader' + id + '@' + (n && n.term));
      state.leaderLostAt = null;
      state.leaderLost = null;
    } else if (prev != null && id !== prev) {
      const n = state.nodes.get(id);
      log_cluster('leader', 'Leadership moved: node ' + prev + ' → node ' + id + (n && n.term ? ' (term ' + n.term + ')' : '') +
        (state.leaderBlind ? ' while the gateway was unreachable' : ''));
    }
    state.leaderId = id;
  }

  /* leader_derive: the one leader to show: a live node in role leader with the highest term. */
  function leader_derive() {
    let best = null;
    for (const n of state.nodes.values()) {
      if (n.role !== 'leader' || !node_alive(n)) continue;
      if (!best || (n.term || 0) > (best.term || 0)) best = n;
    }
    return best ? best.id : null;
  }

  /* node_alive: running, answering, and heard from lately. Lately is measured against the
   * stream: a node's silence counts only while the stream carries other news. A stream that
   * went quiet as a whole (the gateway frozen, the connection stalled) says nothing of the
   * nodes: they all turned "not answering", the header said "Leader: none (election)" and,
   * once the stream came back, "Node 3 elected leader — 6899 ms without a leader" of a leader
   * that never changed (QA). sse_stall_probe asks the gateway instead. */
  function node_alive(n) {
    const now = performance.now();
    const heard = state.sse.lastMsgAt;
    const ref = heard && now - heard > 1000 ? heard : now;
    return n.running && n.role !== 'down' && (ref - n.lastSeen) < STALE_MS;
  }

  function node_health(n) {
    if (!node_alive(n)) return 'unhealthy';
    const lag = node_lag(n);
    if (!state.leaderId || (lag != null && lag > 100)) return 'desynced';
    /* a leader the cluster left (cut off, it still says it leads its old term): its card
     * said "OLD LEADER" and "Healthy"; the gateway's status says desynced */
    if (n.role === 'leader' && n.id !== state.leaderId) return 'desynced';
    return 'healthy';
  }

  function node_lag(n) {
    if (n.id === state.leaderId) return 0;
    const p = state.progress;
    if (p && p.node === state.leaderId) {
      const f = (p.followers || []).find((x) => Number(x.id) === n.id);
      if (f && f.lag != null) return Number(f.lag);
    }
    const L = state.nodes.get(state.leaderId);
    if (L && L.commit != null && n.applied != null) return Math.max(0, L.commit - n.applied);
    return n.lag;
  }

  function card_build(n) {
    const f = {};
    const kv = (label, key, title) => {
      f[key] = el('dd', { 'data-testid': 'node-' + key, text: '—' });
      return [el('dt', { text: label, title: title || null }), f[key]];
    };
    f.role = el('span', { class: 'role-badge', 'data-testid': 'node-role' });
    f.healthDot = el('span', { class: 'dot', 'aria-hidden': 'true' });
    f.healthText = el('span', { 'data-testid': 'node-health' });
    /* a node that stopped on its own says why (its first ERROR line, from the supervisor) */
    f.why = el('p', { class: 'node-why', 'data-testid': 'node-exit-error', hidden: true });
    f.kill = el('button', { class: 'btn btn-danger btn-small', type: 'button', 'data-testid': 'node-kill', 'aria-label': 'Kill node ' + n.id, text: 'Kill', onclick: () => node_kill(n.id, f.kill) });
    /* Stop: SIGTERM (a Shutdown RPC in attach mode); a leader hands its leadership over first */
    f.stop = el('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'node-stop', 'aria-label': 'Stop node ' + n.id, title: 'Stop gracefully (SIGTERM): a leader hands its leadership to a follower first, so no write fails', text: 'Stop', onclick: () => node_kill(n.id, f.stop, true) });
    f.restart = el('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'node-restart', 'aria-label': 'Restart node ' + n.id, text: 'Restart', onclick: () => node_restart(n.id, f.restart) });
    f.syncBar = el('div', { class: 'mini-bar' });
    const card = el('article', { class: 'node-card', 'data-testid': 'node-card', 'data-node-id': String(n.id), 'aria-label': 'Node ' + n.id }, [
      el('header', { class: 'node-head' }, [el('span', { class: 'node-name', text: 'Node ' + n.id }), f.role]),
      el('div', { class: 'node-health' }, [f.healthDot, f.healthText]),
      f.why,
      el('dl', { class: 'kv' }, [].concat(
        kv('Term', 'term'), kv('Lag', 'lag', 'Entries behind the leader'),
        kv('Commit', 'commit'), kv('Applied', 'applied'),
        kv('PID', 'pid'), kv('Up', 'uptime', 'Process up-time'),
        kv('WAL', 'wal'), kv('Circuit', 'circuit', "The gateway's circuit breaker to this node"))),
      el('div', { class: 'mini-bar-wrap', title: 'Applied / leader commit' }, [f.syncBar]),
      el('div', { class: 'card-actions' }, [f.kill, f.stop, f.restart]),
    ]);
    f.card = card;
    return f;
  }

  const render_cluster = throttle(render_cluster_now, 100); /* 10 Hz at most: events come faster under load */
  function render_cluster_now() {
    const grid = $('node-grid');
    const ids = [...state.nodes.keys()].sort((a, b) => a - b);
    if (!ids.length) {
      /* no node known (yet, or the role may not read the status): the cluster controls still
       * say what they need, rather than stay offered */
      gate($('force-election'), 'admin', gateway_lost(), lost_why());
      gate($('snapshot-btn'), 'admin', gateway_lost(), lost_why());
      gate($('election-target'), 'admin');
      gateway_gates(gateway_lost());
      return;
    }
    /* with the gateway away (or just back, before the nodes are heard again) nobody is known
     * to lead: the leader shown is left alone, so the gateway's own downtime is not counted
     * as time without a leader, and an election is only logged once it is seen */
    const blind = gateway_lost();
    const settling = !blind && state.sse.liveAt && performance.now() - state.sse.liveAt < 1500;
    const derived = leader_derive();
    if (blind) state.leaderBlind = true;
    if (!blind && !(settling && derived == null)) set_leader(derived);
    if (!blind && !settling) state.leaderBlind = false;
    if ([...cardRefs.keys()].join() !== ids.join()) {
      cardRefs.clear();
      grid.replaceChildren();
      for (const id of ids) {
        const f = card_build(state.nodes.get(id));
        cardRefs.set(id, f);
        grid.append(f.card);
      }
      const sel = $('election-target');
      const cur = sel.value;
      sel.replaceChildren(el('option', { value: '', text: 'Best follower' }), ...ids.map((id) => el('option', { value: String(id), text: 'Node ' + id })));
      sel.value = cur;
    }
    const L = state.nodes.get(state.leaderId);
    let alive = 0;
    let maxTerm = state.term;
    const tsel = $('election-target'); // a node that is down cannot take the leadership
    for (const o of tsel.options) {
      if (o.value) o.disabled = !node_alive(state.nodes.get(Number(o.value)));
    }
    if (tsel.selectedOptions[0] && tsel.selectedOptions[0].disabled) tsel.value = '';
    for (const id of ids) {
      const n = state.nodes.get(id);
      const f = cardRefs.get(id);
      const live = node_alive(n);
      if (live) alive++;
      if (n.term) maxTerm = Math.max(maxTerm, n.term);
      /* with the gateway out of reach nothing is known of a node: "unknown", as the header
       * says, not "not answering" (a claim about the node the page cannot make) */
      let role = blind ? 'unknown' : live ? n.role : (n.running ? 'unreachable' : 'down');
      if (role === 'leader' && id !== state.leaderId) role = 'stale-leader';
      const health = blind ? 'unknown' : node_health(n);
      f.card.dataset.role = role;
      f.card.dataset.health = health;
      f.card.classList.toggle('is-leader', role === 'leader');
      const label = { leader: '★ LEADER', follower: 'FOLLOWER', candidate: 'CANDIDATE', 'pre-candidate': 'PRE-CANDIDATE', down: 'DOWN', unreachable: 'NOT ANSWERING', 'stale-leader': 'OLD LEADER', starting: 'STARTING', unknown: 'UNKNOWN' }[role] || role.toUpperCase();
      set_text(f.role, label);
      f.role.className = 'role-badge role-' + role;
      set_text(f.healthText, health === 'unknown' ? (stream_refused() ? 'Not known before a login' : 'Not known: the gateway is unreachable')
        : health === 'healthy' ? 'Healthy' : health === 'desynced' ? (state.leaderId ? 'Desynced' : 'No leader known') : (n.running ? 'Not answering' : n.downWhy || 'Not running'));
      f.healthDot.className = 'dot dot-' + health;
      f.healthText.title = n.error || '';
      const why = !n.running && n.exitError ? n.exitError : '';
      set_text(f.why, why);
      if (f.why.title !== why) f.why.title = why;
      if (f.why.hidden !== !why) f.why.hidden = !why;
      set_text(f.term, n.term ? String(n.term) : '—');
      const lag = live ? node_lag(n) : null;
      set_text(f.lag, lag == null ? '—' : fmt_int(lag));
      f.lag.classList.toggle('warn', lag != null && lag > 100);
      set_text(f.commit, fmt_int(n.commit));
      set_text(f.applied, fmt_int(n.applied));
      set_text(f.pid, n.running && n.pid ? String(n.pid) : '—');
      /* with the gateway out of reach nothing is known: no clock runs on, no action is offered */
      set_text(f.uptime, n.running && n.uptimeMs != null && !blind ? fmt_dur(n.uptimeMs + performance.now() - n.uptimeAt) : '—');
      set_text(f.wal, fmt_bytes(n.walBytes));
      set_text(f.circuit, n.circuit || '—');
      f.circuit.className = 'circuit-' + String(n.circuit || 'closed').replace('_', '-');
      const pct = L && L.commit ? Math.min(100, (100 * (n.applied || 0)) / L.commit) : 0;
      const w = (live ? pct : 0).toFixed(1) + '%';
      if (f.syncBar.dataset.w !== w) { f.syncBar.dataset.w = w; f.syncBar.style.width = w; } /* style.width reads back normalized ("100%") */
      gate(f.kill, 'admin', !n.running || blind, blind ? lost_why() : 'Node ' + id + ' is not running: nothing to kill (Restart starts it)');
      gate(f.stop, 'admin', !n.running || blind, blind ? lost_why() : 'Node ' + id + ' is not running: nothing to stop (Restart starts it)');
      gate(f.restart, 'admin', n.running || state.mode === 'attach' || blind,
        blind ? lost_why() : state.mode === 'attach' ? 'Restart needs the supervisor mode (--spawn)' : 'Node ' + id + ' is running: kill it first to restart it');
    }
    gate($('force-election'), 'admin', blind, lost_why());
    gate($('snapshot-btn'), 'admin', blind, lost_why());
    /* the target, as the buttons: aria-disabled, so it stays in the tab order and says why
     * (a `disabled` select was skipped by Tab, its reason only a hover title) */
    gate($('election-target'), 'admin');
    gateway_gates(blind);
    state.term = maxTerm;
    const lost = blind;
    const q = quorum_info();
    set_text($('header-leader'), lost ? (stream_refused() ? 'Leader: unknown (log in)' : 'Leader: unknown (gateway unreachable)') : state.leaderId ? 'Leader: Node ' + state.leaderId : q.lost ? 'Leader: none (quorum lost)' : 'Leader: none (election)');
    quorum_banner(q, lost);
    $('header-leader').classList.toggle('pill-warn', lost || !state.leaderId);
    set_text($('header-term'), 'Term ' + (maxTerm || '—'));
    const needed = state.quorum ? state.quorum.needed : Math.floor(ids.length / 2) + 1;
    /* the gateway away: how many nodes run is not known (not zero) */
    set_text($('header-quorum'), lost ? 'Quorum unknown' : 'Quorum ' + alive + '/' + ids.length + ' (need ' + needed + ')');
    const qt = lost ? (stream_refused() ? 'Not known before a login' : 'Not known while the gateway is unreachable') : 'Running nodes / quorum needed';
    if ($('header-quorum').title !== qt) $('header-quorum').title = qt;
    $('header-quorum').classList.toggle('pill-bad', !lost && alive < needed);
    $('header-quorum').classList.toggle('pill-warn', lost);
    set_text($('cluster-mode'), state.mode ? state.mode + ' mode · ' + ids.length + ' nodes' : '');
    set_text($('repl-term'), maxTerm ? String(maxTerm) : '—');
    if (L) {
      set_text($('repl-commit'), fmt_int(L.commit));
      set_text($('repl-wal'), fmt_bytes(L.walBytes));
    }
    set_text($('circuit-summary'), ids.map((id) => 'node ' + id + ' ' + (state.nodes.get(id).circuit || 'closed')).join(', '));
    render_sync();
  }

  /* quorum_banner: with fewer than a majority running no leader can come back by itself:
   * the page says so once, at the top, with what to do. */
  function quorum_banner(q, lost) {
    const b = $('quorum-banner');
    b.hidden = lost || !q.lost;
    if (b.hidden) return;
    const text = quorum_words(q) + '. No leader can be elected until ' + q.needed + ' of ' + q.size +
      ' run: writes are refused and reads may fail meanwhile.';
    set_text(b, text);
  }

  async function refresh_status() {
    try {
      const sentAt = performance.now();
      const r = await request('GET', '/_playground/cluster/status', { timeoutMs: 8000 });
      apply_status(r.data || {}, sentAt);
    } catch (e) {
      if (!state.nodes.size) $('node-grid').replaceChildren(el('div', { class: 'empty error', text: 'Cluster status unavailable: ' + words(e) }));
      else toast('error', 'Could not refresh the cluster status: ' + words(e));
    }
  }

  /* node_kill: Kill (SIGKILL) or, graceful, Stop (SIGTERM: a leader hands its leadership
   * over before it exits). Either asks to confirm when it would cost the quorum. */
  async function node_kill(id, btn, graceful) {
    const n = state.nodes.get(id);
    const wasLeader = id === state.leaderId;
    const verb = graceful ? 'Stop' : 'Kill';
    const t = toast('progress', (graceful ? 'Stopping' : 'Killing') + ' node ' + id +
      (wasLeader ? (graceful ? ' (the leader: it hands its leadership over first)' : ' (the leader)') : '') + '…');
    await busy(btn, graceful ? 'Stopping…' : 'Killing…', async () => {
      try {
        await kill_call(id, false, t, wasLeader, graceful);
      } catch (e) {
        if (e instanceof ApiError && e.status === 409 && e.code === 'FAILED_PRECONDITION') {
          t.done('warn', verb + ' of node ' + id + ' needs confirmation.');
          const why = (e.serverMessage || '').replace(/\s*\(use \??force=true\)/i, '').replace(/\.$/, '');
          const yes = await confirm_dialog(verb + ' node ' + id + ' and lose quorum?',
            (why ? why.charAt(0).toUpperCase() + why.slice(1) + '. ' : '') +
            'Until a node comes back the cluster cannot elect a leader or accept writes; reads of committed data may fail too.',
            verb + ' anyway (force)');
          if (!yes) { toast('info', verb + ' of node ' + id + ' cancelled.'); return; }
          const t2 = toast('progress', (graceful ? 'Stopping' : 'Killing') + ' node ' + id + ' (forced)…');
          try { await kill_call(id, true, t2, wasLeader, graceful); } catch (e2) { t2.done('error', verb + ' of node ' + id + ' failed: ' + words(e2)); }
        } else {
          t.done('error', verb + ' of node ' + id + ' failed: ' + words(e));
        }
      }
    });
    void n;
  }

  async function kill_call(id, force, t, wasLeader, graceful) {
    const q0 = [force ? 'force=true' : '', graceful ? 'graceful=true' : ''].filter(Boolean).join('&');
    const r = await request('POST', '/_playground/cluster/kill/' + id + (q0 ? '?' + q0 : ''));
    const n = node_get(id);
    const d = r.data || {};
    const sig = d.signal || 'SIGKILL';
    const stopped = sig !== 'SIGKILL'; /* SIGTERM, or a Cluster/Shutdown RPC in attach mode */
    if (d.stillRunning) { /* a SIGTERM it has not acted on within the gateway's wait (frozen?) */
      t.done('warn', 'Node ' + id + ' was asked to stop but has not exited after 5 s (it may be frozen or stuck): Kill stops it.');
      render_cluster();
      refresh_status();
      return;
    }
    n.running = false;
    n.role = 'down';
    n.downWhy = stopped ? 'Stopped' : 'Killed';
    n.nodeEventAt = performance.now();
    const done = stopped ? 'stopped' : 'killed';
    log_cluster('kill', 'Node ' + id + ' ' + done + ' (' + sig + ')' + (wasLeader ? ' — it was the leader' : ''), 'down' + id);
    /* what the node's log says of its hand-over (supervisor mode): said as it is */
    const handed = 'handedOverTo' in d ? d.handedOverTo : undefined;
    if (handed) log_cluster('elect', 'Node ' + id + ' handed its leadership to node ' + handed + ' before it stopped', 'handover' + id);
    else if (handed === null) log_cluster('kill', 'Node ' + id + ' stopped as leader: no follower took its leadership over', 'handover' + id);
    if (state.leaderId === id) set_leader(null);
    const q = quorum_info();
    const led = !wasLeader ? '.' : !stopped ? '. Watch the followers elect a new leader.'
      : handed ? '. It handed its leadership to node ' + handed + ' first: no election timeout, no write lost in flight.'
        : handed === null ? '. No follower took its leadership over before it exited (down or stalled?): the others elect a new leader.'
          : '. It was the leader: it offered its leadership to a follower first.';
    if (q.lost) t.done('warn', 'Node ' + id + ' ' + done + '. ' + quorum_words(q) + '.');
    else t.done(handed === null ? 'warn' : 'ok', 'Node ' + id + ' ' + done + led);
    render_cluster();
    refresh_status();
  }

  async function node_restart(id, btn) {
    const t = toast('progress', 'Restarting node ' + id + '…');
    await busy(btn, 'Starting…', async () => {
      const n = node_get(id);
      n.restartPending = true; /* its answer reports an exit that comes before it */
      try {
        const asked = performance.now();
        const r = await request('POST', '/_playground/cluster/restart/' + id);
        n.restartPending = false;
        /* the stream may have told already: started, and even exited (a node that refuses
         * to start is gone in milliseconds); then the answer adds nothing */
        if ((n.nodeEventAt || 0) < asked) {
          n.running = true;
          n.role = 'starting';
          n.downWhy = '';
          n.exitError = '';
          n.nodeEventAt = performance.now();
          n.pid = (r.data && r.data.pid) || n.pid;
          n.uptimeMs = 0;
          n.uptimeAt = performance.now();
          n.lastSeen = performance.now();
        }
        if (!n.running && n.exitError) {
          t.done('error', 'Node ' + id + ' stopped at once: ' + n.exitError);
        } else {
          t.done('ok', 'Node ' + id + ' restarted (pid ' + (n.pid || '?') + '); it replays its WAL and catches up as a follower.');
          /* an exit in the next seconds turns this toast into the reason */
          n.restartToast = t;
          setTimeout(() => { if (n.restartToast === t) n.restartToast = null; }, 5000);
        }
        refresh_status();
      } catch (e) {
        n.restartPending = false;
        t.done('error', 'Restart of node ' + id + ' failed: ' + words(e));
      }
    });
  }

  async function force_election() {
    const btn = $('force-election');
    const target = $('election-target').value;
    if (target && Number(target) === state.leaderId) {
      toast('ok', 'Node ' + target + ' is already the leader: nothing to transfer.');
      return;
    }
    const t = toast('progress', 'Transferring leadership' + (target ? ' to node ' + target : ' to the best follower') + '…');
    await busy(btn, 'Electing…', async () => {
      try {
        const r = await request('POST', '/_playground/cluster/force-election' + (target ? '?target=' + encodeURIComponent(target) : ''),
          { body: target ? { target: Number(target) } : {}, timeoutMs: 15000 });
        const d = r.data || {};
        const ms = Number(d.elapsedMs);
        const took = Number.isFinite(ms) ? fmt_ms(ms) : '?';
        t.done('ok', 'Node ' + d.leaderId + ' is the leader (term ' + d.term + '), transferred in ' + took + '.');
        log_cluster('leader', 'Forced election: node ' + d.leaderId + ' leads term ' + d.term + ' (' + took + ')', 'leader' + d.leaderId + '@' + d.term);
        refresh_status();
      } catch (e) {
        t.done('error', 'Force election failed: ' + words(e));
      }
    });
  }

  async function snapshot_now() {
    const t = toast('progress', 'Asking every running node to snapshot…');
    await busy($('snapshot-btn'), 'Snapshotting…', async () => {
      try {
        const r = await request('POST', '/_playground/cluster/snapshot', { timeoutMs: 30000 });
        const ns = (r.data && r.data.nodes) || [];
        const failed = (r.data && r.data.failed) || [];
        t.done(failed.length ? 'warn' : 'ok', 'Snapshot written: ' + (ns.map((x) => 'node ' + x.id + ' at index ' + fmt_int(num(x.index)) + ' (' + fmt_bytes(Number(x.bytes)) + ')').join(', ') || 'no node answered') + '.' +
          (failed.length ? ' Not by ' + failed.map((x) => 'node ' + x.id + (x.error ? ' (' + x.error + ')' : '')).join(', ') + '.' : ''));
        refresh_status();
        refresh_storage(true); /* the new snapshot index shows now, not at the next poll */
      } catch (e) {
        t.done('error', 'Snapshot failed: ' + words(e));
      }
    });
  }

  /* ---------------------------------------------------------------- storage (WAL, snapshots) */
  const STORAGE_EVERY_MS = 3000;  /* poll period while the tab is visible */
  const STORAGE_MIN_MS = 2000;    /* never two polls closer than this */
  const storage = { inFlight: false, again: false, lastAt: 0 };

  /* refresh_storage: GET wal-stats and redraw the Storage table. A poll (`now` false) is
   * skipped while the tab is hidden, while a request is in flight, or within STORAGE_MIN_MS of
   * the last one; `now` (load, a Snapshot) only waits for the request in flight, then goes. */
  async function refresh_storage(now) {
    if (storage.inFlight) { if (now) storage.again = true; return; }
    if (!now && (document.hidden || performance.now() - storage.lastAt < STORAGE_MIN_MS)) return;
    storage.inFlight = true;
    storage.lastAt = performance.now();
    try {
      const r = await request('GET', '/_playground/cluster/wal-stats', { timeoutMs: 5000 });
      render_storage((r.data && r.data.nodes) || []);
      storage_note('', new Date());
    } catch (e) {
      storage_note('Storage figures unavailable: ' + words(e));
    } finally {
      storage.inFlight = false;
      if (storage.again) { storage.again = false; refresh_storage(true); }
    }
  }

  /* storage_note: the line above the table: when it was read, or why it could not be. The
   * rows of a failed read stay, dimmed, rather than vanish. */
  function storage_note(err, at) {
    const note = $('storage-note');
    set_text(note, err || 'WAL and snapshots per node · read ' + fmt_time(at).slice(0, 8));
    note.classList.toggle('error', !!err);
    $('storage-body').classList.toggle('is-stale', !!err);
  }

  /* entries_words: the WAL's entries, which are those after the node's last snapshot (the
   * snapshot holds every one up to its index): "1,234 (93,134..94,367)". Right after a
   * snapshot there are none; a bare "0" read as lost data (QA), so it says where they are. */
  function entries_words(x) {
    const entries = num(x.entries);
    const snap = num(x.snapshotIndex) || 0;
    if (!entries) return snap ? '0 — all up to ' + fmt_int(snap) + ' are in the snapshot' : '0';
    return fmt_int(entries) + ' (' + fmt_int(num(x.firstIndex)) + '..' + fmt_int(num(x.lastIndex)) + ')';
  }
  function entries_title(x) {
    const entries = num(x.entries) || 0;
    const snap = num(x.snapshotIndex) || 0;
    const n = fmt_int(entries) + ' log entr' + (entries === 1 ? 'y' : 'ies') + ' in the WAL';
    return snap ? n + ' after the snapshot at index ' + fmt_int(snap) + ', which holds entries 1..' + fmt_int(snap) +
      ': the count starts again from 0 at each snapshot (nothing is lost)' : n + '; no snapshot yet';
  }

  /* snapshot_words: "index 120 · 4.1 KiB · 12s ago", or "none yet". The age is the node's
   * clock against the browser's: on one machine they agree; elsewhere it is approximate. */
  function snapshot_words(x) {
    const idx = num(x.snapshotIndex);
    if (!idx) return 'none yet';
    const at = x.snapshotAt ? Date.parse(x.snapshotAt) : NaN;
    return 'index ' + fmt_int(idx) + ' · ' + fmt_bytes(num(x.snapshotBytes)) +
      (Number.isNaN(at) ? '' : ' · ' + fmt_dur(Math.max(0, Date.now() - at)) + ' ago');
  }

  /* fmt_bound: a bucket's upper bound in µs as "≤ 1.02 ms" (the page's latency format) */
  function fmt_bound(us) {
    if (us == null || Number.isNaN(us)) return '—';
    return '≤ ' + fmt_us(us);
  }

  /* disk_cell: free space on the node's data disk, marked when below its --min-free-mb
   * (as leader it then refuses creates and updates) */
  function disk_cell(x) {
    const free = num(x.diskFreeBytes), min = num(x.minFreeBytes);
    const low = free != null && min > 0 && free < min;
    const td = el('td', { 'data-label': 'Disk free', 'data-testid': 'storage-disk', class: low ? 'warn' : null,
      title: min > 0 ? 'Below ' + fmt_bytes(min) + ' (--min-free-mb) this node, as leader, refuses new writes' : 'No free-space guard (--min-free-mb 0)',
      text: free == null ? '—' : fmt_bytes(free) + (low ? ' — writes refused' : '') });
    return td;
  }

  function render_storage(nodes) {
    const rows = nodes.map((x) => {
      const id = String(x.id);
      const head = el('th', { scope: 'row', text: 'Node ' + id });
      if (x.error) {
        /* a node that does not answer: its error as the gateway gave it, nothing guessed */
        return el('tr', { 'data-testid': 'storage-row', 'data-node-id': id, class: 'is-down' }, [head,
          el('td', { colspan: '6', class: 'storage-error', 'data-testid': 'storage-error', text: 'Not answering: ' + x.error + (x.code ? ' (' + x.code + ')' : '') })]);
      }
      const cell = (label, tid, text, title) => el('td', { 'data-label': label, 'data-testid': tid, title: title || null, text });
      return el('tr', { 'data-testid': 'storage-row', 'data-node-id': id, 'data-snapshot-index': String(num(x.snapshotIndex) || 0) }, [head,
        cell('WAL', 'storage-wal', fmt_bytes(num(x.bytes)), x.truncatedBytesAtStart ? fmt_bytes(num(x.truncatedBytesAtStart)) + ' cut from the first segment' : null),
        cell('Segments', 'storage-segments', fmt_int(num(x.segments))),
        cell('Entries since snapshot', 'storage-entries', entries_words(x), entries_title(x)),
        /* no fsync since the node started: no latency to show (the node reports 0). The
         * percentiles are the upper bounds of the node's histogram buckets (511, 1023,
         * 2047 µs…, at most the max): shown as bounds, the exact figures in the tooltip */
        num(x.fsyncs) > 0
          ? cell('fsync p50 / p99', 'storage-fsync', fmt_bound(num(x.fsyncP50Us)) + ' / ' + fmt_bound(num(x.fsyncP99Us)),
            'p50 ≤ ' + fmt_int(num(x.fsyncP50Us)) + ' µs, p99 ≤ ' + fmt_int(num(x.fsyncP99Us)) + ' µs (upper bounds of histogram buckets); ' +
            fmt_int(num(x.fsyncs)) + ' fsyncs, max ' + (num(x.fsyncMaxUs) == null ? '—' : fmt_int(num(x.fsyncMaxUs)) + ' µs'))
          : cell('fsync p50 / p99', 'storage-fsync', '— / —', 'no fsync since the node started'),
        cell('Snapshot', 'storage-snapshot', snapshot_words(x), x.snapshotTerm ? 'term ' + x.snapshotTerm : null),
        disk_cell(x),
      ]);
    });
    $('storage-body').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'empty small', text: 'No node reported.' }))]));
  }

  /* ---------------------------------------------------------------- replication monitor */
  let chartOps, chartLat, chartLag;
  const latest = { benchOps: null, benchP99: null, benchAt: 0 };

  function charts_init() {
    /* the monitor's charts slide over the last minute (2 samples a second) */
    chartOps = new TimeChart($('chart-ops'), ['leader', 'benchmark'], { capacity: 122, windowS: 60 });
    chartLat = new TimeChart($('chart-latency'), ['fsync p99', 'bench p99'], { capacity: 122, windowS: 60, colors: ['#ffd166', '#ef476f'], yFloor: 1 });
    chartLag = new TimeChart($('chart-lag'), [], { capacity: 122, windowS: 60, fill: false, yFloor: 5 });
    benchChart = new TimeChart($('bench-chart'), ['ops/s', 'p99 ms'], { capacity: 2400, time: false, colors: [COLORS[0], '#ef476f'], build: bench_chart_build });
    histo = new BarChart($('bench-histogram'));
  }

  /* bench_chart_build: ops/s on the left axis, p99 (ms) on the right, elapsed seconds on x. */
  function bench_chart_build() {
    if (this.plot) this.plot.destroy();
    this.legend_draw();
    const ax = { stroke: '#8b95a7', grid: { stroke: 'rgba(255,255,255,0.06)' }, ticks: { stroke: 'rgba(255,255,255,0.1)' }, font: '11px ui-sans-serif, system-ui, sans-serif' };
    const w = Math.max(200, this.el.clientWidth);
    const h = Math.max(100, this.el.clientHeight || 150);
    this.plot = new uPlot({
      width: w, height: h,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false }, y: { range: (u, a, b) => [0, Math.max(10, b * 1.15)] }, ms: { range: (u, a, b) => [0, Math.max(1, b * 1.2)] } },
      series: [{ label: 's' },
        { label: 'ops/s', stroke: COLORS[0], fill: 'rgba(76,201,240,0.12)', width: 1.6, points: { show: false }, value: (u, v) => fmt_num(v) },
        { label: 'p99 ms', stroke: '#ef476f', width: 1.4, scale: 'ms', points: { show: false }, value: (u, v) => (v == null ? '—' : v.toFixed(2)) }],
      axes: [Object.assign({}, ax, { values: (u, v) => v.map((x) => x + 's') }),
        /* steps of 1-2-5 and labels with the decimals the step needs: every label exact */
        Object.assign({}, ax, { size: 46, incrs: INCRS_125, values: (u, v) => fmt_ticks(v) }),
        Object.assign({}, ax, { side: 1, scale: 'ms', size: 44, incrs: INCRS_125, grid: { show: false }, values: (u, v) => fmt_ticks(v) })],
    }, [this.xs].concat(this.ys), this.el);
  }

  /* repl_tick: samples the latest SSE values into the rolling charts (no request is made). */
  function repl_tick() {
    const now = performance.now();
    const t = Date.now() / 1000;
    const ids = [...state.nodes.keys()].sort((a, b) => a - b);
    if (state.sse.state !== 'live') {
      /* no stream: nothing is known, so the charts get a gap, not a point. They drew the last
       * figure on for 3 s and then 0 ops/s for as long as the gateway was away, as if the
       * cluster had stopped (QA: a gateway restart under a benchmark). */
      chartOps.push(t, [null, null]);
      chartLat.push(t, [null, null]);
      chartLag.set_series(ids.map((id) => 'node ' + id));
      chartLag.push(t, ids.map(() => null));
      set_text($('repl-ops'), '—');
      set_text($('repl-latency'), '—');
      set_text($('feed-rate'), '');
      repl_tick.lastCount = state.committedCount;
      return;
    }
    const L = state.nodes.get(state.leaderId);
    const lm = state.leaderMetrics;
    const fresh = lm && L && lm.node === L.id && now - lm.at < STALE_MS;
    const ops = fresh ? Number(lm.appliedPerSec) || 0 : 0;
    const benchFresh = now - latest.benchAt < 1500;
    chartOps.push(t, [ops, benchFresh ? latest.benchOps : null]);
    /* the leader's fsync p99 over the last 2 s; 0: it synced nothing then (a gap, not 0 ms) */
    const fsUs = fresh && lm.fsyncP99Us != null ? Number(lm.fsyncP99Us) : null;
    const fs = fsUs ? fsUs / 1000 : null;
    chartLat.push(t, [fs, benchFresh ? latest.benchP99 : null]);
    set_text($('repl-ops'), fmt_int(ops));
    /* as its tooltip says: the benchmark's p99 while one runs, else the leader's fsync p99 —
     * the upper bound of its histogram bucket (16383 µs: "≤ 16.4 ms", as the Storage table
     * says it; a bare "16.4 ms" claimed up to twice the real figure) */
    set_text($('repl-latency'), benchFresh && latest.benchP99 != null ? fmt_ms(latest.benchP99) : fs != null ? fmt_bound(fsUs) : fsUs === 0 ? 'no syncs' : '—');
    chartLag.set_series(ids.map((id) => 'node ' + id));
    chartLag.push(t, ids.map((id) => {
      const n = state.nodes.get(id);
      if (!node_alive(n) || !state.leaderId || id === state.leaderId) return null;
      return node_lag(n);
    }));
    /* the entries the feed heard of, each once (it counted one event per node, and under load
     * the gateway passes a sample: "614 entries/s" beside 2,362 applied a second); when it
     * samples, the header says of how many */
    const fr = state.committedCount;
    const heard = (fr - (repl_tick.lastCount || 0)) * 2;
    repl_tick.lastCount = fr;
    const sampled = now - state.feedSampledAt < 2000 && ops > heard;
    set_text($('feed-rate'), '· ' + (sampled ? fmt_int(heard) + ' of ' + fmt_int(ops) + ' entries/s shown (a sample)' : fmt_int(heard) + ' entries/s'));
  }

  function render_sync() {
    const box = $('follower-progress');
    const L = state.nodes.get(state.leaderId);
    if (!L) {
      const q = quorum_info();
      box.dataset.sig = '';
      box.replaceChildren(el('div', { class: 'empty small warn', text: q.lost ? 'No leader — ' + quorum_words(q).charAt(0).toLowerCase() + quorum_words(q).slice(1) + '.' : 'No leader — the followers are waiting for an election.' }));
      return;
    }
    const p = state.progress && state.progress.node === L.id ? state.progress : null;
    const last = (p && p.lastIndex) || L.lastIndex || L.commit || 0;
    const rows = [];
    const seen = [];
    for (const n of [...state.nodes.values()].sort((a, b) => a.id - b.id)) {
      if (n.id === L.id) continue;
      const f = p ? (p.followers || []).find((x) => Number(x.id) === n.id) : null;
      const live = node_alive(n);
      /* a node that is down: what it had applied, as its line says; a leader elected after
       * it went knows no match for it (0: the old leader's bar was empty, QA) */
      const match = f && live ? Number(f.match) : n.applied;
      const pct = last ? Math.max(0, Math.min(100, (100 * (match || 0)) / last)) : (live ? 100 : 0);
      const lag = f ? Number(f.lag) : node_lag(n);
      const st = !live ? 'down' : f ? f.state : (lag ? 'catching up' : 'in sync');
      seen.push([n.id, live, match, last, pct.toFixed(1), lag, st, n.applied].join());
      rows.push(el('div', { class: 'sync-row', 'data-testid': 'sync-row', 'data-node-id': String(n.id) }, [
        el('span', { class: 'sync-name', text: 'Node ' + n.id }),
        el('div', { class: 'sync-track', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': pct.toFixed(0), 'aria-label': 'Node ' + n.id + ' sync' },
          [el('div', { class: 'sync-fill' + (!live ? ' is-down' : pct < 99.9 ? ' is-behind' : ''), style: 'width:' + pct.toFixed(1) + '%' })]),
        el('span', { class: 'sync-meta', text: live ? fmt_int(match) + ' / ' + fmt_int(last) + ' · lag ' + fmt_int(lag) + ' · ' + st : (n.applied ? 'down — it had applied ' + fmt_int(n.applied) : 'down') }),
      ]));
    }
    /* rebuilt only when something shown changed: it runs at every cluster render */
    const sig = seen.join('|');
    if (box.dataset.sig === sig) return;
    box.dataset.sig = sig;
    box.replaceChildren(...rows);
  }

  const render_feed = throttle(() => {
    const ol = $('repl-feed');
    const total = state.nodes.size || 3;
    ol.replaceChildren(...state.feed.map((f) => { const nodes = item_applied(f.index); const bad = f.result !== 'OK'; return el('li', { class: 'feed-row op-' + f.op + (bad ? ' is-refused' : ''), 'data-testid': 'feed-row', 'data-result': f.result, 'data-item-id': f.id || null, title: bad ? 'Committed in the log but refused by the store (' + f.result + '): nothing changed' : null }, [
      el('time', { text: fmt_time(f.t) }),
      el('span', { class: 'feed-op', text: f.op }),
      el('span', { class: 'feed-id', title: f.id || '' }, [f.op === 'noop' ? 'leader no-op' : (f.model ? f.model + ' ' : '') + short_id(f.id), bad ? el('span', { class: 'feed-refused', text: ' ' + f.result }) : null]),
      el('span', { class: 'feed-idx', text: '#' + f.index + ' · t' + f.term }),
      /* a refused entry changed nothing: its node count is no green "replicated" tick */
      bad ? el('span', { class: 'feed-nodes is-refused', 'data-testid': 'feed-nodes', title: 'Refused by the store on ' + nodes.size + ' of ' + total + ' nodes: nothing changed', text: '✗ refused ' + nodes.size + '/' + total })
        : el('span', { class: 'feed-nodes' + (nodes.size >= total ? ' is-full' : ''), 'data-testid': 'feed-nodes', title: 'Nodes that applied it', text: [...nodes].sort().map((x) => 'n' + x).join(' ') + ' ' + nodes.size + '/' + total }),
    ]); }));
  }, 250);

  /* ---------------------------------------------------------------- SSE */
  /* conn_text: the indicator in the top bar; a stream refused to the role says so */
  function conn_text() {
    const c = $('conn');
    const st = state.sse.state;
    if (c.dataset.state !== st) c.dataset.state = st;
    set_text(c.querySelector('.conn-text'), stream_refused() ? 'Not logged in'
      : { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Disconnected' }[st]);
  }

  function sse_set(st) {
    const s = state.sse;
    if (s.state === st) return;
    s.state = st;
    conn_text();
    if (st === 'live') {
      if (s.downSince && performance.now() - s.downSince > 1500) s.liveAt = performance.now(); /* back after a loss */
      s.downSince = 0;
      $('conn-banner').hidden = true;
      document.body.classList.remove('is-stale');
    } else if (!s.downSince) {
      s.downSince = performance.now();
      /* and again once the loss counts (1.5 s): the actions go off then, not at the next
       * second's tick (a check 2 s after a logout still found Refresh offered) */
      clearTimeout(s.lostTimer);
      s.lostTimer = setTimeout(() => { render_cluster(); sse_watch(); }, 1600);
    }
    /* the header, the cards and the actions follow the stream at once, not at the next tick
     * (the indicator said Live while the header still said unreachable) */
    render_cluster();
  }

  /*
   * One stream for all the tabs of this page. A browser gives a host about six HTTP/1.1
   * connections; with a stream per tab, the sixth tab left no connection for fetches and
   * the seventh never loaded. So the tabs elect one of them (a Web Lock, released when that
   * tab closes) to hold the EventSource, and it forwards every event to the others over a
   * BroadcastChannel. Without those APIs (an insecure origin) each tab opens its own.
   */
  const SSE_HANDLERS = () => ({ metrics: on_metrics, progress: on_progress, role: on_role, node: on_node,
    committed: on_committed, circuit: on_circuit, benchmark: on_benchmark });

  function sse_deliver(name, data) {
    const s = state.sse;
    s.lastMsgAt = performance.now();
    if (s.state !== 'live') sse_set('live');
    const fn = SSE_HANDLERS()[name];
    let d;
    try { d = JSON.parse(data); } catch (e) { return; }
    if (fn) fn(d);
  }

  /* sse_reconnected: events may have been missed: read the state again. `gap` (ms the
   * stream was down): a short one (a stream the gateway cut and the page reopened at once)
   * is not worth a toast. */
  function sse_reconnected(gap) {
    if (!(gap < 1500)) toast('ok', 'Live updates reconnected.');
    refresh_status();
    refresh_bench();
    load_items();
  }

  function sse_start() {
    const s = state.sse;
    if (!(navigator.locks && window.BroadcastChannel)) { sse_open(); return; }
    s.bc = new BroadcastChannel('lithair-sse');
    s.bc.onmessage = (m) => {
      const x = m.data || {};
      if (s.leading) { /* the leader hears its own stream */
        if (x.kind === 'renew') sse_open();
        return;
      }
      if (x.kind === 'events') { for (const e of x.list || []) sse_deliver(e[0], e[1]); }
      else if (x.kind === 'state') {
        if (x.st === 'live' && s.state !== 'live' && s.everOpen)
          sse_reconnected(s.downSince ? performance.now() - s.downSince : 0);
        if (x.st === 'live') { s.everOpen = true; s.lastMsgAt = performance.now(); }
        sse_set(x.st);
      }
    };
    sse_set('connecting');
    /* held until this tab closes; the next waiting tab then opens the stream */
    navigator.locks.request('lithair-sse', () => new Promise(() => { s.leading = true; sse_open(); }));
    /* a tab that only listens still learns the state soon: ask the leader to repeat it */
    s.bc.postMessage({ kind: 'hello' });
  }

  /* sse_renew: after a login the stream is opened again, so that it carries the new
   * session (a logout, or the session's expiry, then ends it; with --anonymous-role none
   * it is what lets the events in). In a tab that only listens, the leading tab does it. */
  function sse_renew() {
    const s = state.sse;
    if (!s.bc || s.leading) sse_open();
    else s.bc.postMessage({ kind: 'renew' });
  }

  function sse_share_state(st) {
    const s = state.sse;
    if (!(s.leading && s.bc)) return;
    sse_forward_flush();
    s.bc.postMessage({ kind: 'state', st });
  }

  /* sse_forward: the leading tab passes its stream's events on to the other tabs in
   * batches, one message per SSE_FORWARD_MS: a BroadcastChannel message is an IPC through
   * the browser process, and one per event (hundreds a second during a benchmark) kept
   * the page's main thread busy enough to fall seconds behind its own stream. */
  const SSE_FORWARD_MS = 50;
  function sse_forward(name, data) {
    const s = state.sse;
    s.fwd.push([name, data]);
    if (!s.fwdTimer) s.fwdTimer = setTimeout(sse_forward_flush, SSE_FORWARD_MS);
  }
  function sse_forward_flush() {
    const s = state.sse;
    clearTimeout(s.fwdTimer);
    s.fwdTimer = null;
    if (!s.fwd.length) return;
    const list = s.fwd;
    s.fwd = [];
    s.bc.postMessage({ kind: 'events', list });
  }

  function sse_open() {
    const s = state.sse;
    clearTimeout(s.timer);
    if (s.es) s.es.close();
    const es = new EventSource('/_playground/events');
    s.es = es;
    if (s.bc && !s.helloBound) {
      s.helloBound = true;
      s.bc.addEventListener('message', (m) => { if ((m.data || {}).kind === 'hello') sse_share_state(s.state); });
    }
    es.onopen = () => {
      const wasLost = s.everOpen;
      const gap = s.downSince ? performance.now() - s.downSince : 0;
      s.everOpen = true;
      s.retryMs = 1000;
      s.lastMsgAt = s.openedAt = performance.now();
      sse_set('live');
      sse_share_state('live');
      if (wasLost) sse_reconnected(gap);
    };
    es.onerror = () => {
      if (s.es !== es) return;
      if (s.state === 'live' && performance.now() - s.openedAt >= 1000) {
        /* A live stream that ends was cut by the gateway (a logout or an expired session
         * ends the streams opened with it) or the gateway went away: ask again at once
         * rather than after the server's retry delay. If the gateway is there, the page is
         * live again before any banner shows; if not, the next error takes the slow path.
         * Only for a stream that lived a second: one cut as soon as it opens backs off. */
        es.close();
        sse_set('reconnecting');
        sse_share_state(s.state);
        s.timer = setTimeout(sse_open, 0);
        return;
      }
      if (es.readyState === EventSource.CLOSED) {
        sse_set('reconnecting');
        s.timer = setTimeout(sse_open, s.retryMs);
        s.retryMs = Math.min(10000, s.retryMs * 2);
      } else {
        sse_set(s.everOpen ? 'reconnecting' : 'connecting');
      }
      sse_share_state(s.state);
    };
    for (const name of Object.keys(SSE_HANDLERS())) {
      es.addEventListener(name, (ev) => {
        sse_deliver(name, ev.data);
        if (s.bc) sse_forward(name, ev.data);
      });
    }
  }

  /* sse_stall_probe: the stream, which carries every node's metrics 4 times a second, has
   * said nothing for STALL_MS. Either every node went quiet, or the stream (or the gateway)
   * stalled. The gateway is asked directly: no answer, and the stream counts as lost (the
   * page says so and opens a new one, which goes live when the gateway answers again); an
   * answer tells the nodes' state, and if a node answers it, the stream is stuck: a new one. */
  const STALL_MS = 2500;
  async function sse_stall_probe() {
    const s = state.sse;
    s.probing = true;
    s.probeAt = performance.now();
    const quiet = () => performance.now() - s.lastMsgAt >= STALL_MS && s.state === 'live';
    try {
      const sentAt = performance.now();
      const r = await request('GET', '/_playground/cluster/status', { timeoutMs: 2500 });
      if (!quiet()) return;
      apply_status(r.data || {}, sentAt);
      if (((r.data && r.data.nodes) || []).some((x) => x.role && x.role !== 'down')) sse_stalled();
    } catch (e) {
      if (e.status || !quiet()) return; /* an HTTP answer: the gateway is there */
      sse_stalled();
    } finally {
      s.probing = false;
    }
  }

  function sse_stalled() {
    const s = state.sse;
    sse_set('reconnecting');
    sse_share_state(s.state);
    sse_open();
  }

  /* sse_watch: shows the loss banner, and reopens a stream that went silent. */
  function sse_watch() {
    const s = state.sse;
    const now = performance.now();
    /* a live stream that carried metrics and went quiet: ask the gateway (the leading tab,
     * which holds the stream; another tab hears the verdict from it) */
    if (s.state === 'live' && s.metricsSeen && (s.leading || !s.bc) && !s.probing &&
        now - s.lastMsgAt >= STALL_MS && now - (s.probeAt || 0) >= STALL_MS) sse_stall_probe();
    if (s.state !== 'live' && s.downSince && now - s.downSince > 1500 && s.everOpen) {
      /* logged out where anonymous clients have no role: the indicator says so, not this */
      $('conn-banner').hidden = stream_refused();
      document.body.classList.add('is-stale');
    }
    if (s.state !== 'live' && s.downSince && now - s.downSince > 15000) sse_set('offline');
    if (s.state === 'live' && now - s.lastMsgAt > 20000) {
      sse_set('reconnecting');
      if (s.leading || !s.bc) sse_open(); /* a listening tab waits for the leader's stream */
    }
  }

  function on_metrics(d) {
    const n = node_get(d.node);
    const now = performance.now();
    state.sse.metricsSeen = true;
    const was = n.role;
    n.lastSeen = now;
    n.running = true;
    n.commit = num(d.commit);
    n.applied = num(d.applied);
    n.walBytes = num(d.walBytes);
    n.lastIndex = num(d.lastIndex);
    /* metrics are 4 Hz snapshots and may trail a `role` event: never let one undo a newer role */
    const mterm = num(d.term);
    const trusted = (mterm == null || n.term == null || mterm >= n.term) && now - (n.roleEventAt || 0) > 1000;
    if (trusted) {
      if (mterm != null) n.term = mterm;
      if (d.role) n.role = d.role;
      if (d.leaderId != null) n.leaderId = num(d.leaderId);
    }
    if (n.role === 'leader') state.leaderMetrics = Object.assign({ at: now }, d, { node: n.id });
    if (was !== n.role && (n.role === 'leader' || was === 'leader')) role_changed(n, was);
    render_cluster();
    render_badges();
    render_feed();
  }

  function on_progress(d) {
    state.progress = Object.assign({ at: performance.now() }, d, { node: Number(d.node) });
    const n = node_get(d.node);
    if (d.lastIndex != null) n.lastIndex = num(d.lastIndex);
    render_cluster();
  }

  function on_role(d) {
    const n = node_get(d.node);
    const was = n.role;
    n.role = d.role;
    n.roleEventAt = performance.now();
    if (d.term != null) n.term = num(d.term);
    if (d.leaderId != null) n.leaderId = num(d.leaderId);
    if (d.role !== 'down') { n.running = true; n.lastSeen = performance.now(); }
    role_changed(n, was);
    render_cluster();
  }

  function role_changed(n, was) {
    if (was === n.role) return;
    if (n.role === 'candidate') {
      log_cluster('elect', 'Node ' + n.id + ' is candidate' + (n.term ? ' for term ' + n.term : ''));
    } else if (n.role === 'pre-candidate') {
      /* a pre-vote asks for the next term without raising its own: "pre-candidate for term 2"
       * then "candidate for term 3" named the term it had, not the one it ran for */
      log_cluster('elect', 'Node ' + n.id + ' is pre-candidate (pre-vote for term ' + (n.term + 1) + ')');
    } else if (was === 'leader' && n.role !== 'down') {
      log_cluster('info', 'Node ' + n.id + ' stepped down to ' + n.role + (n.term ? ' (term ' + n.term + ')' : ''));
    }
  }

  function on_node(d) {
    const n = node_get(d.id);
    const st = d.state;
    n.nodeEventAt = performance.now();
    if (st === 'started') {
      n.running = true;
      n.role = n.role === 'down' ? 'starting' : n.role;
      n.pid = d.pid || n.pid;
      n.uptimeMs = 0;
      n.uptimeAt = performance.now();
      n.lastSeen = performance.now();
      n.downWhy = '';
      n.exitError = '';
      log_cluster('start', 'Node ' + n.id + ' started (pid ' + (d.pid || '?') + ')', 'up' + n.id);
    } else if (st === 'killed' && d.signal === 'SIGTERM' && n.running) {
      /* a graceful stop: the node runs on while, if it leads, it hands its leadership over;
       * it is shown down when it exits. Shown down (and leaderless) at the signal, the page
       * counted the hand-over's few ms as 80 ms "without a leader" (QA). */
      n.downWhy = 'Stopped (SIGTERM)';
      log_cluster('kill', 'Node ' + n.id + ' asked to stop (SIGTERM)' + (n.id === state.leaderId ? ' — it leads: it hands its leadership over first' : ''), 'stop' + n.id);
    } else {
      const wasLeader = n.id === state.leaderId;
      n.running = false;
      n.role = 'down';
      /* the exit that follows a kill carries its signal: named by it, so "Killed" does not
       * turn into "Exited" when the exit is reaped (or the other way round, by arrival) */
      const bySignal = d.signal === 'SIGKILL' ? 'Killed' : d.signal === 'SIGTERM' ? 'Stopped (SIGTERM)' : d.signal ? 'Crashed (' + d.signal + ')' : '';
      /* a node stopped with SIGTERM exits by itself, with code 0: still "Stopped", not "Exited" */
      const asked = st === 'exited' && !d.signal && d.exitCode === 0 && /^Stopped/.test(n.downWhy || '');
      n.downWhy = st === 'killed' ? (d.signal === 'SIGTERM' ? 'Stopped (SIGTERM)' : 'Killed') : asked ? n.downWhy : st === 'exited' ? bySignal || 'Exited' + (d.exitCode != null ? ' (code ' + d.exitCode + ')' : '') : 'Stopped';
      if (st !== 'killed') n.exitError = d.error || '';
      if (st === 'exited' && d.error && !n.restartPending) {
        /* it stopped on its own: say so where people look, not only on its card */
        const text = 'Node ' + n.id + ' stopped' + (n.restartToast ? ' at once' : '') + ': ' + d.error;
        if (n.restartToast) n.restartToast.done('error', text);
        else toast('error', text);
        n.restartToast = null;
      }
      const why = st === 'killed' ? (d.signal === 'SIGTERM' ? 'stopped' : 'killed') + (d.signal ? ' (' + d.signal + ')' : '') : asked ? 'stopped (SIGTERM)' : st === 'exited' ? 'exited' + (d.exitCode != null ? ' with code ' + d.exitCode : '') : st;
      log_cluster('kill', 'Node ' + n.id + ' ' + why + (wasLeader ? ' — it was the leader' : '') + (d.error ? ': ' + d.error : ''), d.error ? 'why' + n.id + '@' + d.pid : 'down' + n.id);
      if (wasLeader) set_leader(null);
    }
    render_cluster();
  }

  function on_circuit(d) {
    const n = node_get(d.node);
    n.circuit = d.to;
    log_cluster(d.to === 'closed' ? 'info' : 'warn', "Gateway's circuit to node " + n.id + ': ' + d.from + ' → ' + d.to, null, 'circuit' + n.id);
    render_cluster();
  }

  function on_committed(d) {
    const idx = Number(d.index);
    const node = Number(d.node);
    if (Number(d.skipped) > 0) state.feedSampledAt = performance.now();
    let set = state.appliedBy.get(idx);
    if (!set) {
      state.committedCount++;
      set = new Set();
      state.appliedBy.set(idx, set);
      if (state.appliedBy.size > APPLIED_MAX) {
        const drop = state.appliedBy.size - APPLIED_MAX;
        let i = 0;
        for (const k of state.appliedBy.keys()) { if (i++ >= drop) break; state.appliedBy.delete(k); }
      }
    }
    const first = set.size === 0;
    set.add(node);
    /* The feed is in log order, newest first. Under load the gateway passes each node's
     * events sampled, so an entry may first come from a follower after newer ones came
     * from the leader: it goes in at its place, not on top. */
    const oldest = state.feed.length ? state.feed[state.feed.length - 1].index : -1;
    if (!state.feedByIndex.has(idx) && (state.feed.length < FEED_MAX || idx > oldest)) {
      const f = { index: idx, op: d.op || '?', id: d.id || '', model: d.model || '', term: d.term, nodes: set, t: new Date(), result: d.result || 'OK' };
      let at = state.feed.findIndex((x) => x.index < idx);
      if (at < 0) at = state.feed.length;
      state.feed.splice(at, 0, f);
      state.feedByIndex.set(idx, f);
      while (state.feed.length > FEED_MAX) state.feedByIndex.delete(state.feed.pop().index);
    }
    if (first && (d.result || 'OK') === 'OK') item_event(d);
    render_feed();
    render_badges();
  }

  /* ---------------------------------------------------------------- benchmark */
  let benchChart, histo;

  function bench_form_values() {
    const v = {
      type: $('bench-type').value,
      concurrency: Number($('bench-concurrency').value),
      duration_secs: Number($('bench-duration').value),
      payload_size: Number($('bench-payload').value),
    };
    return v;
  }

  const BENCH_FIELDS = { concurrency: 'bench-concurrency', duration_secs: 'bench-duration', payload_size: 'bench-payload' };

  /* bench_error: the message under a benchmark field, with aria-invalid on the field (as the
   * item form does); '' clears both. */
  function bench_error(k, text) {
    const box = $('bench-' + k + '-error');
    if (!box) return;
    box.textContent = text;
    if (text) $(BENCH_FIELDS[k]).setAttribute('aria-invalid', 'true');
    else $(BENCH_FIELDS[k]).removeAttribute('aria-invalid');
  }

  function bench_errors_clear() {
    for (const k of Object.keys(BENCH_FIELDS)) bench_error(k, '');
  }

  /* bench_problems: [field, what it must be] for each value the gateway would refuse. */
  function bench_problems(v) {
    const bad = [];
    if (!Number.isInteger(v.concurrency) || v.concurrency < 1) bad.push(['concurrency', 'a whole number of at least 1']);
    else if (v.concurrency > 1024) bad.push(['concurrency', 'at most 1024']);
    if (!Number.isFinite(v.duration_secs) || v.duration_secs < 0.1 || v.duration_secs > 3600) bad.push(['duration_secs', 'between 0.1 and 3600 seconds']);
    if (!Number.isInteger(v.payload_size) || v.payload_size < 1 || v.payload_size > 4096) bad.push(['payload_size', 'a whole number of bytes from 1 to 4096 (an item description holds at most 4096)']);
    return bad;
  }

  /* bench_input: a field edited after an error: its message goes once the value is right. */
  function bench_input(ev) {
    const k = Object.keys(BENCH_FIELDS).find((x) => BENCH_FIELDS[x] === ev.target.id);
    if (!k || !$('bench-' + k + '-error').textContent) return;
    const p = bench_problems(bench_form_values()).find(([f]) => f === k);
    bench_error(k, p ? 'Must be ' + p[1] + '.' : '');
  }

  /* bench_config_words: a run's settings in a line ("Write · 4 clients · 3 s · 256-byte
   * payload"), from the gateway's `config`. */
  function bench_config_words(c) {
    if (!c || !c.type) return '';
    const n = Number(c.concurrency);
    const rr = c.read_ratio != null ? Number(c.read_ratio) : 0.5;
    const parts = [c.type === 'mixed' ? 'Mixed (' + Math.round(rr * 100) + '% reads)' : cap(c.type),
      fmt_int(n) + ' client' + (n === 1 ? '' : 's'), Number(c.duration_secs) + ' s', fmt_int(Number(c.payload_size)) + '-byte payload'];
    if (Number(c.rate) > 0) parts.push('at most ' + fmt_int(Number(c.rate)) + ' ops/s');
    if (Number(c.warmup_secs) > 0) parts.push(Number(c.warmup_secs) + ' s warm-up');
    if (c.type !== 'write' && c.key_space != null) parts.push(fmt_int(Number(c.key_space)) + ' keys');
    return parts.join(' · ');
  }

  /* bench_form_show: the form shows the settings of the run the gateway reports running —
   * started here, in another tab, or before a reload — rather than its defaults. */
  function bench_form_show(c) {
    if (!c || !c.type) return;
    const put = (id, v) => { if (v != null && Number.isFinite(Number(v)) && $(id).value !== String(Number(v))) $(id).value = String(Number(v)); };
    if ([...$('bench-type').options].some((o) => o.value === c.type) && $('bench-type').value !== c.type) $('bench-type').value = c.type;
    put('bench-concurrency', c.concurrency);
    put('bench-duration', c.duration_secs);
    put('bench-payload', c.payload_size);
    bench_errors_clear();
  }

  async function bench_start(ev) {
    ev.preventDefault();
    bench_errors_clear();
    if ($('bench-start').getAttribute('aria-disabled') === 'true') return; /* Enter in a field while a run goes */
    const v = bench_form_values();
    const bad = bench_problems(v);
    if (bad.length) {
      for (const [k, m] of bad) bench_error(k, 'Must be ' + m + '.');
      $(BENCH_FIELDS[bad[0][0]]).focus();
      return;
    }
    const t = toast('progress', 'Starting a ' + v.type + ' benchmark: ' + v.concurrency + ' clients for ' + v.duration_secs + ' s…');
    await busy($('bench-start'), 'Starting…', async () => {
      try {
        const r = await request('POST', '/_playground/benchmark/start', { body: v });
        /* a refused start (403, 409 one runs, 503) keeps the last result to read; an
         * accepted one clears it in on_benchmark, when the page first sees the run */
        t.done('ok', 'Benchmark running — watch the throughput chart.');
        on_benchmark(r.data || { state: 'running', config: v });
      } catch (e) {
        if (e.status === 400) {
          const field = ['concurrency', 'duration_secs', 'payload_size', 'type'].find((k) => (e.serverMessage || '').includes(k));
          if (field && BENCH_FIELDS[field]) bench_error(field, e.serverMessage);
        }
        t.done('error', 'The benchmark did not start: ' + words(e));
      }
    });
    bench_buttons();
  }

  async function bench_stop() {
    const t = toast('progress', 'Stopping the benchmark…');
    /* this toast announces the end: the stream's `stopped` event, which may come before the
     * answer, must not announce it a second time */
    state.bench.stopping = true;
    await busy($('bench-stop'), 'Stopping…', async () => {
      try {
        const r = await request('POST', '/_playground/benchmark/stop');
        on_benchmark(r.data || {}, true);
        const res = (r.data && r.data.result) || null;
        if (state.bench.state === 'running') { /* as the answer says (unless an event said the end first) */
          /* the gateway waits 5 s for the run to end; operations still in flight (a frozen
           * cluster, a long --rpc-timeout-ms) end it later: not "stopped" yet (QA), and the
           * stream's event announces the end */
          t.done('warn', 'Stop asked: the benchmark is still ending (operations in flight wait for their answer or deadline); its result shows when it ends.');
          return;
        }
        t.done(res && bench_all_failed(res) ? 'error' : 'ok', 'Benchmark stopped' + (res ? bench_outcome_words(res) : '') + '.');
      } catch (e) {
        t.done('error', 'Could not stop the benchmark: ' + words(e));
      } finally {
        state.bench.stopping = false;
      }
    });
    bench_buttons();
  }

  /* bench_data_count: how many items the benchmarks wrote (the list hides them unless asked
   * to include them: the difference of the two totals), or null when the lists fail. */
  async function bench_data_count() {
    try {
      const [all, mine] = await Promise.all([
        request('GET', '/api/items?limit=1&includeBenchmark=true'),
        request('GET', '/api/items?limit=1'),
      ]);
      const n = Number(all.data && all.data.total) - Number(mine.data && mine.data.total);
      return Number.isFinite(n) ? Math.max(0, n) : null;
    } catch (e) { return null; }
  }

  /* bench_cleanup: deletes on every node, with no undo: asks first, with the count when known. */
  async function bench_cleanup() {
    const btn = $('bench-cleanup');
    const count = await busy(btn, 'Counting…', bench_data_count);
    if (count === 0) { toast('ok', 'Nothing to clean up: no item written by a benchmark.'); return; }
    const what = count == null ? 'Every item written by a benchmark' : fmt_int(count) + ' item' + (count === 1 ? '' : 's') + ' written by benchmarks';
    const yes = await confirm_dialog('Delete the benchmark data?', what + ' will be deleted on every node. Items created by hand are kept.',
      count == null ? 'Delete them' : 'Delete ' + fmt_int(count) + ' item' + (count === 1 ? '' : 's'));
    if (!yes) return;
    const t = toast('progress', 'Deleting the items written by benchmarks…');
    await busy($('bench-cleanup'), 'Cleaning…', async () => {
      try {
        const r = await request('POST', '/_playground/benchmark/cleanup', { timeoutMs: 60000 });
        t.done('ok', 'Deleted ' + fmt_int((r.data && r.data.deleted) || 0) + ' benchmark items.');
      } catch (e) {
        t.done('error', 'Clean-up failed: ' + words(e));
      }
    });
    bench_buttons();
  }

  function bench_buttons() {
    const running = state.bench.state === 'running';
    const lost = gateway_lost();
    gate($('bench-start'), 'editor', running || lost, lost ? lost_why() : 'A benchmark is running (its settings are shown): one at a time — Stop ends it');
    gate($('bench-stop'), 'editor', !running || lost, lost ? lost_why() : 'No benchmark is running: nothing to stop');
    gate($('bench-cleanup'), 'editor', running || lost, lost ? lost_why() : 'Wait until the running benchmark ends: it is writing the items this deletes');
    /* while a run goes (this tab's or another's) the form shows its settings, not editable */
    const why = running ? 'The running benchmark\'s setting: it can be changed once the run ends' : '';
    for (const id of ['bench-type', 'bench-concurrency', 'bench-duration', 'bench-payload']) {
      if ($(id).disabled !== running) $(id).disabled = running;
      if ($(id).title !== why) $(id).title = why;
    }
    const note = $('bench-form-note');
    if (note.hidden !== !running) note.hidden = !running;
  }

  /* gateway_gates: what needs the gateway is off while it is unreachable, saying so. */
  function gateway_gates(lost) {
    gate($('item-new'), 'editor', lost, lost_why());
    set_off($('items-refresh'), lost, lost_why());
    gate($('fw-add'), 'admin', lost || fw.noteBad, lost ? lost_why() : 'Shorten the note first (at most ' + FW_NOTE_MAX + ' bytes)');
    bench_buttons();
    /* and the rest that asks the gateway: each row's History, Edit and Delete, logging in
     * and out, the rate-limit and firewall tests, a rule's delete. They stayed offered with
     * the gateway frozen or gone, each click a network error after a wait (QA). Not when the
     * gateway answers but refuses the stream to the role (--anonymous-role none): logging in
     * is then the way in. */
    const away = lost && !stream_refused();
    for (const id of ['login-btn', 'logout-btn', 'rl-test']) set_off($(id), away, LOST_WHY);
    for (const b of document.querySelectorAll('[data-testid="fw-test"], [data-testid="item-history"]')) set_off(b, away, LOST_WHY);
    for (const b of document.querySelectorAll('[data-testid="item-edit"], [data-testid="item-delete"]')) gate(b, 'editor', away, LOST_WHY);
    for (const b of document.querySelectorAll('[data-testid="fw-rule-delete"]')) gate(b, 'admin', away, LOST_WHY);
  }

  async function refresh_bench() {
    try {
      const r = await request('GET', '/_playground/benchmark/status');
      if (r.data) on_benchmark(r.data, true);
    } catch (e) { /* the page still works without it */ }
  }

  /* refresh_bench_result: the stream's last event may omit the histogram; the status has it. */
  async function refresh_bench_result() {
    try {
      const r = await request('GET', '/_playground/benchmark/status');
      const d = r.data || {};
      if (d.result && d.state !== 'running') bench_result(d.result, d.state, true, d.config || state.bench.config);
    } catch (e) { /* the summary already shown stays */ }
  }

  function on_benchmark(d, initial) {
    /* a status older than one already shown (a read or reply in flight while the run went
     * on, or ended) is dropped: it would bring "running" back after "done" */
    const seq = Number(d.seq), ep = Number(d.epoch);
    const epochWas = state.bench.epoch;
    let restarted = false; /* another gateway process answers: the one this page knew stopped */
    if (d.seq != null && Number.isFinite(seq) && Number.isFinite(ep)) {
      if (ep === state.bench.epoch && seq < state.bench.seq) return;
      restarted = epochWas !== 0 && ep !== epochWas;
      state.bench.epoch = ep;
      state.bench.seq = seq;
    }
    const st = d.state || 'idle';
    const was = state.bench.state;
    state.bench.state = st;
    if (st === 'running' && (was !== 'running' || restarted)) {
      /* a new run (from this tab or another): the last one's chart and result go */
      benchChart.clear();
      $('bench-result').hidden = true;
    }
    if (restarted && was === 'running' && st !== 'running') {
      /* the run this page showed went with the gateway that ran it (restarted meanwhile): the
       * new one reports "idle", and the page kept the old run's live figures and half-full bar
       * under an "idle" badge, saying nothing (QA). What was seen stays in the chart. */
      state.bench.lastEndAt = performance.now();
      bench_lost(state.bench.config);
      bench_buttons();
      return;
    }
    if (st !== 'running' && was === 'running') state.bench.lastEndAt = performance.now();
    const b = $('bench-state');
    set_text(b, st);
    b.dataset.state = st;
    if (st !== 'running' && b.title) b.title = '';
    const cfg = d.config || {};
    if (d.config && d.config.type) state.bench.config = d.config;
    if (st === 'running') bench_form_show(d.config);
    const p = d.progress || {};
    if (st === 'running' || (p && p.elapsedMs != null && st !== 'idle')) {
      const dur = Number(cfg.duration_secs || cfg.durationSecs || state.bench.duration || 0);
      if (dur) state.bench.duration = dur;
      const el_s = Number(p.elapsedMs || 0) / 1000;
      /* before the measured part (a read run's prefill, a warm-up) nothing is measured: the bar
       * shows the prefill's progress and the figures stay "—" (not 0 ops/s at 0.00 ms) */
      const phase = st === 'running' ? p.phase : '';
      const early = phase === 'prefill' || phase === 'warmup';
      const pre = phase === 'prefill' && Number(p.prefillTotal) > 0;
      const prePct = pre ? Math.min(100, (100 * Number(p.prefillDone || 0)) / Number(p.prefillTotal)) : 0;
      /* a run stopped early shows how far it got; only a finished one is full */
      const pct = st === 'done' ? 100 : pre ? prePct : (dur ? Math.min(100, (100 * el_s) / dur) : 0);
      $('bench-progress').style.width = pct.toFixed(1) + '%';
      $('bench-progress').classList.toggle('is-phase', early);
      set_text(b, pre ? 'prefill ' + Math.floor(prePct) + '%' : phase === 'warmup' ? 'warm-up' : st);
      const barWhy = pre ? 'Prefill: ' + fmt_int(Number(p.prefillDone || 0)) + ' of ' + fmt_int(Number(p.prefillTotal)) + ' keys written before the measured run' : phase === 'warmup' ? 'Warm-up: not measured' : '';
      if (b.title !== barWhy) b.title = barWhy;
      const seen = Number(p.ops) > 0 || Number(p.errors) > 0; /* a latency of nothing measured is no 0.00 ms */
      set_text($('bench-live-ops'), !early && p.opsPerSec != null ? fmt_int(Number(p.opsPerSec)) : '—');
      set_text($('bench-live-p50'), !early && seen && p.p50Ms != null ? fmt_ms(Number(p.p50Ms)) : '—');
      set_text($('bench-live-p99'), !early && seen && p.p99Ms != null ? fmt_ms(Number(p.p99Ms)) : '—');
      set_text($('bench-live-count'), !early && p.ops != null ? fmt_int(Number(p.ops)) : '—');
      set_text($('bench-live-errors'), !early && p.errors != null ? fmt_int(Number(p.errors)) : '—');
      if (st === 'running' && p.elapsedMs != null && (!p.phase || p.phase === 'running' || p.phase === 'warmup')) {
        benchChart.push(Math.round(el_s * 100) / 100, [Number(p.opsPerSec) || 0, p.p99Ms != null ? Number(p.p99Ms) : null]);
        latest.benchOps = Number(p.opsPerSec) || 0;
        latest.benchP99 = p.p99Ms != null ? Number(p.p99Ms) : null;
        latest.benchAt = performance.now();
      }
    }
    if (d.result && st !== 'running') {
      /* announced once, when this page sees the run end (not again for each later event) */
      bench_result(d.result, st, initial || was !== 'running', d.config || state.bench.config);
      if (!initial && !Array.isArray(d.result.histogram)) refresh_bench_result();
    }
    if (st === 'failed' && !initial && was === 'running') toast('error', 'The benchmark failed' + (d.error ? ': ' + d.error : '.'));
    bench_buttons();
  }

  /* bench_live_clear: the live figures and the bar back to "nothing running" */
  function bench_live_clear() {
    for (const id of ['bench-live-ops', 'bench-live-p50', 'bench-live-p99', 'bench-live-count', 'bench-live-errors']) set_text($(id), '—');
    $('bench-progress').style.width = '0%';
    $('bench-progress').classList.remove('is-phase');
    latest.benchAt = 0;
  }

  /* bench_result_parts: the result's percentile table and histogram, shown or not */
  function bench_result_parts(show) {
    for (const e of [$('bench-pct-head').closest('table'), $('bench-histogram').closest('figure')]) if (e.hidden !== !show) e.hidden = !show;
  }

  /* bench_lost: a run that ended with its gateway (stopped or restarted while it ran): there
   * is no result to show, and the page says so rather than keep its last live figures. */
  function bench_lost(cfg) {
    bench_live_clear();
    const b = $('bench-state');
    set_text(b, 'lost');
    b.dataset.state = 'lost';
    b.title = 'The gateway restarted while the benchmark ran: its result went with it';
    const what = bench_config_words(cfg);
    set_text($('bench-result-config'), 'Run' + (what ? ': ' + what : '') + ' — lost: the gateway restarted while it ran, and its result went with it. The chart shows what this page saw of it; start it again to measure.');
    $('bench-result-config').hidden = false;
    $('bench-result-grid').replaceChildren();
    /* no percentiles and no histogram: not an empty table and an empty chart */
    bench_result_parts(false);
    $('bench-result').dataset.state = 'lost';
    $('bench-result').hidden = false;
    toast('warn', 'The benchmark was lost: the gateway restarted while it ran, and its result went with it.');
  }

  /* mbps_cells: throughput in MB/s split by direction (the spec's read/write MB/s): a mixed
   * run shows read and write apart, a one-sided run the side it used. A result from a gateway
   * that does not split them keeps the single total. */
  function mbps_cells(r, cell) {
    const mb = (v) => (v != null ? Number(v).toFixed(2) + ' MB/s' : '—');
    if (r.readMbPerSec == null && r.writeMbPerSec == null) return [cell('MB/s', r.mbPerSec != null ? Number(r.mbPerSec).toFixed(2) : '—')];
    const kind = r.workload || '';
    const reads = kind === 'read' || kind === 'mixed' || Number(r.reads) > 0;
    const writes = kind === 'write' || kind === 'mixed' || Number(r.writes) > 0;
    const out = [];
    if (reads || !writes) out.push(cell('Read', mb(r.readMbPerSec), 'bench-result-read-mbps', fmt_bytes(num(r.readBytes)) + ' read'));
    if (writes) out.push(cell('Write', mb(r.writeMbPerSec), 'bench-result-write-mbps', fmt_bytes(num(r.writeBytes)) + ' written'));
    return out;
  }

  /* bench_measured: the run measured something; one stopped during its prefill or warm-up did
   * not, and its zeros are no latencies */
  function bench_measured(r) {
    return Number(r.ops) > 0 || Number(r.errors) > 0 || Number((r.latencyUs || {}).count) > 0;
  }
  /* bench_failed_words: how many measured operations failed ('' when none did). Failures
   * count in ops and ops/s (docs/API.md), so a run of refusals (no leader: every write
   * UNAVAILABLE) read as "finished: 5 ops/s" in a green toast; it says so instead, as
   * `lithair-admin bench` does. */
  function bench_failed_words(r) {
    const ops = Number(r.ops) || 0;
    const errs = Number(r.errors) || 0;
    if (!errs) return '';
    const by = r.errorsByCode ? Object.entries(r.errorsByCode).map(([k, v]) => k + ' ' + fmt_int(Number(v))).join(', ') : '';
    return (errs >= ops ? (ops === 1 ? 'its only operation failed' : 'every one of its ' + fmt_int(ops) + ' operations failed') : fmt_int(errs) + ' of its ' + fmt_int(ops) + ' operations failed') + (by ? ' (' + by + ')' : '');
  }
  function bench_all_failed(r) { return Number(r.ops) > 0 && Number(r.errors) >= Number(r.ops); }
  /* bench_outcome_words: what a finished or stopped run did, for its toast */
  function bench_outcome_words(r) {
    if (!bench_measured(r)) return ' ' + bench_unmeasured_words(r);
    const failed = bench_failed_words(r);
    if (bench_all_failed(r)) return ': ' + failed;
    const lat = r.latencyUs || {};
    return ': ' + fmt_int(Number(r.opsPerSec)) + ' ops/s, p99 ' + (lat.p99 != null ? fmt_us(Number(lat.p99)) : '—') + (failed ? '; ' + failed : '');
  }
  function bench_unmeasured_words(r) {
    const pre = Number(r.prefillOps) > 0;
    return (pre ? 'during its prefill (' + fmt_int(Number(r.prefillOps)) + ' keys written)' : 'before its measured part') + ': nothing was measured';
  }

  function bench_result(r, st, initial, cfg) {
    const box = $('bench-result');
    const measured = bench_measured(r);
    const lat = measured ? r.latencyUs || {} : {};
    const grid = $('bench-result-grid');
    const cell = (label, value, tid, title, cls) => el('div', { class: 'result-cell' + (cls ? ' ' + cls : ''), title: title || null }, [el('span', { class: 'stat-label', text: label }), el('span', { class: 'stat-value', 'data-testid': tid || null, text: value })]);
    const errs = r.errorsByCode && Object.keys(r.errorsByCode).length ? Object.entries(r.errorsByCode).map(([k, v]) => k + ' ' + fmt_int(Number(v))).join(', ') : '';
    const errText = fmt_int(Number(r.errors || 0)) + (errs ? ' (' + errs + ')' : '');
    /* what was measured: the run's own settings, not the form's (another tab's run, a reload) */
    const what = bench_config_words(cfg);
    let none = measured ? (bench_all_failed(r) ? cap(bench_failed_words(r)) + '.' : '') : cap(st) + ' ' + bench_unmeasured_words(r) + '.';
    /* a key whose prefill write failed has no item: its reads fail NOT_FOUND, which alone
     * reads as lost data (QA: a prefill through a lost quorum) */
    if (Number(r.prefillErrors) > 0) none += (none ? ' ' : '') + fmt_int(Number(r.prefillErrors)) + ' of its ' + fmt_int(Number(r.prefillOps)) + ' prefill writes failed: reads of their keys fail (not_found).';
    /* an open-loop run (a rate) that fell behind: what was due and never sent counts in the
     * latencies, not in the operations (docs/API.md), so "0 ops/s" with latencies says why */
    if (Number(r.unsent) > 0) none += (none ? ' ' : '') + fmt_int(Number(r.unsent)) + ' operations due at its rate were never sent (the cluster fell behind): they count in the latencies with the time they waited, not in the operations.';
    set_text($('bench-result-config'), (what ? (st === 'done' ? 'Run: ' : 'Run (' + st + '): ') + what + (none ? ' — ' : '') : '') + none);
    $('bench-result-config').hidden = !what && !none;
    grid.replaceChildren(
      cell('Operations', fmt_int(Number(r.ops)), 'bench-result-ops'),
      cell('Throughput', fmt_int(Number(r.opsPerSec)) + ' ops/s', 'bench-result-opsps'),
      ...mbps_cells(r, cell),
      cell('Duration', r.durationS != null ? Number(r.durationS).toFixed(1) + ' s' : '—'),
      cell('Mean', lat.mean != null ? fmt_us(Number(lat.mean)) : '—'),
      /* the breakdown by code, whole: on a row of its own where it wraps, and in the tooltip */
      cell('Errors', errText, 'bench-result-errors', errText, errs ? 'result-cell-wide' : null),
    );
    const keys = [['p50', 'p50'], ['p90', 'p90'], ['p95', 'p95'], ['p99', 'p99'], ['p999', 'p99.9'], ['max', 'max']];
    $('bench-pct-head').replaceChildren(...keys.map(([, l]) => el('th', { scope: 'col', text: l })));
    $('bench-pct-row').replaceChildren(...keys.map(([k]) => el('td', { 'data-testid': 'bench-' + k, text: lat[k] != null ? fmt_us(Number(lat[k])) : '—' })));
    box.hidden = false;
    box.dataset.state = st;
    bench_result_parts(true);
    const caption = $('bench-histogram-caption');
    if (!measured) {
      caption.textContent = 'Latency: nothing was measured';
      histo.bars([], []);
    } else if (Array.isArray(r.histogram) && r.histogram.length) {
      caption.textContent = 'Latency histogram (requests per bucket)';
      histo.set(r.histogram);
    } else {
      caption.textContent = 'Latency by percentile';
      const ks = keys.filter(([k]) => lat[k] != null);
      histo.bars(ks.map(([, l]) => l), ks.map(([k]) => Number(lat[k])), (v) => fmt_us(v));
    }
    if (Array.isArray(r.series) && r.series.length && benchChart.points === 0) {
      for (const s of r.series) benchChart.push(Number(s.tMs) / 1000, [Number(s.opsPerSec) || 0, Number(s.p99Us) > 0 ? Number(s.p99Us) / 1000 : null]);
    }
    if (!initial && !state.bench.stopping) toast(bench_all_failed(r) ? 'error' : st === 'done' ? 'ok' : 'warn', 'Benchmark ' + (st === 'done' ? 'finished' : st) + (what ? ' (' + what + ')' : '') + bench_outcome_words(r) + '.');
  }

  /* ---------------------------------------------------------------- data explorer */
  /* items_filter: the filter the controls ask for: {status} or {name}, or null */
  function items_filter() {
    const f = $('filter-field').value;
    if (f === 'status') return { status: $('filter-status').value };
    if (f === 'name' && $('filter-value').value.trim()) return { name: $('filter-value').value.trim() };
    return null;
  }

  function items_query(cursor, filter) {
    const q = new URLSearchParams();
    q.set('limit', $('page-size').value);
    if (filter && filter.status) q.set('status', filter.status);
    if (filter && filter.name) q.set('name', filter.name);
    if (cursor) q.set('cursor', cursor);
    return '/api/items?' + q.toString();
  }

  /* pending_shown: the item just created is shown above page 1 only while it is what the rows
   * shown would hold (a draft created under an "archived" filter is not listed as archived). */
  function pending_shown() {
    const it = state.pendingNew;
    const f = state.itemsFilter;
    if (!it || state.cursors.length !== 1) return false;
    if (f && f.status && (it.status || 'draft') !== f.status) return false;
    if (f && f.name && it.name !== f.name) return false;
    return true;
  }

  /* pending_changed: the item just created was changed or deleted (by anyone): what is kept of it
   * is read again, or dropped, rather than shown as it was when created. */
  async function pending_changed(d) {
    const id = d.id;
    if (d.op !== 'update') { state.pendingNew = null; render_items(); return; }
    try {
      const r = await request('GET', '/api/items/' + encodeURIComponent(id));
      if (state.pendingNew && state.pendingNew.id === id && Number(r.data.version) >= Number(state.pendingNew.version)) state.pendingNew = r.data;
    } catch (e) {
      if (e.status === 404 && state.pendingNew && state.pendingNew.id === id) state.pendingNew = null;
    }
    render_items();
  }

  let itemsSeq = 0;
  let itemsRetry = null;          /* {timer, tick} while a refused load waits to try again */
  const ITEMS_RETRY_MAX_S = 10;   /* a longer Retry-After is left to the Refresh button */

  /* load_items: `retried` is set on the one automatic retry after a 429 or a 503, so that a
   * limit that keeps refusing never turns into a loop. */
  async function load_items(retried) {
    retried = retried === true;
    const seq = ++itemsSeq;
    items_retry_cancel();
    const cursor = state.cursors[state.cursors.length - 1];
    const filter = items_filter();
    $('items-total').classList.add('is-loading');
    try {
      const r = await request('GET', items_query(cursor, filter));
      if (seq !== itemsSeq) return;
      state.itemsFilter = filter;
      state.itemsError = false;
      items_status('');
      const d = r.data || {};
      state.items = Array.isArray(d.items) ? d.items : [];
      state.itemsTotal = d.total != null ? Number(d.total) : state.items.length;
      state.nextCursor = d.nextCursor || '';
      /* a page past the end (its last rows deleted, here or elsewhere): the previous one */
      if (!state.items.length && state.cursors.length > 1) {
        state.cursors.pop();
        load_items();
        return;
      }
      if (state.pendingNew && state.items.some((x) => x.id === state.pendingNew.id)) state.pendingNew = null;
      render_items();
    } catch (e) {
      if (seq !== itemsSeq) return;
      if (e.status === 429) { items_rate_limited(e, retried); return; }
      /* a new leader may refuse reads for a moment (Retry-After: 1): once more, unless the
       * quorum is lost (no leader can come before a node is restarted; its return reloads) */
      if (e.status === 503 && !retried && !quorum_info().lost && state.leaderId) { items_retry_in(1, 'no leader yet'); return; }
      state.itemsError = true;
      items_status('');
      $('items-body').replaceChildren(el('tr', {}, [el('td', { colspan: '7', class: 'empty error', 'data-testid': 'items-error', text: 'Could not load the items: ' + words(e) })]));
    } finally {
      if (seq === itemsSeq) $('items-total').classList.remove('is-loading');
    }
  }

  /* items_rate_limited: the gateway's --rate-limit refused the list. The rows shown stay; a
   * line above them counts down to one retry after Retry-After (bounded). */
  function items_rate_limited(e, retried) {
    const s = Math.max(1, Math.min(ITEMS_RETRY_MAX_S, Math.ceil(Number(e.retryAfter) || 1)));
    sec_refresh_rest().catch(() => {}); /* the limiter's figures, now that it acted */
    if (retried || Number(e.retryAfter) > ITEMS_RETRY_MAX_S) {
      items_status('Rate limited — the gateway refused the list again (429). Press Refresh in a moment.', 'warn');
      return;
    }
    items_retry_in(s, 'rate limited');
  }

  function items_retry_in(s, why) {
    let left = s;
    const say = () => items_status(cap(why) + ' — retrying in ' + left + ' s', 'warn');
    say();
    itemsRetry = {
      tick: setInterval(() => { left = Math.max(1, left - 1); say(); }, 1000),
      timer: setTimeout(() => { items_retry_cancel(); load_items(true); }, s * 1000),
    };
  }

  function items_retry_cancel() {
    if (!itemsRetry) return;
    clearInterval(itemsRetry.tick);
    clearTimeout(itemsRetry.timer);
    itemsRetry = null;
  }

  /* items_status: a line above the table for what is not an item (a retry, a limit). */
  function items_status(text, kind) {
    const b = $('items-status');
    b.textContent = text;
    b.className = 'items-status' + (kind ? ' ' + kind : '');
    b.hidden = !text;
  }

  function render_items() {
    const rows = state.items.slice();
    if (pending_shown() && !rows.some((x) => x.id === state.pendingNew.id)) rows.unshift(state.pendingNew);
    const f = $('filter-field').value;
    set_text($('items-total'), fmt_int(state.itemsTotal) + ' item' + (state.itemsTotal === 1 ? '' : 's') + (f ? ' matching' : ' total'));
    const page = state.cursors.length;
    set_text($('page-info'), 'Page ' + page + ' · ' + state.items.length + ' shown');
    set_off($('page-prev'), page <= 1, 'This is the first page');
    set_off($('page-next'), !state.nextCursor, 'This is the last page');
    if (!rows.length && page > 1) {
      /* its last rows went: load_items steps back a page */
      $('items-body').replaceChildren(el('tr', {}, [el('td', { colspan: '7', class: 'empty', text: 'This page is empty now — back to page ' + (page - 1) + '…' })]));
      return;
    }
    if (!rows.length) {
      $('items-body').replaceChildren(el('tr', {}, [el('td', { colspan: '7', class: 'empty', text: f ? 'No item matches this filter.' : 'No items yet — create one with “+ New item”.' })]));
      return;
    }
    $('items-body').replaceChildren(...rows.map(item_row));
    render_badges_now();
  }

  function item_row(it) {
    const tr = el('tr', { 'data-testid': 'item-row', 'data-item-id': it.id, class: state.pendingNew && state.pendingNew.id === it.id ? 'is-new' : null });
    const badge = el('span', { class: 'repl-badge', 'data-testid': 'item-badge', 'data-index': String(it.raftIndex || ''), title: 'Nodes that applied raft entry #' + (it.raftIndex || '?') });
    const edit = el('button', { class: 'btn btn-small btn-ghost', type: 'button', 'data-testid': 'item-edit', 'aria-label': 'Edit ' + it.name, text: 'Edit', onclick: (e) => item_edit(it.id, e.currentTarget) });
    const del = el('button', { class: 'btn btn-small btn-ghost btn-danger-text', type: 'button', 'data-testid': 'item-delete', 'aria-label': 'Delete ' + it.name, text: 'Delete', onclick: (e) => item_delete(it, e.currentTarget) });
    gate(edit, 'editor');
    gate(del, 'editor');
    tr.append(
      el('td', { class: 'mono', title: it.id, text: short_id(it.id) }),
      /* the whole name on hover: a long one ends in "…" in its cell */
      el('td', { class: 'name-cell', 'data-testid': 'item-name', title: it.name + (it.description ? '\n' + it.description : ''), text: it.name }),
      el('td', {}, [el('span', { class: 'status status-' + (it.status || 'draft'), text: it.status || 'draft' })]),
      el('td', { class: 'mono', 'data-testid': 'item-version', text: String(it.version || '—') }),
      el('td', { class: 'muted col-updated', title: it.updatedAt || '', text: fmt_date(it.updatedAt) }),
      el('td', { class: 'col-badge' }, [badge]),
      /* last in a table row; on a phone the rows are cards and CSS lifts this to the top */
      el('td', { class: 'row-actions' }, [
        el('button', { class: 'btn btn-small btn-ghost', type: 'button', 'data-testid': 'item-history', 'aria-label': 'History of ' + it.name, title: 'Every committed version', text: 'History', onclick: (e) => item_history(it, e.currentTarget) }),
        edit, del,
      ]),
    );
    return tr;
  }

  /* item_applied: the nodes known to have applied raft index `idx`: from committed events, or
   * from a node's applied index (the badge of an item written before the page opened). */
  function item_applied(idx) {
    const set = new Set(state.appliedBy.get(idx) || []);
    if (idx) for (const n of state.nodes.values()) if (n.applied != null && n.applied >= idx) set.add(n.id);
    return set;
  }

  const render_badges = throttle(render_badges_now, 200);
  function render_badges_now() {
    const ids = [...state.nodes.keys()].sort((a, b) => a - b);
    const total = ids.length || 3;
    for (const b of document.querySelectorAll('[data-testid="item-badge"]')) {
      const idx = Number(b.dataset.index);
      const set = item_applied(idx);
      const count = set.size;
      const key = count + '/' + total + ':' + [...set].join(',');
      if (b.dataset.key === key) continue;
      b.dataset.key = key;
      b.dataset.applied = String(count);
      b.dataset.total = String(total);
      b.dataset.complete = count >= total ? 'true' : 'false';
      b.className = 'repl-badge' + (count >= total ? ' is-complete' : '');
      b.replaceChildren(
        el('span', { class: 'segs', 'aria-hidden': 'true' }, (ids.length ? ids : [1, 2, 3]).map((id) => el('span', { class: 'seg' + (set.has(id) ? ' on' : ''), title: 'node ' + id }))),
        el('span', { class: 'repl-text', text: (count >= total ? '✓ ' : '') + count + '/' + total }),
      );
      b.setAttribute('aria-label', 'Replicated on ' + count + ' of ' + total + ' nodes');
    }
  }

  let itemsRefreshTimer = null;
  /* item_event: a change made elsewhere (another tab, the CLI) refreshes the table once it settles. */
  function item_event(d) {
    if (!d.id || d.op === 'noop') return;
    if (state.pendingNew && state.pendingNew.id === d.id && d.op !== 'create' && (d.model || 'items') === 'items') pending_changed(d);
    if (state.bench.state === 'running' || performance.now() - state.bench.lastEndAt < 3000) return;
    const known = state.items.some((x) => x.id === d.id) || (state.pendingNew && state.pendingNew.id === d.id);
    if (known && d.op === 'create') return;
    clearTimeout(itemsRefreshTimer);
    itemsRefreshTimer = setTimeout(load_items, 300);
  }

  const FORM_FIELDS = ['name', 'status', 'description', 'metadata'];

  function form_errors_clear() {
    for (const f of FORM_FIELDS) form_error_clear(f);
    $('form-error').textContent = '';
    $('conflict-banner').hidden = true;
  }

  function form_error_clear(key) {
    $('error-' + key).textContent = '';
    $('field-' + key).removeAttribute('aria-invalid');
    $('field-' + key).closest('.field').classList.remove('has-error');
  }

  function form_error_set(field, text) {
    const key = String(field || '').replace(/^item\./, '').split('.')[0];
    const box = $('error-' + key);
    if (!box) return false;
    box.textContent = text;
    $('field-' + key).setAttribute('aria-invalid', 'true');
    $('field-' + key).closest('.field').classList.add('has-error');
    return true;
  }

  /* ---------------------------------------------------------------- item form: live checks */
  /* The model's rules as docs/API.md and node/store/models.c state them, checked as the person
   * types so a mistake shows before Save; the server stays the authority (its 422 is still
   * shown, the same way). Sizes are UTF-8 bytes, as the server counts them, not characters. */
  const ITEM_MAX_BYTES = { name: 200, description: 4096, metadata: 65536 };
  const LIVE_CHECK_MS = 200;       /* debounce: check when the typing pauses */
  const utf8 = new TextEncoder();
  const utf8_bytes = (s) => utf8.encode(s).length;
  const BLANK = /^[ \t\n\r\v\f]*$/; /* the server's "blank": these six characters only */
  const live = { pending: new Set(), invalid: new Set(), timer: null }; /* fields waiting, fields refused */

  /* The metadata is sent as typed: it is JSON text already, and JSON.parse then
   * JSON.stringify would change it ({"n": 1e999, "big": 12345678901234567890} became
   * {"n": null, "big": 12345678901234567000}). The gateway keeps its numbers as written. */

  /* metadata_text: the metadata box as the text to send ({} when empty). */
  function metadata_text() {
    return $('field-metadata').value.trim() || '{}';
  }

  /* json_compact: JSON text without the whitespace between tokens (what the server keeps and
   * counts); strings and numbers stay as written. */
  function json_compact(t) {
    return t.replace(/"(?:[^"\\]|\\.)*"|[ \t\n\r]+/g, (m) => (m[0] === '"' ? m : ''));
  }

  /* json_scan: walks a text JSON.parse accepted, for what JSON.parse hides: `far`, the first
   * number past a double's range (JSON.parse makes it Infinity; the gateway refuses it), `dup`,
   * the first key twice in one object (JSON.parse keeps the last; the gateway refuses it), and
   * `spans`, where each top-level member's value lies in the text. A text too deeply nested
   * to walk here reports nothing (the server still checks it). */
  function json_scan(t) {
    const out = { far: '', dup: null, spans: new Map() };
    let i = 0;
    const ws = () => { while (i < t.length && (t[i] === ' ' || t[i] === '\t' || t[i] === '\n' || t[i] === '\r')) i++; };
    const str = () => { const a = i++; while (t[i] !== '"') i += t[i] === '\\' ? 2 : 1; i++; return t.slice(a, i); };
    const ATOM = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    const value = (depth) => {
      ws();
      if (t[i] === '{') {
        i++; ws();
        if (t[i] === '}') { i++; return; }
        const keys = new Set();
        for (;;) {
          ws();
          const k = JSON.parse(str());
          if (keys.has(k) && out.dup == null) out.dup = k;
          keys.add(k);
          ws(); i++; /* the colon */
          ws();
          const a = i;
          value(depth + 1);
          if (depth === 0) out.spans.set(k, [a, i]);
          ws();
          if (t[i++] === '}') return;
        }
      }
      if (t[i] === '[') {
        i++; ws();
        if (t[i] === ']') { i++; return; }
        for (;;) { value(depth + 1); ws(); if (t[i++] === ']') return; }
      }
      if (t[i] === '"') { str(); return; }
      ATOM.lastIndex = i;
      const m = ATOM.exec(t);
      if (!m) throw new SyntaxError('unexpected character at ' + i);
      i += m[0].length;
      if (!out.far && m[0] !== 'true' && m[0] !== 'false' && m[0] !== 'null' && !Number.isFinite(Number(m[0]))) out.far = m[0];
    };
    try { value(0); } catch (e) { return { far: '', dup: null, spans: new Map() }; }
    return out;
  }

  /* item_metadata_text: an item's metadata exactly as the server sent it (the answer's text),
   * not re-serialized from JSON.parse (which loses the digits of big integers). */
  function item_metadata_text(r) {
    const sp = r && r.text ? json_scan(r.text).spans.get('metadata') : null;
    if (sp) return r.text.slice(sp[0], sp[1]);
    const m = r && r.data ? r.data.metadata : null;
    return JSON.stringify(m == null ? {} : m);
  }

  /* item_field_problem: what is wrong with `field` as typed, in the server's 422 words, or ''. */
  function item_field_problem(field) {
    const v = $('field-' + field).value;
    const too_big = (n) => 'must be at most ' + ITEM_MAX_BYTES[field] + ' bytes (this is ' + n + ')';
    if (field === 'name') {
      if (v === '') return 'must not be empty';
      if (BLANK.test(v)) return 'must not be blank (only spaces)';
    }
    if (field === 'metadata') {
      const text = metadata_text();
      try { JSON.parse(text); } catch (e) { return 'not valid JSON: ' + e.message; }
      const sc = json_scan(text);
      if (sc.far) return 'the number ' + sc.far + ' is past a double\'s range, which the gateway refuses: write it as a string ("' + sc.far + '") or within ±1.8e308';
      if (sc.dup != null) return 'the key "' + sc.dup + '" appears twice in one object, which the gateway refuses (readers disagree on which one counts)';
      const n = utf8_bytes(json_compact(text)); /* what the server keeps: the text, spaces between tokens dropped */
      return n > ITEM_MAX_BYTES.metadata ? too_big(n) : '';
    }
    if (ITEM_MAX_BYTES[field]) {
      const n = utf8_bytes(v);
      if (n > ITEM_MAX_BYTES[field]) return too_big(n);
    }
    return '';
  }

  /* form_check: checks `fields` now: each one's message is shown or cleared (a server message
   * about a field goes once the field is edited), and Save is enabled only while no checked
   * field is invalid. Returns the first invalid field, or ''. */
  function form_check(fields) {
    for (const f of fields) {
      const p = item_field_problem(f);
      if (p) { form_error_set(f, cap(p) + '.'); live.invalid.add(f); } else { form_error_clear(f); live.invalid.delete(f); }
    }
    save_gate();
    return FORM_FIELDS.find((f) => live.invalid.has(f)) || '';
  }

  /* save_gate: Save is off while a checked field is invalid, and for a role that may not
   * write (a login as viewer in another tab while this form is open left it offered, to earn
   * a 403: QA). */
  function save_gate() {
    gate($('item-save'), 'editor', live.invalid.size > 0, 'Fix the marked field' + (live.invalid.size > 1 ? 's' : '') + ' first');
  }

  /* form_input: a keystroke in a field: checked once the typing pauses for LIVE_CHECK_MS. */
  function form_input(ev) {
    const f = String(ev.target.id || '').replace(/^field-/, '');
    if (!ITEM_MAX_BYTES[f]) return;
    live.pending.add(f);
    clearTimeout(live.timer);
    live.timer = setTimeout(() => { const fs = [...live.pending]; live.pending.clear(); form_check(fs); }, LIVE_CHECK_MS);
  }

  function form_check_reset() {
    clearTimeout(live.timer);
    live.pending.clear();
    live.invalid.clear();
    save_gate();
  }

  /* form_open: `item` null for a new one; `opener` {el, id}: the control that opened the form,
   * focused again when it closes; `metaText`: the item's metadata as the server sent it. */
  function form_open(item, opener, metaText) {
    form_errors_clear();
    form_check_reset();
    if (opener) state.formOpener = opener;
    const meta = item ? metaText || JSON.stringify(item.metadata == null ? {} : item.metadata) : '{}';
    /* what the form showed when it opened: an update sends only the fields the person
     * changed, so it never writes back another session's change to a field left alone */
    state.editing = item ? { id: item.id, version: String(item.version), createdAt: item.createdAt, etag: item_etag(item), was: {
      name: item.name, description: item.description || '', status: item.status || 'draft',
      metadata: json_compact(meta) } } : null;
    $('item-form-title').textContent = item ? 'Edit item ' + short_id(item.id) : 'New item';
    $('item-save').textContent = item ? 'Save changes' : 'Create';
    $('item-form-version').textContent = item ? 'editing version ' + item.version + ' (saved with If-Match)' : '';
    $('field-name').value = item ? item.name : '';
    $('field-description').value = item ? item.description || '' : '';
    $('field-status').value = item ? item.status || 'draft' : 'draft';
    $('field-metadata').value = meta;
    $('item-form').hidden = false;
    $('field-name').focus();
  }

  /* form_dirty: the form differs from what it showed when it opened. */
  function form_dirty() {
    const was = state.editing ? state.editing.was : { name: '', description: '', status: 'draft', metadata: '{}' };
    return $('field-name').value !== was.name || $('field-description').value !== was.description ||
      $('field-status').value !== was.status || json_compact(metadata_text()) !== was.metadata;
  }

  /* form_close: hides the form and gives the focus back to what opened it (the Edit button
   * of its row, redrawn since maybe, or + New item), not to the page's body. */
  function form_close() {
    const hadFocus = $('item-form').contains(document.activeElement) || document.activeElement === document.body;
    $('item-form').hidden = true;
    const op = state.formOpener || {};
    state.editing = null;
    state.formOpener = null;
    form_errors_clear();
    form_check_reset();
    if (!hadFocus) return;
    let back = op.el && op.el.isConnected && !op.el.closest('[hidden]') ? op.el : null;
    if (!back && op.id) back = document.querySelector('[data-testid="item-row"][data-item-id="' + CSS.escape(op.id) + '"] [data-testid="item-edit"]');
    (back || $('item-new')).focus();
  }

  /* form_discard: Cancel, or Escape: a form with changes is closed only once the person says
   * so; an untouched one at once. */
  async function form_discard() {
    if (!form_dirty()) { form_close(); return; }
    if (await confirm_dialog('Discard your changes?', 'The form has changes that were not saved.', 'Discard')) form_close();
  }

  async function item_edit(id, btn) {
    await busy(btn, '…', async () => {
      try {
        const r = await request('GET', '/api/items/' + encodeURIComponent(id));
        form_open(r.data, { el: btn, id }, item_metadata_text(r));
      } catch (e) {
        toast('error', 'Could not open the item: ' + words(e));
        if (e.status === 404) load_items();
      }
    });
  }

  async function item_save(ev) {
    ev.preventDefault();
    form_errors_clear();
    /* every field, touched or not: what the live checks already know is not sent to be refused */
    clearTimeout(live.timer);
    live.pending.clear();
    const bad = form_check(Object.keys(ITEM_MAX_BYTES));
    if (bad) { $('field-' + bad).focus(); return; }
    const metaText = metadata_text();
    let body = { name: $('field-name').value, description: $('field-description').value, status: $('field-status').value };
    let sendMeta = true;
    const ed = state.editing;
    if (ed) {
      const changed = {};
      for (const k of Object.keys(body)) if (body[k] !== ed.was[k]) changed[k] = body[k];
      sendMeta = json_compact(metaText) !== ed.was.metadata;
      if (!Object.keys(changed).length && !sendMeta) { toast('ok', 'Nothing changed: nothing to save.'); form_close(); return; }
      body = changed;
    }
    /* the metadata goes in as typed (checked above: valid JSON the gateway takes) */
    const head = JSON.stringify(body);
    const json = sendMeta ? (head === '{}' ? '{' : head.slice(0, -1) + ',') + '"metadata":' + metaText + '}' : head;
    const btn = $('item-save');
    const t = toast('progress', ed ? 'Saving ' + short_id(ed.id) + '…' : 'Creating “' + body.name + '”…');
    await busy(btn, ed ? 'Saving…' : 'Creating…', async () => {
      try {
        let r;
        if (ed) {
          r = await request('PUT', '/api/items/' + encodeURIComponent(ed.id), { json, headers: { 'If-Match': ed.etag } });
          t.done('ok', 'Saved “' + r.data.name + '” as version ' + r.data.version + ' — replicating to every node.');
        } else {
          r = await request('POST', '/api/items', { json });
          t.done('ok', 'Created “' + r.data.name + '” — replicating to every node.');
          state.pendingNew = r.data;
        }
        form_close();
        const it = r.data;
        const i = state.items.findIndex((x) => x.id === it.id);
        if (i >= 0) state.items[i] = it;
        if (ed && state.pendingNew && state.pendingNew.id === it.id) state.pendingNew = it;
        render_items();
        load_items();
      } catch (e) {
        item_save_error(e, t, ed);
      }
    });
  }

  function item_save_error(e, t, ed) {
    if (e.status === 422 && e.details.length) {
      let first = null;
      const other = [];
      for (const d of e.details) {
        if (form_error_set(d.field, cap(d.description))) first = first || d.field;
        else other.push(d.field + ': ' + d.description);
      }
      if (other.length) $('form-error').textContent = 'Also: ' + other.join('; ');
      if (first) $('field-' + String(first).split('.')[0]).focus();
      t.done('error', 'Not saved: ' + e.details.map((d) => d.field + ' ' + d.description).join('; ') + '.');
    } else if (ed && (e.status === 412 || (e.status === 409 && e.code === 'ABORTED'))) {
      conflict_show(ed);
      load_items();
      t.done('error', 'Not saved: the item changed since you opened it.');
    } else if (e.status === 404 && ed) {
      $('form-error').textContent = 'This item no longer exists (someone deleted it).';
      t.done('error', 'Not saved: the item was deleted.');
    } else {
      $('form-error').textContent = words(e);
      t.done('error', 'Not saved: ' + words(e));
    }
  }

  async function conflict_show(ed) {
    const banner = $('conflict-banner');
    let latestV = '?';
    let latestItem = null;
    let latestMeta = null;
    try {
      const r = await request('GET', '/api/items/' + encodeURIComponent(ed.id));
      latestItem = r.data;
      latestMeta = item_metadata_text(r);
      latestV = r.data.version;
    } catch (e) { /* show what we know */ }
    banner.replaceChildren(
      el('strong', { text: 'Version conflict. ' }),
      latestItem && latestItem.createdAt !== ed.createdAt
        ? 'Someone deleted this item and created another under the same id after you opened it: you edited version ' + ed.version + ' of the item created ' + ed.createdAt + ', the cluster now has version ' + latestV + ' of the one created ' + latestItem.createdAt + '. Nothing was saved (optimistic concurrency). '
        : 'Someone changed this item after you opened it: you edited version ' + ed.version + ', the cluster now has version ' + latestV + '. Nothing was saved (optimistic concurrency). ',
      el('button', { class: 'btn btn-small', type: 'button', 'data-testid': 'conflict-reload', text: 'Load the latest version', onclick: () => latestItem && form_open(latestItem, null, latestMeta) }),
      ' ',
      el('button', { class: 'btn btn-small btn-danger', type: 'button', 'data-testid': 'conflict-overwrite', text: 'Overwrite with my changes',
        onclick: () => { if (latestItem) { state.editing.version = String(latestItem.version); state.editing.createdAt = latestItem.createdAt; state.editing.etag = item_etag(latestItem); $('item-form').requestSubmit(); } } }),
    );
    banner.hidden = false;
  }

  async function item_history(it, btn) {
    await busy(btn, '…', async () => {
      try {
        const r = await request('GET', '/api/items/' + encodeURIComponent(it.id) + '/history');
        const entries = (r.data && r.data.entries) || [];
        $('history-title').textContent = 'History of “' + it.name + '” (' + short_id(it.id) + ')';
        $('history-body').replaceChildren(...(entries.length ? entries.map((e) => {
          const x = e.record || {};
          return el('tr', { 'data-testid': 'history-row' }, [
            el('td', {}, [el('span', { class: 'feed-op op-' + e.op, text: e.op })]),
            el('td', { class: 'mono', text: String(x.version || '—') }),
            el('td', { class: 'name-cell', text: x.name || '' }),
            el('td', {}, [el('span', { class: 'status status-' + (x.status || 'draft'), text: x.status || 'draft' })]),
            el('td', { class: 'name-cell muted', title: x.description || '', text: x.description || '' }),
            el('td', { class: 'mono muted', text: '#' + (x.raftIndex || '?') + ' · t' + (x.raftTerm || '?') }),
            el('td', { class: 'muted', title: x.updatedAt || '', text: fmt_date(x.updatedAt) }),
          ]);
        }) : [el('tr', {}, [el('td', { colspan: '7', class: 'empty', text: 'No history recorded.' })])]));
        $('history-dialog').showModal();
      } catch (e) {
        toast('error', 'Could not load the history: ' + words(e));
      }
    });
  }

  /* item_etag: the ETag the gateway gives an item, built from a listed item: its version and
   * its createdAt as its JSON writes it. Sent as If-Match, it names the item read and not one
   * deleted and created again since under the same id (whose version restarts at 1). */
  function item_etag(it) {
    return '"' + it.version + '@' + it.createdAt + '"';
  }

  async function item_delete(it, btn) {
    const yes = await confirm_dialog('Delete “' + it.name + '”?', 'Item ' + it.id + ' (version ' + it.version + ') will be deleted on every node, and its history with it.', 'Delete');
    if (!yes) return;
    const t = toast('progress', 'Deleting “' + it.name + '”…');
    await busy(btn, '…', async () => {
      try {
        await request('DELETE', '/api/items/' + encodeURIComponent(it.id), { headers: { 'If-Match': item_etag(it) } });
        t.done('ok', 'Deleted “' + it.name + '”.');
        if (state.pendingNew && state.pendingNew.id === it.id) state.pendingNew = null;
        state.items = state.items.filter((x) => x.id !== it.id);
        render_items();
        load_items();
      } catch (e) {
        if (e.status === 412 || (e.status === 409 && e.code === 'ABORTED')) t.done('error', 'Not deleted: someone changed “' + it.name + '” since the table loaded. Refreshed — check it and try again.');
        else t.done('error', 'Delete failed: ' + words(e));
        load_items();
      }
    });
  }

  function cap(s) { s = String(s || ''); return s.charAt(0).toUpperCase() + s.slice(1); }
  function fmt_rate(v) { v = Number(v); return Number.isFinite(v) ? String(Math.round(v * 100) / 100) : '—'; }

  /* ---------------------------------------------------------------- wiring */
  /* ---------------------------------------------------------------- security */
  async function sec_refresh() {
    try {
      await sec_refresh_me();
    } catch (e) {
      $('sec-who').textContent = 'unknown';
      return;
    }
    try {
      await sec_refresh_rest();
    } catch (e) {
      /* a role that may not read the status (--anonymous-role none) still sees who it is */
      $('rl-config').textContent = words(e);
    }
  }

  async function sec_refresh_me() {
    const me = (await request('GET', '/_playground/auth/me')).data || {};
    state.me = { role: me.role || 'none', user: me.user || null, anonymous: !!me.anonymous, address: me.address || '' };
    const who = $('sec-who');
    who.textContent = me.anonymous ? 'anonymous · ' + me.role : me.user + ' · ' + me.role;
    who.dataset.role = me.role;
    /* logged in: the form gives way to who is logged in (a select still reading "viewer"
     * next to an admin session said the opposite of the truth) */
    $('logout-btn').hidden = !!me.anonymous;
    $('login-btn').hidden = !me.anonymous;
    $('login-user').hidden = !me.anonymous;
    $('login-password').hidden = !me.anonymous;
    const st = $('login-state');
    st.hidden = !!me.anonymous;
    st.replaceChildren('Logged in as ', el('strong', { text: me.user || '' }), ' (' + me.role + ')');
    if (me.anonymous) $('login-user').value = $('login-user').value || 'viewer';
    roles_apply();
  }

  /* roles_apply: every control the current role may not use, disabled with the role it needs. */
  function roles_apply() {
    conn_text();
    gateway_gates(gateway_lost());
    save_gate();
    for (const b of document.querySelectorAll('[data-testid="fw-rule-delete"]')) gate(b, 'admin');
    render_cluster();
    if (state.items.length) render_items();
  }

  /* sec_refresh_rest: the limiter's figures and the firewall's rules. Only the latest
   * refresh to start renders: an older one's rules, read before a delete, landed after the
   * delete's own refresh and listed the removed rule again (a flake of the page test). */
  let secRestSeq = 0;
  async function sec_refresh_rest() {
    const seq = ++secRestSeq;
    const st = (await request('GET', '/_playground/security/status')).data || {};
    const fw = (await request('GET', '/_playground/security/firewall')).data || {};
    if (seq !== secRestSeq) return;
    const rl = st.rateLimit || {};
    const trl = st.testRateLimit || {};
    /* the real limiter's figures (it counts /api/* only) when one is set */
    $('rl-config').textContent = (Number(rl.perSecond) > 0
      ? 'API limit (--rate-limit): ' + fmt_rate(rl.perSecond) + ' requests/s per address, burst ' + fmt_rate(rl.burst) +
        ' — ' + fmt_int(Number(rl.accepted)) + ' accepted, ' + fmt_int(Number(rl.rejected)) + ' refused (429).'
      : 'No limit on the REST API (start the gateway with --rate-limit N to set one).') +
      ' Test endpoint, all clients since the gateway started: ' + fmt_int(Number(trl.accepted)) + ' accepted, ' + fmt_int(Number(trl.rejected)) + ' refused.';
    $('rl-config').dataset.perSecond = String(Number(rl.perSecond) || 0);
    state.fwRules = fw.rules || [];
    const nr = state.fwRules.length;
    const nd = Number(fw.denied) || 0;
    $('fw-count').textContent = '(' + nr + ' rule' + (nr === 1 ? '' : 's') + ', ' + fmt_int(nd) + ' request' + (nd === 1 ? '' : 's') + ' blocked)';
    $('fw-rules').replaceChildren(...state.fwRules.map((r) => {
      const del = el('button', { class: 'btn btn-small btn-ghost', type: 'button', 'data-testid': 'fw-rule-delete', 'aria-label': 'Delete rule ' + r.cidr, text: '✕', onclick: () => fw_delete(r) });
      gate(del, 'admin');
      return el('li', { 'data-testid': 'fw-rule' }, [
        el('span', { class: 'fw-' + r.action, text: r.action }),
        el('span', { text: r.cidr }),
        el('span', { class: 'fw-note', text: r.note || '' }),
        del,
      ]);
    }));
  }

  /* ---------------------------------------------------------------- the session across tabs
   * The session is the browser's (one cookie for every tab of the page): a login or logout in
   * one tab is announced to the others (BroadcastChannel, and a localStorage key whose
   * `storage` event reaches tabs without it), which ask who they are again — as any tab does
   * after a 401 or 403 (api.onauth), since the session may have changed under it. */
  const AUTH_KEY = 'lithair-session-changed';
  const auth = { bc: null, inFlight: false, again: false };

  function auth_announce() {
    if (auth.bc) auth.bc.postMessage({ kind: 'session' });
    try { localStorage.setItem(AUTH_KEY, String(Date.now()) + ':' + Math.random()); } catch (e) { /* storage off */ }
  }

  /* whoami_again: GET /auth/me (and the security panel) once more; news from another tab
   * that comes while one is in flight makes one more, not one each. After a refusal
   * (`refused`) at most one a second, and none while one is in flight: the re-read's own
   * refusals (a role that may not read the security status) must not start another. */
  async function whoami_again(refused) {
    if (auth.inFlight) { if (!refused) auth.again = true; return; }
    if (refused) {
      if (performance.now() - (auth.refusedAt || -1e9) < 1000) return;
      auth.refusedAt = performance.now();
    }
    auth.inFlight = true;
    try { await sec_refresh(); } finally {
      auth.inFlight = false;
      if (auth.again) { auth.again = false; whoami_again(false); }
    }
  }

  function auth_listen() {
    if (window.BroadcastChannel) {
      auth.bc = new BroadcastChannel('lithair-auth');
      auth.bc.onmessage = () => whoami_again(false);
    }
    window.addEventListener('storage', (e) => { if (e.key === AUTH_KEY) whoami_again(false); });
    /* a refusal may mean another tab logged out, or the session expired; /auth/* answers
     * (a wrong password, /auth/me itself) say nothing new about it */
    window.LP.api.onauth = (path) => { if (!/^\/_playground\/auth\//.test(path)) whoami_again(true); };
  }

  /* login_error: the message next to the password box (empty: cleared). */
  function login_error(text) {
    $('login-password-error').textContent = text;
    if (text) $('login-password').setAttribute('aria-invalid', 'true'); else $('login-password').removeAttribute('aria-invalid');
    $('login-password').classList.toggle('is-invalid', !!text);
  }

  async function login(ev) {
    ev.preventDefault();
    const user = $('login-user').value;
    const password = $('login-password').value;
    login_error('');
    if (!password) {
      /* nothing to check: the server would only say "wrong name or password" */
      login_error('Type the password first (a demo user\'s password is its name).');
      $('login-password').focus();
      return;
    }
    const t = toast('progress', 'Logging in as ' + user + '…');
    await busy($('login-btn'), 'Logging in…', async () => {
      try {
        const r = await request('POST', '/_playground/auth/login', { body: { user, password } });
        $('login-password').value = '';
        t.done('ok', 'Logged in as ' + r.data.user + ' (' + r.data.role + '): actions beyond that role are refused.');
        auth_announce();
        sse_renew();
      } catch (e) {
        t.done('error', e.status === 401 ? 'Wrong user name or password.'
          : e.status === 429 ? 'Too many login attempts from this address: wait a second and try again.'
            : 'Login failed: ' + words(e));
      }
      sec_refresh();
    });
  }

  async function logout() {
    const t = toast('progress', 'Logging out…');
    await busy($('logout-btn'), 'Logging out…', async () => {
      try {
        await request('POST', '/_playground/auth/logout');
        t.done('ok', 'Logged out: you act as an anonymous client again.');
        auth_announce();
      } catch (e) {
        t.done('error', 'Logout failed: ' + words(e));
      }
      await sec_refresh();
    });
  }

  async function rl_test() {
    const N = 25;
    await busy($('rl-test'), 'Testing…', async () => {
      const codes = await Promise.all(Array.from({ length: N }, () =>
        fetch('/_playground/security/test-rate-limit', { method: 'POST', cache: 'no-store' }).then((r) => r.status).catch(() => 0)));
      const ok = codes.filter((c) => c === 200).length;
      const no = codes.filter((c) => c === 429).length;
      $('rl-result').replaceChildren(el('span', { class: 'rl-ok', text: ok + ' accepted' }), ', ', el('span', { class: no ? 'rl-bad' : '', text: no + ' refused (429)' }));
      $('rl-result').dataset.refused = String(no);
      sec_refresh();
    });
  }

  /* ---------------------------------------------------------------- addresses (firewall)
   * Read as the gateway reads them (gw_cidr_parse: inet_pton, then the prefix): an address
   * is 16 bytes, an IPv4 one in the first 4; a bare address is /32 or /128; ::ffff:a.b.c.d
   * (prefix 96 or more) is the IPv4 address. */
  function ipv4_bytes(s) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (!m) return null;
    const parts = m.slice(1);
    if (parts.some((x) => (x.length > 1 && x[0] === '0') || Number(x) > 255)) return null;
    return parts.map(Number);
  }

  function ipv6_bytes(s) {
    if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
    const halves = s.split('::');
    if (halves.length > 2 || (halves.length === 2 && halves[0].includes('.'))) return null;
    /* a dotted IPv4 tail is allowed as the last group only */
    const groups = (part) => {
      if (part === '') return [];
      const out = [];
      const gs = part.split(':');
      for (let i = 0; i < gs.length; i++) {
        const v4 = i === gs.length - 1 && gs[i].includes('.') ? ipv4_bytes(gs[i]) : null;
        if (v4) out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        else if (/^[0-9a-fA-F]{1,4}$/.test(gs[i])) out.push(parseInt(gs[i], 16));
        else return null;
      }
      return out;
    };
    const head = groups(halves[0]);
    const tail = halves.length === 2 ? groups(halves[1]) : [];
    if (!head || !tail) return null;
    const n = head.length + tail.length;
    if (halves.length === 2 ? n > 7 : n !== 8) return null;
    const all = head.concat(new Array(8 - n).fill(0), tail);
    const b = [];
    for (const g of all) b.push(g >> 8, g & 255);
    return b;
  }

  /* cidr_parse: "net[/prefix]" → {fam: 4|6, b: 16 bytes, prefix}, or null when the gateway
   * would refuse it (no sign or leading zero in the prefix, none past 32 or 128). */
  function cidr_parse(s) {
    const m = /^([^/]+)(?:\/(0|[1-9]\d{0,2}))?$/.exec(String(s || ''));
    if (!m) return null;
    const p = m[2] == null ? null : Number(m[2]);
    const v4 = ipv4_bytes(m[1]);
    if (v4) return p != null && p > 32 ? null : { fam: 4, b: v4.concat(new Array(12).fill(0)), prefix: p == null ? 32 : p };
    const v6 = ipv6_bytes(m[1]);
    if (!v6 || (p != null && p > 128)) return null;
    const prefix = p == null ? 128 : p;
    const mapped = v6.slice(0, 10).every((x) => x === 0) && v6[10] === 255 && v6[11] === 255;
    if (prefix >= 96 && mapped) return { fam: 4, b: v6.slice(12).concat(new Array(12).fill(0)), prefix: prefix - 96 };
    return { fam: 6, b: v6, prefix };
  }

  function ip_parse(s) {
    return s && !String(s).includes('/') ? cidr_parse(s) : null;
  }

  /* an IPv4 address is inside an IPv6 network that holds its ::ffff:a.b.c.d form */
  function cidr_match(net, ip) {
    if (net && net.fam === 6 && ip.fam === 4) ip = { fam: 6, b: new Array(10).fill(0).concat([255, 255], ip.b.slice(0, 4)), prefix: 128 };
    if (!net || net.fam !== ip.fam) return false;
    const full = net.prefix >> 3;
    const rest = net.prefix & 7;
    for (let i = 0; i < full; i++) if (net.b[i] !== ip.b[i]) return false;
    if (!rest) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (net.b[full] & mask) === (ip.b[full] & mask);
  }

  /* fw_decide: the rule that decides for `ip`, as the gateway's fw_decide: the most specific
   * match (an IPv4 /n as an IPv6 /(96+n)), deny winning a tie; null when none matches
   * (allowed). */
  function fw_decide(rules, ip) {
    let best = null;
    let bestSpan = -1;
    for (const r of rules) {
      const net = cidr_parse(r.cidr);
      if (!cidr_match(net, ip)) continue;
      const span = net.fam === 4 ? net.prefix + 96 : net.prefix;
      if (!best || span > bestSpan || (span === bestSpan && r.action === 'deny')) { best = r; bestSpan = span; }
    }
    return best;
  }

  /* fw_field_error: an invalid address is said next to the field, not only in a toast. */
  function fw_field_error(text) {
    $('fw-cidr-error').textContent = text;
    if (text) $('fw-cidr').setAttribute('aria-invalid', 'true');
    else $('fw-cidr').removeAttribute('aria-invalid');
    $('fw-cidr').classList.toggle('is-invalid', !!text);
  }

  /* The firewall form. `busy`: an add is in flight (a double click sends one rule, not two);
   * `noteBad`: the note is over the model's limit (firewall_rules in node/store/models.c). */
  const FW_NOTE_MAX = 256;
  const fw = { busy: false, noteBad: false };

  /* fw_note_check: the note's size as typed, in UTF-8 bytes as the server counts them; the
   * message goes next to the field (as the item form's) and Add waits while it is too long. */
  function fw_note_check() {
    const n = utf8_bytes($('fw-note').value.trim());
    const bad = n > FW_NOTE_MAX;
    const text = bad ? 'The note must be at most ' + FW_NOTE_MAX + ' bytes (this is ' + n + ').' : '';
    const box = $('fw-note-error');
    if (box.textContent !== text) box.textContent = text;
    if (bad) $('fw-note').setAttribute('aria-invalid', 'true'); else $('fw-note').removeAttribute('aria-invalid');
    $('fw-note').classList.toggle('is-invalid', bad);
    if (fw.noteBad !== bad) { fw.noteBad = bad; gateway_gates(gateway_lost()); }
    return bad;
  }

  /* fw_same_rule: a listed rule with the same network (as the gateway reads it: 10.9.1.0/16
   * is 10.9.0.0/16) and the same action, or null. A second one would change nothing. */
  function fw_same_rule(net, action) {
    const key = (n) => n.fam + '/' + n.prefix + '/' + n.b.map((x, i) => {
      const bits = Math.max(0, Math.min(8, n.prefix - 8 * i));
      return x & ((0xff << (8 - bits)) & 0xff);
    }).join('.');
    const want = key(net);
    return state.fwRules.find((r) => { const n = cidr_parse(r.cidr); return n && r.action === action && key(n) === want; }) || null;
  }

  async function fw_add(ev) {
    ev.preventDefault();
    if (fw.busy || $('fw-add').getAttribute('aria-disabled') === 'true') return;
    fw_field_error('');
    const body = { cidr: $('fw-cidr').value.trim(), action: $('fw-action').value };
    const note = $('fw-note').value.trim();
    if (note) body.note = note;
    const net = cidr_parse(body.cidr);
    if (!net) {
      fw_field_error('Not an address or network: write a.b.c.d, a.b.c.d/nn, or an IPv6 address with an optional /nn.');
      $('fw-cidr').focus();
      return;
    }
    if (fw_note_check()) { $('fw-note').focus(); return; }
    const same = fw_same_rule(net, body.action);
    if (same) {
      fw_field_error('This rule exists already (' + same.action + ' ' + same.cidr + (same.note ? ', “' + same.note + '”' : '') + '): a second one would change nothing.');
      $('fw-cidr').focus();
      return;
    }
    fw.busy = true;
    try {
      await busy($('fw-add'), 'Adding…', async () => {
        if (!(await fw_self_check(body))) { toast('info', 'Rule not added.'); return; }
        try {
          const r = await request('POST', '/_playground/security/firewall', { body });
          /* the rule as stored: a network typed with host bits set (10.0.0.1/8) is kept as its
           * network (10.0.0.0/8), and the toast said the first while the list showed the second */
          const rule = (r && r.data) || {};
          const cidr = rule.cidr || body.cidr;
          toast('ok', 'Firewall rule added: ' + (rule.action || body.action) + ' ' + cidr + ' (' + (cidr !== body.cidr ? 'the network ' + body.cidr + ' names; ' : '') + 'in force on the next request).');
          $('fw-cidr').value = '';
          $('fw-note').value = '';
        } catch (e) {
          const d = (e.details || []).find((x) => x.field === 'cidr');
          if (d) fw_field_error(cap(d.description) + '.');
          const dn = (e.details || []).find((x) => x.field === 'note');
          if (dn) $('fw-note-error').textContent = 'The note ' + dn.description + '.';
          toast('error', 'Rule not added: ' + words(e));
        }
        await sec_refresh(); /* the list holds the new rule before Add is offered again */
      });
    } finally {
      fw.busy = false;
    }
  }

  /* fw_self_check: a rule that would block the visitor's own address (as the gateway sees it,
   * /auth/me `address`) is added only once they confirm: the rules as they are plus this one
   * decide, as the gateway does (most specific prefix, deny wins a tie). */
  async function fw_self_check(rule) {
    const me = ip_parse(state.me.address);
    if (!me || rule.action !== 'deny') return true;
    const before = fw_decide(state.fwRules, me);
    const after = fw_decide(state.fwRules.concat([rule]), me);
    if (!after || after.action !== 'deny' || (before && before.action === 'deny')) return true;
    const loop = me.fam === 4 ? me.b[0] === 127 : me.b.every((x, i) => x === (i === 15 ? 1 : 0));
    return confirm_dialog('Block your own address?',
      'This rule blocks your own address ' + state.me.address + ': the page will lose the cluster until you remove it here' +
      (loop ? ' (a client on the gateway\'s own machine still reaches this panel).' : '. You are not on the gateway\'s machine: this page will be blocked too, and only a client there can remove the rule.'),
      'Block my address');
  }

  async function fw_delete(r) {
    try {
      await request('DELETE', '/_playground/security/firewall/' + encodeURIComponent(r.id));
      toast('ok', 'Firewall rule removed: ' + r.action + ' ' + r.cidr + '.');
    } catch (e) {
      toast('error', 'Rule not removed: ' + words(e));
    }
    sec_refresh();
  }

  async function fw_test(ev) {
    ev.preventDefault();
    const ip = $('fw-test-ip').value.trim();
    const out = $('fw-test-result');
    try {
      const d = (await request('POST', '/_playground/security/test-firewall', { body: { ip } })).data;
      out.className = 'small ' + (d.action === 'deny' ? 'rl-bad' : 'rl-ok');
      out.textContent = d.ip + ': ' + d.action + (d.rule ? ' (rule ' + d.rule.action + ' ' + d.rule.cidr + ')' : ' (no rule matches)');
      out.dataset.action = d.action;
    } catch (e) {
      out.className = 'small rl-bad';
      out.textContent = words(e);
      out.dataset.action = '';
    }
  }

  function wire() {
    /* a control marked aria-disabled (set_off) stays focusable to say why, but does nothing:
     * its click (also the one Enter or a form's implicit submission makes) stops here */
    document.addEventListener('click', (e) => {
      const b = e.target && e.target.closest ? e.target.closest('[aria-disabled="true"]') : null;
      if (b) { e.preventDefault(); e.stopImmediatePropagation(); }
    }, true);
    /* a select marked so opens on a press and changes with the arrow keys: neither happens
     * (Tab and Shift+Tab still move on) */
    const offSelect = (t) => t && t.tagName === 'SELECT' && t.getAttribute('aria-disabled') === 'true';
    document.addEventListener('mousedown', (e) => { if (offSelect(e.target)) { e.preventDefault(); e.target.focus(); } }, true);
    document.addEventListener('keydown', (e) => { if (offSelect(e.target) && e.key !== 'Tab') e.preventDefault(); }, true);
    $('login-form').addEventListener('submit', login);
    $('logout-btn').addEventListener('click', logout);
    $('login-password').addEventListener('input', () => { if ($('login-password-error').textContent) login_error(''); });
    $('rl-test').addEventListener('click', rl_test);
    $('fw-form').addEventListener('submit', fw_add);
    $('fw-note').addEventListener('input', fw_note_check);
    $('fw-cidr').addEventListener('input', () => { if ($('fw-cidr-error').textContent) fw_field_error(''); });
    $('fw-test-form').addEventListener('submit', fw_test);
    $('force-election').addEventListener('click', force_election);
    $('snapshot-btn').addEventListener('click', snapshot_now);
    $('bench-form').addEventListener('submit', bench_start);
    $('bench-form').addEventListener('input', bench_input);
    $('bench-stop').addEventListener('click', bench_stop);
    $('bench-cleanup').addEventListener('click', bench_cleanup);
    $('item-new').addEventListener('click', () => form_open(null, { el: $('item-new') }));
    $('item-cancel').addEventListener('click', form_discard);
    $('item-form').addEventListener('submit', item_save);
    $('item-form').addEventListener('input', form_input);
    $('items-refresh').addEventListener('click', async (e) => {
      await busy(e.currentTarget, 'Refreshing…', load_items);
    });
    $('filter-field').addEventListener('change', () => {
      const f = $('filter-field').value;
      $('filter-status').hidden = f !== 'status';
      $('filter-value').hidden = f !== 'name';
      if (f === 'name') $('filter-value').focus();
      if (f !== 'name') { state.cursors = [null]; load_items(); }
    });
    $('filter-status').addEventListener('change', () => { state.cursors = [null]; load_items(); });
    $('filter-form').addEventListener('submit', (e) => { e.preventDefault(); state.cursors = [null]; load_items(); });
    $('page-size').addEventListener('change', () => { state.cursors = [null]; load_items(); });
    $('page-next').addEventListener('click', () => { if (state.nextCursor) { state.cursors.push(state.nextCursor); load_items(); } });
    $('page-prev').addEventListener('click', () => { if (state.cursors.length > 1) { state.cursors.pop(); load_items(); } });
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || $('item-form').hidden || $('confirm-dialog').open) return;
      e.preventDefault();
      if (!form_dirty()) { form_close(); return; }
      /* a half-filled form is not thrown away by a stray key. The question opens after
       * this key press is over: a dialog opened during it would take the same Escape. */
      setTimeout(form_discard, 0);
    });
  }

  function start() {
    wire();
    auth_listen();
    charts_init();
    sse_start();
    refresh_status();
    sec_refresh();
    refresh_bench();
    load_items();
    refresh_storage(true);
    setInterval(() => refresh_storage(false), STORAGE_EVERY_MS);
    /* back on the tab: the figures it skipped, at once */
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh_storage(false); });
    /* local clocks only: chart sampling, up-time, stale-node and stream watchdogs */
    setInterval(repl_tick, 500);
    setInterval(() => { render_cluster(); sse_watch(); }, 1000);
    window.__lp = state; /* for the browser tests and the curious */
    window.__lpCharts = { ops: chartOps, latency: chartLat, lag: chartLag, bench: benchChart, histogram: histo };
    window.__lpFmt = { date: fmt_date };
    window.__lpHealth = node_health;
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
