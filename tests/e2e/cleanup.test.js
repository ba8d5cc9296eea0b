#!/usr/bin/env node
/*
 * cleanup.test.js: a page test stopped by a signal leaves nothing behind. It runs
 * playground.test.js and faults.test.js (each against its own playground, from the build
 * dir given as argv[2]) and interrupts them: SIGTERM while the gateway starts, SIGTERM and
 * SIGINT once the setup check passed (gateway, nodes and Chromium running), and SIGKILL (what
 * a ctest timeout sends). Each time, every process the test had started (its descendants
 * when the signal went: gateway, nodes, Chromium; by pid and start time) must be gone within
 * 5 s of the test's exit; after SIGTERM and SIGINT its data directory is removed too, its exit
 * status non-zero and its last line "N passed, F failed".
 *
 *   node tests/e2e/cleanup.test.js BUILD_DIR
 *
 * Every wait is bounded (the run takes about a minute; its budget: 3 minutes). Last line: "N passed, F failed";
 * exit 1 on failure.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { build_dir, sleep, assert, make_run, wait_for } = require('./lib');

const BUILD = build_dir(process.argv[2]);
const run = make_run('cleanup', 180000);
const { log, check } = run;
let child = null; /* the page test running now: SIGKILLed if this test ends first */

/* proc_stat: [ppid, starttime] of pid, or null if there is no such process. */
function proc_stat(pid) {
  try {
    const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); /* from field 3 (state) on */
    return [Number(f[1]), f[19]];
  } catch (e) { return null; }
}

function comm(pid) {
  try { return fs.readFileSync('/proc/' + pid + '/comm', 'utf8').trim(); } catch (e) { return '?'; }
}

/* descendants: every process below root now, as {pid, start, name}. */
function descendants(root) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = proc_stat(Number(d));
    if (st) parent.set(Number(d), st);
  }
  const out = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop();
    for (const [pid, [ppid, start]] of parent) {
      if (ppid === p) { out.push({ pid, start, name: comm(pid) }); todo.push(pid); }
    }
  }
  return out;
}

function alive(procs) {
  return procs.filter((p) => { const st = proc_stat(p.pid); return st && st[1] === p.start; });
}

/* interrupt: runs `node FILE BUILD`, waits for a stdout line matching when (60 s at most),
 * sends sig, and checks that nothing the test started outlives it. */
async function interrupt(file, when, sig) {
  const out = [];
  child = spawn(process.execPath, [path.join(__dirname, file), BUILD], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c = child;
  let text = '';
  c.stdout.on('data', (b) => { text += b.toString(); });
  c.stderr.on('data', (b) => { text += b.toString(); });
  await wait_for(file + ' to print ' + when, 60000, async () => {
    if (c.exitCode != null) throw new Error(file + ' exited early: ' + text.slice(-2000));
    return when.test(text);
  }, 50);
  const dataDir = (/--data-dir (\S+)/.exec(text) || [])[1];
  assert(dataDir, 'no data dir in the output');
  /* the gateway, its nodes (once /healthz answered) and, after setup, Chromium */
  const procs = descendants(c.pid);
  const names = [...new Set(procs.map((p) => p.name))].sort();
  assert(names.includes('lithair-gateway'), 'no gateway running under the test: ' + names.join(', '));
  const t0 = Date.now();
  c.kill(sig);
  const exited = await wait_for(file + ' to exit after ' + sig, 60000, async () => c.exitCode != null || c.signalCode != null, 50).catch(() => false);
  if (!exited) { c.kill('SIGKILL'); throw new Error(file + ' still running 60 s after ' + sig + ': ' + text.slice(-1500)); }
  const took = Date.now() - t0;
  /* the nodes die with the gateway (PR_SET_PDEATHSIG), Chromium's children with it: 5 s */
  const left = await wait_for('every process of the test gone', 5000, async () => alive(procs).length === 0, 100)
    .then(() => [], () => alive(procs));
  for (const p of left) { try { process.kill(p.pid, 'SIGKILL'); } catch (e) { /* gone */ } }
  assert(left.length === 0, 'left running after the test exited: ' + left.map((p) => p.name + ' ' + p.pid).join(', ') +
    '\n      its output ended: ' + text.slice(-1200).split('\n').join('\n        '));
  out.push(procs.length + ' processes (' + names.join(', ') + ') gone');
  child = null;
  if (sig === 'SIGKILL') { /* nothing ran in the test to remove its directories: done here */
    const profile = (/chromium with the profile (\S+)/.exec(text) || [])[1];
    for (const d of [dataDir, profile]) if (d) fs.rmSync(d, { recursive: true, force: true });
    return out.join('; ');
  }
  assert(!fs.existsSync(dataDir), 'the data dir is still there: ' + dataDir);
  assert(c.exitCode !== 0, 'exit status 0 after ' + sig);
  const last = text.trim().split('\n').pop();
  assert(/^\d+ passed, \d+ failed$/.test(last), 'the last line: "' + last + '"');
  out.push('exit ' + c.exitCode + ' after ' + took + ' ms, "' + last + '"');
  return out.join('; ');
}

async function main() {
  await check('faults.test.js, SIGTERM while the gateway starts: the gateway and its nodes are gone, the data dir removed', async () =>
    interrupt('faults.test.js', /starting .*lithair-gateway/, 'SIGTERM'));
  await check('faults.test.js, SIGTERM once the page is live: gateway, nodes and Chromium gone', async () =>
    interrupt('faults.test.js', /PASS {2}setup/, 'SIGTERM'));
  await check('playground.test.js, SIGINT once set up: gateway, nodes and Chromium gone', async () =>
    interrupt('playground.test.js', /PASS {2}setup/, 'SIGINT'));
  await check('faults.test.js, SIGKILL once the page is live (a ctest timeout): gateway, nodes and Chromium die with it', async () =>
    interrupt('faults.test.js', /PASS {2}setup/, 'SIGKILL'));
}

const guard = setTimeout(() => {
  console.log('FAIL  the whole run exceeded 240000 ms');
  if (child) child.kill('SIGKILL');
  console.log(run.passed + ' passed, ' + (run.failed + 1) + ' failed');
  process.exit(1);
}, 240000);

main()
  .catch((e) => { run.failed++; console.log('FAIL  unexpected: ' + (e.stack || e.message)); })
  .finally(async () => {
    clearTimeout(guard);
    if (child && child.exitCode == null) { child.kill('SIGKILL'); await sleep(500); }
    log('done');
    console.log(run.passed + ' passed, ' + run.failed + ' failed');
    process.exit(run.failed ? 1 : 0);
  });
