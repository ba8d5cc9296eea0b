/*
 * lib.js: what the page tests (playground.test.js, faults.test.js) share: a run's checks
 * with their time budget and counts, bounded waits, free ports, small HTTP helpers. Each
 * test starts its own playground and browser; nothing here starts either.
 */
'use strict';
const fs = require('fs');
const net = require('net');
const http = require('http');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, msg) { if (!cond) throw new Error(msg); }

/* make_run: one test file's run. log() prefixes the seconds since the start; check(name,
 * fn) runs one check (refused once the budget is spent), counts it, prints PASS/FAIL and,
 * on a failure, awaits run.on_fail(failed) (set once the page exists: a screenshot, what
 * the page said). */
function make_run(tag, budgetMs) {
  const run = { started: Date.now(), passed: 0, failed: 0, results: [], on_fail: null };
  run.log = (...a) => console.log('[' + tag + ' +' + ((Date.now() - run.started) / 1000).toFixed(1) + 's]', ...a);
  run.check = async (name, fn) => {
    const t0 = Date.now();
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

module.exports = { sleep, assert, make_run, free_port, get_json, wait_for };
