/*
 * lib.js: what the page tests (playground.test.js, faults.test.js) share: a run's checks
 * with their time budget and counts, bounded waits, free ports, small HTTP helpers, and the
 * playground each test runs against:
 *
 *   const pg = make_playground({ build, name: 'faults', log: run.log });
 *   await pg.start();                  // lithair-gateway --spawn 3 on free ports: pg.url
 *   const browser = await pg.launch_browser(load_chromium());
 *   ...                                // pg.gateway, pg.nodePids, pg.freeze(pid), pg.restart()
 *   run_main(run, pg, main);           // main() under the budget's guard; pg.stop() on every way out
 *
 * run_main owns the way out: the end of main(), an exception, the whole-run guard, SIGINT,
 * SIGTERM and SIGHUP all go through pg.stop() (the browser closed, the gateway stopped, the
 * nodes it reported killed, the temporary directories removed), then the gateway's output and
 * the nodes' last log lines when anything failed, then "N passed, F failed".
 */
'use strict';
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawn } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..'); /* the source tree */
const SHOTS = path.join(__dirname, 'screenshots-run'); /* the screenshots of a run (gitignored) */
const CHROMIUM = process.env.LITHAIR_CHROMIUM || '/usr/bin/chromium';

/* build_dir: the build directory a test was given (its argv[2]), or build/ in the tree. */
function build_dir(arg) { return path.resolve(arg || path.join(ROOT, 'build')); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, msg) { if (!cond) throw new Error(msg); }

/* make_run: one test file's run. log() prefixes the seconds since the start; check(name,
 * fn) runs one check (refused once the budget is spent or the run interrupted), counts it, prints PASS/FAIL and,
 * on a failure, awaits run.on_fail(failed) (set once the page exists: a screenshot, what
 * the page said). */
function make_run(tag, budgetMs) {
  const run = { started: Date.now(), budgetMs, passed: 0, failed: 0, results: [], on_fail: null, interrupted: '' };
  run.log = (...a) => console.log('[' + tag + ' +' + ((Date.now() - run.started) / 1000).toFixed(1) + 's]', ...a);
  run.check = async (name, fn) => {
    const t0 = Date.now();
    if (run.interrupted) { /* set by run_main on a signal: the playground is going away */
      run.failed++;
      run.results.push(['FAIL', name, 'not run: ' + run.interrupted]);
      console.log('FAIL  ' + name + ': not run: ' + run.interrupted);
      return false;
    }
    if (Date.now() - run.started > budgetMs) {
      run.failed++;
      run.results.push(['FAIL', name, 'time budget exhausted']);
      console.log('FAIL  ' + name + ': time budget exhausted');
      return false;
    }
    try {
      const note = await fn();
      run.passed++;
      run.results.push(['PASS', name, note || '']);
      console.log('PASS  ' + name + ' (' + (Date.now() - t0) + ' ms)' + (note ? ' — ' + note : ''));
      return true;
    } catch (e) {
      run.failed++;
      run.results.push(['FAIL', name, e.message]);
      console.log('FAIL  ' + name + ' (' + (Date.now() - t0) + ' ms): ' + (e.stack || e.message).split('\n').slice(0, 4).join('\n      '));
      if (run.on_fail) await run.on_fail(run.failed).catch((x) => console.log('      (no diagnosis: ' + x.message + ')'));
      return false;
    }
  };
  return run;
}

/* free_port: a free port on 127.0.0.1, drawn at random below the kernel's ephemeral range
 * (a port from inside it, what listen(0) gives, can be taken by any outgoing connection's
 * source port before the gateway binds it); listen(0) only if nothing there is free. */
function try_listen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.on('error', () => resolve(-1));
    s.listen(port, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function free_port() {
  let hi = 32768;
  try { hi = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0], 10) || hi; } catch (e) { /* default */ }
  const lo = 10000;
  for (let i = 0; i < 200 && hi > lo; i++) {
    const p = await try_listen(lo + Math.floor(Math.random() * (hi - lo)));
    if (p > 0) return p;
  }
  const p = await try_listen(0);
  if (p <= 0) throw new Error('no free port');
  return p;
}

/* get_json: GET url; {status, data} (data null if not JSON; status 0 if no answer). */
function get_json(url, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs || 2000 }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => { let d = null; try { d = JSON.parse(b); } catch (e) { /* not JSON */ } resolve({ status: res.statusCode, data: d }); });
    });
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, data: null }); });
    req.on('error', () => resolve({ status: 0, data: null }));
  });
}

/* http_req: any method, body an object sent as JSON (or none); {status, text} as received,
 * no JSON.parse in between (status 0 and text '' if no answer within 5 s). */
function http_req(method, url, body) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const data = body == null ? null : JSON.stringify(body);
    const headers = data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {};
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, timeout: 5000, headers }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode, text: b }));
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, text: '' }); });
    req.end(data || undefined);
  });
}

/* post_json: POST obj as JSON; {status, data} (data null if the answer is not JSON). */
async function post_json(url, obj) {
  const r = await http_req('POST', url, obj);
  let d = null;
  try { d = JSON.parse(r.text); } catch (e) { /* not JSON */ }
  return { status: r.status, data: d };
}

/* wait_for: polls an async predicate every `every` ms until it is truthy or `ms` pass. */
async function wait_for(what, ms, fn, every) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = undefined; }
    if (last) return last;
    if (Date.now() >= end) throw new Error('timed out after ' + ms + ' ms waiting for ' + what);
    await sleep(every || 100);
  }
}


/* load_chromium: playwright-core's chromium, with Debian's browser at CHROMIUM; throws what
 * to install when either is missing. */
function load_chromium() {
  let chromium;
  try {
    ({ chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core')));
  } catch (e) {
    throw new Error('playwright-core is not installed in tests/e2e (run tools/playground.sh setup)');
  }
  assert(fs.existsSync(CHROMIUM), 'no chromium at ' + CHROMIUM + ' (apt-get install -y chromium)');
  return chromium;
}

/* spawn_tied: spawn(), the child made to die with this process even when it is SIGKILLed (a
 * ctest timeout, the OOM killer), where nothing here runs: util-linux's setpriv sets its
 * parent-death signal (PR_SET_PDEATHSIG) and execs it (same pid). Without setpriv, a plain
 * spawn(). */
const SETPRIV = '/usr/bin/setpriv';
function spawn_tied(cmd, args, spawnOpts) {
  if (!fs.existsSync(SETPRIV)) return spawn(cmd, args, spawnOpts);
  return spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args], spawnOpts);
}

function has_exited(p) { return p.exitCode != null || p.signalCode != null; }

/* wait_exit: until child p has exited or ms pass; true if it has. */
async function wait_exit(p, ms, every) {
  const end = Date.now() + ms;
  while (!has_exited(p) && Date.now() < end) await sleep(every);
  return has_exited(p);
}

/* make_playground: one test's playground, not started. opts: build (the build directory),
 * name (in the temporary directories' names), log (run.log). What it holds:
 *   url        http://127.0.0.1:PORT once started ('' before; attach(url) for one already running)
 *   gateway    the gateway's ChildProcess (a new one after restart())
 *   gatewayBin the lithair-gateway it runs; dataDir, userDir its temporary directories
 *   nodePids   the node pids the gateway reported (killed by stop() if still there)
 *   browser    Chromium's persistent context once launch_browser() ran
 * Nothing it starts outlives stop(), and no process is started once stop() has begun. */
function make_playground(opts) {
  const log = opts.log || ((...a) => console.log(...a));
  const pg = {
    url: '', gateway: null, gatewayArgs: null, dataDir: null, userDir: null, browser: null,
    gatewayBin: path.join(opts.build, 'gateway', 'lithair-gateway'),
    nodeBin: path.join(opts.build, 'node', 'lithair-node'),
    nodePids: new Set(),
    frozen: new Set(), /* pids stopped with SIGSTOP: continued whatever happens */
    children: new Set(), /* what spawn() started: killed by stop() if still running */
    output: '', /* the gateway's stdout and stderr, the last 100-200 kB */
    nodeLogs: '', /* the nodes' last log lines, read by stop() before the data dir goes */
    stopping: false,
  };

  const refuse_if_stopping = () => { if (pg.stopping) throw new Error('the playground is being stopped'); };

  const spawn_gateway = () => {
    refuse_if_stopping();
    const gw = spawn_tied(pg.gatewayBin, pg.gatewayArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c) => { pg.output += c.toString(); if (pg.output.length > 200000) pg.output = pg.output.slice(-100000); };
    gw.stdout.on('data', keep);
    gw.stderr.on('data', keep);
    gw.on('exit', (code, sig) => log('gateway exited', code, sig));
    pg.gateway = gw;
  };

  const wait_healthy = async () => {
    const gw = pg.gateway;
    await wait_for('the gateway /healthz to report a leader', 30000, async () => {
      if (has_exited(gw)) throw new Error('gateway exited early (' + (gw.exitCode != null ? 'status ' + gw.exitCode : gw.signalCode) + ')');
      const r = await get_json(pg.url + '/healthz', 1500);
      return r.status === 200;
    }, 200);
    const st = await get_json(pg.url + '/_playground/cluster/status', 3000);
    for (const n of (st.data && st.data.nodes) || []) if (n.pid) pg.nodePids.add(n.pid);
    log('gateway pid ' + gw.pid + ', nodes ' + [...pg.nodePids].join(' '));
  };

  /* start: lithair-gateway --spawn 3 on a free port (nodes on free ports) with a new data
   * dir; resolves to pg.url once /healthz answers 200 (30 s at most). */
  pg.start = async () => {
    assert(fs.existsSync(pg.gatewayBin), 'no gateway binary at ' + pg.gatewayBin + ' (build the lithair-gateway target)');
    assert(fs.existsSync(pg.nodeBin), 'no node binary at ' + pg.nodeBin + ' (build the lithair-node target)');
    const port = await free_port();
    refuse_if_stopping();
    pg.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lithair-e2e-' + opts.name + '-data-'));
    pg.gatewayArgs = ['--listen', String(port), '--spawn', '3', '--data-dir', pg.dataDir, '--node-bin', pg.nodeBin,
      '--frontend', path.join(ROOT, 'frontend'), '--node-base-port', '0'];
    log('starting', pg.gatewayBin, pg.gatewayArgs.join(' '));
    pg.url = 'http://127.0.0.1:' + port;
    spawn_gateway();
    await wait_healthy();
    return pg.url;
  };

  /* attach: a playground already running at url (nothing started, nothing stopped here). */
  pg.attach = (url) => { pg.url = url; return url; };

  /* restart: the same gateway, port and data directory again, after stop_gateway(). */
  pg.restart = async () => {
    spawn_gateway();
    await wait_healthy();
  };

  /* stop_gateway: SIGTERM (the gateway stops its nodes), SIGKILL after 8 s. */
  pg.stop_gateway = async () => {
    const gw = pg.gateway;
    if (!gw || has_exited(gw)) return;
    if (pg.frozen.has(gw.pid)) pg.thaw(gw.pid);
    gw.kill('SIGTERM');
    if (!await wait_exit(gw, 8000, 100)) gw.kill('SIGKILL');
    await wait_exit(gw, 3000, 50);
  };

  /* freeze: SIGSTOP pid (the gateway's or a node's); thaw(pid) continues it, thaw() all. */
  pg.freeze = (pid) => {
    refuse_if_stopping();
    process.kill(pid, 'SIGSTOP');
    pg.frozen.add(pid);
  };
  pg.thaw = (pid) => {
    for (const p of pid == null ? [...pg.frozen] : [pid]) {
      try { process.kill(p, 'SIGCONT'); } catch (e) { /* gone */ }
      pg.frozen.delete(p);
    }
  };

  /* spawn: another process for the test (a second gateway, lithair-admin), killed by stop()
   * if still running then. */
  pg.spawn = (cmd, args, spawnOpts) => {
    refuse_if_stopping();
    const p = spawn_tied(cmd, args, spawnOpts);
    pg.children.add(p);
    p.on('exit', () => pg.children.delete(p));
    return p;
  };

  /* launch_browser: headless Chromium (from load_chromium()) with a new empty profile, 1280x800,
   * 10 s default timeout. playwright's own SIGINT/SIGTERM/SIGHUP handlers are off: run_main
   * closes the browser with the rest (playwright's SIGINT handler would exit before the
   * gateway is stopped). */
  pg.launch_browser = async (chromium) => {
    refuse_if_stopping();
    pg.userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lithair-e2e-' + opts.name + '-chrome-'));
    const browser = await chromium.launchPersistentContext(pg.userDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      timeout: 30000,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    pg.browser = browser;
    log('chromium with the profile ' + pg.userDir);
    if (pg.stopping) { await browser.close().catch(() => {}); refuse_if_stopping(); }
    browser.setDefaultTimeout(10000);
    return browser;
  };

  /* node_log_tail: the last n lines of node id's log ([] if there is none). */
  pg.node_log_tail = (id, n) => {
    const f = pg.dataDir && path.join(pg.dataDir, 'node' + id, 'node.log');
    if (!f || !fs.existsSync(f)) return [];
    return fs.readFileSync(f, 'utf8').trim().split('\n').slice(-n);
  };

  /* logs: the gateway's last output and the nodes' last log lines, for a failed run. */
  pg.logs = () => {
    let s = '';
    if (pg.output) s += '--- last gateway output ---\n' + pg.output.slice(-4000) + '\n';
    return s + pg.nodeLogs;
  };

  /* kill_now: SIGKILL what is still running, at once (process 'exit': no time to wait). */
  pg.kill_now = () => {
    pg.stopping = true;
    pg.thaw();
    for (const p of [pg.gateway, ...pg.children]) if (p && !has_exited(p)) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } }
    for (const d of [pg.userDir, pg.dataDir]) if (d) { try { fs.rmSync(d, { recursive: true, force: true }); } catch (e) { /* best effort */ } }
  };

  /* stop: everything this playground started, each wait bounded (about 25 s at most): the
   * frozen continued, the browser closed, the other processes and the gateway stopped, the
   * nodes it reported killed, the nodes' last log lines kept, the directories removed. */
  pg.stop = async () => {
    pg.stopping = true;
    pg.thaw();
    if (pg.browser) { try { await Promise.race([pg.browser.close(), sleep(5000)]); } catch (e) { /* gone */ } }
    for (const p of [...pg.children]) {
      if (has_exited(p)) continue;
      p.kill('SIGTERM');
      if (!await wait_exit(p, 5000, 50)) p.kill('SIGKILL');
    }
    await pg.stop_gateway();
    /* the gateway stops its nodes; any node it left behind (only pids it reported) goes now */
    for (const pid of pg.nodePids) {
      try {
        const exe = fs.readlinkSync('/proc/' + pid + '/exe');
        if (exe.includes('lithair-node')) process.kill(pid, 'SIGKILL');
      } catch (e) { /* already gone */ }
    }
    if (pg.dataDir) {
      for (const id of [1, 2, 3]) {
        const lines = pg.node_log_tail(id, 12);
        if (lines.length) pg.nodeLogs += '--- node ' + id + ' log, last lines ---\n' + lines.join('\n') + '\n';
      }
    }
    for (const d of [pg.userDir, pg.dataDir]) if (d) { try { fs.rmSync(d, { recursive: true, force: true }); } catch (e) { /* best effort */ } }
  };

  return pg;
}

/* run_main: runs main() (async) for run against pg and ends the process, exit status 0 if
 * every check passed, else 1 (130, 143, 129 for SIGINT, SIGTERM, SIGHUP). However it ends —
 * main() returning or throwing, the guard at run.budgetMs + 60 s, a signal — pg.stop() runs
 * first, once; a second signal, or a process 'exit' any other way (an uncaught error), SIGKILLs
 * the gateway and the processes pg.spawn() started at once (the nodes die with the gateway:
 * PR_SET_PDEATHSIG; playwright kills Chromium on exit). */
function run_main(run, pg, main) {
  let ending = null;
  let signalled = false;
  const end = (code) => {
    if (!ending) {
      ending = (async () => {
        clearTimeout(guard);
        await pg.stop();
        if (run.failed) process.stdout.write(pg.logs());
        console.log(run.passed + ' passed, ' + run.failed + ' failed');
        process.exit(code != null ? code : run.failed ? 1 : 0);
      })();
    }
    return ending;
  };
  const guard = setTimeout(() => {
    console.log('FAIL  the whole run exceeded ' + (run.budgetMs + 60000) + ' ms');
    run.failed++;
    end(1);
  }, run.budgetMs + 60000);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.on(sig, () => {
      if (signalled) { /* a second signal: no more waiting */
        console.log(sig + ' again: killing the playground at once');
        process.exit(code);
      }
      signalled = true;
      if (ending) return; /* already stopping */
      console.log('FAIL  ' + sig + ': the run was interrupted; stopping the playground');
      run.failed++;
      run.interrupted = 'interrupted by ' + sig;
      end(code);
    });
  }
  process.on('exit', () => pg.kill_now());
  main()
    .catch((e) => { run.failed++; console.log('FAIL  unexpected: ' + (e.stack || e.message)); })
    .finally(() => end(null));
}

module.exports = {
  ROOT, SHOTS, build_dir, sleep, assert, make_run, free_port, get_json, http_req, post_json, wait_for,
  CHROMIUM, load_chromium, make_playground, run_main,
};
