#!/usr/bin/env node
/*
 * playground.test.js: the Lithair Playground page in headless Chromium against a REAL
 * playground (lithair-gateway --spawn 3, started here on free ports from the build dir given
 * as argv[2]). playwright-core drives Debian's /usr/bin/chromium (no browser download).
 *
 *   node tests/e2e/playground.test.js BUILD_DIR
 *
 * It checks what a person would do: the page loads clean (API default concurrency, readable
 * labels, an empty chart's axis at now), three cards and one leader, kill the leader and see a
 * new one within 3 s (labelled Killed, its Storage row not answering), restart it and see it
 * rejoin, a quorum warning, quorum lost (banner and errors say so, the items reload when a
 * leader is back), create an item and see its replicated badge fill to 3/3, the Storage table
 * (polled while visible only; a Snapshot's index shown at once), a refused update shown
 * refused in the feed, live validation next to each field (UTF-8 byte limits, Save waits; the
 * server's 422 still shown), a 3 s benchmark whose chart moves and whose result appears with
 * its MB/s by direction (kept when a start is refused; Stop announced once; a mixed run's read
 * and write MB/s; Clean up asks first), roles
 * (controls disabled with the role they need, the logged-in state), firewall self-block
 * warning and field errors, a rate-limited items list that retries, a phone-sized layout; and
 * from a QA run: metadata sent as typed, a long name said not cut, Cancel asks and focus goes
 * back, an emptied last page steps back, a running benchmark's settings after a reload and in
 * its result, its error breakdown whole, exact axis labels, the session followed across tabs
 * (and re-read after a 403), one rule per double click, flapping circuit lines coalesced, every
 * control that is off says why and is reached by keyboard, nothing offered while the gateway
 * is away.
 * Screenshots of each state
 * go to tests/e2e/screenshots-run/ (LITHAIR_E2E_UPDATE_DOCS=1 also copies them into
 * docs/screenshots/). Every wait is bounded. Last line: "N passed, F failed"; exit 1 on failure.
 * Not for the API's edge cases: tests/integration covers those. The playground, the browser
 * and the way out (stopped on every exit path, signals included) come from lib.js:
 * make_playground, run_main.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');

const { ROOT, SHOTS, build_dir, sleep, assert, make_run, free_port, get_json, http_req, post_json, wait_for, load_chromium, make_playground, run_main } = require('./lib');

const BUILD = build_dir(process.argv[2]);
const DOCS_SHOTS = path.join(ROOT, 'docs', 'screenshots');
const EXTERNAL_URL = process.env.LITHAIR_E2E_URL || ''; /* develop against a running playground */
const TOTAL_BUDGET_MS = 420000;
const run = make_run('e2e', TOTAL_BUDGET_MS);
const { log, check } = run;
const pg = make_playground({ build: BUILD, name: 'playground', log });

/* the benchmark's default concurrency, as docs/API.md states it ("`concurrency` 16 (1–1024)") */
function api_default_concurrency() {
  const m = /`concurrency` (\d+) \(1–1024\)/.exec(fs.readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8'));
  return m ? m[1] : null;
}

/* post_status: POST obj as JSON; the answer's status (0 if none). */
async function post_status(url, obj) {
  return (await post_json(url, obj)).status;
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  /* its own screenshots of a last run (faults.test.js's, faults-*.png, are that test's) */
  for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png') && !f.startsWith('faults-')) fs.rmSync(path.join(SHOTS, f));
  const shots = [];
  let page;
  const consoleErrors = [];
  const pageErrors = [];
  let loadErrors = [];

  const shot = async (name) => {
    const f = path.join(SHOTS, name + '.png');
    try {
      await page.screenshot({ path: f, fullPage: false, timeout: 10000 });
      shots.push(f);
    } catch (e) { log('screenshot ' + name + ' failed: ' + e.message); }
  };

  /* a failed check: a screenshot (fail-N.png) and what the page said, in the log */
  run.on_fail = async (n) => {
    if (!page) return;
    await shot('fail-' + n);
    const said = await page.evaluate(() => {
      const t = (sel) => { const e = document.querySelector(sel); return e ? e.innerText.trim().replace(/\s+/g, ' ').slice(0, 300) : '-'; };
      return 'connection "' + t('#conn') + '"; header "' + t('#header-leader') + '"; items "' + t('#items-total') + '", status "' + t('#items-status') +
        '", rows ' + document.querySelectorAll('[data-testid="item-row"]').length + '; toasts "' + t('#toasts') + '"' +
        '; item form ' + (document.querySelector('#item-form').hidden ? 'closed' : 'open: "' + t('#item-form') + '"') +
        (window.__lp ? '; state ' + JSON.stringify({ pendingNew: window.__lp.pendingNew && window.__lp.pendingNew.name,
          cursors: window.__lp.cursors.length, filter: window.__lp.itemsFilter, itemsError: window.__lp.itemsError,
          items: window.__lp.items.length, total: window.__lp.itemsTotal }) : '');
    });
    console.log('      the page: ' + said);
    /* and what the nodes said last (supervised here: their logs are in the data dir) */
    for (const id of [1, 2, 3]) {
      const lines = pg.node_log_tail(id, 6);
      if (!lines.length) continue;
      console.log('      node ' + id + ' log, last lines:\n        ' + lines.join('\n        '));
    }
  };

  let base = '';
  let browser = null;
  const okSetup = await check('setup: vendor files, gateway with 3 nodes, chromium', async () => {
    const vend = path.join(ROOT, 'frontend', 'vendor', 'uPlot.iife.min.js');
    if (!fs.existsSync(vend)) {
      const src = path.join(ROOT, 'frontend', 'node_modules', 'uplot', 'dist');
      assert(fs.existsSync(path.join(src, 'uPlot.iife.min.js')), 'uPlot is missing: run tools/playground.sh setup');
      fs.mkdirSync(path.dirname(vend), { recursive: true });
      fs.copyFileSync(path.join(src, 'uPlot.iife.min.js'), vend);
      fs.copyFileSync(path.join(src, 'uPlot.min.css'), path.join(path.dirname(vend), 'uPlot.min.css'));
    }
    const chromium = load_chromium();
    base = EXTERNAL_URL ? pg.attach(EXTERNAL_URL) : await pg.start();
    browser = await pg.launch_browser(chromium);
    page = browser.pages()[0] || await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    return base;
  });
  if (!okSetup) return;

  const cards = () => page.locator('[data-testid="node-card"]');
  const leaderCards = () => page.locator('[data-testid="node-card"][data-role="leader"]');
  const leaderId = async () => {
    const n = await leaderCards().count();
    if (n !== 1) return null;
    return leaderCards().first().getAttribute('data-node-id');
  };
  const card = (id) => page.locator('[data-testid="node-card"][data-node-id="' + id + '"]');

  await check('page loads with no console errors, live stream connected', async () => {
    await page.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
    await page.waitForSelector('[data-testid="conn-indicator"][data-state="live"]', { timeout: 10000 });
    await wait_for('three node cards', 10000, async () => (await cards().count()) === 3);
    await sleep(1500); /* let the first live events and charts settle */
    loadErrors = consoleErrors.concat(pageErrors);
    assert(loadErrors.length === 0, 'console errors while loading: ' + loadErrors.join(' | '));
    assert(await page.locator('[data-testid="panel-security"]').isVisible(), 'security panel not visible');
    return '';
  });

  await check('first paint: API default concurrency, small labels at 4.5:1, an empty chart\'s axis reads now', async () => {
    const want = api_default_concurrency();
    assert(want, 'no default concurrency found in docs/API.md');
    const conc = await page.locator('[data-testid="bench-concurrency"]').inputValue();
    assert(conc === want, 'the page proposes ' + conc + ' clients, the API defaults to ' + want);
    /* contrast of the small labels against the first opaque background behind them */
    const low = await page.evaluate(() => {
      const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
      const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
      const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] === 1) return c; } return [11, 14, 20]; };
      const out = [];
      for (const sel of ['.kv dt', '.stat-label', '.legend-item', '.node-health', '.panel-sub', 'figcaption']) {
        for (const e of document.querySelectorAll(sel)) {
          const a = lum(rgb(getComputedStyle(e).color)); const b = lum(bg(e));
          const r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          if (r < 4.5) out.push(sel + ' "' + e.textContent.trim().slice(0, 12) + '" ' + r.toFixed(2) + ':1');
        }
      }
      return out;
    });
    assert(low.length === 0, 'labels under 4.5:1: ' + low.slice(0, 6).join(', '));
    /* a time chart with no point yet shows the last minute up to now, not 23:59–00:00 */
    const x = await page.evaluate(async () => {
      const d = document.createElement('div');
      d.style.cssText = 'width:300px;height:150px';
      document.body.append(d);
      const c = new window.LP.charts.TimeChart(d, ['a'], { capacity: 10, windowS: 60 });
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))); /* its first draw */
      const r = [c.plot.scales.x.min, c.plot.scales.x.max];
      c.plot.destroy();
      d.remove();
      return r;
    });
    const now = Date.now() / 1000;
    assert(x[1] > now - 120 && x[1] < now + 120 && Math.abs(x[1] - x[0] - 60) < 0.01, 'an empty chart spans ' + JSON.stringify(x) + ' (now is ' + Math.round(now) + ')');
    /* a node's NOT_LEADER that names the leader is not "no leader" */
    const words = await page.evaluate(() => [
      window.LP.api.words(503, { code: 'UNAVAILABLE', message: 'not the leader; the leader is node 2 at tcp://127.0.0.1:1' }),
      window.LP.api.words(503, { code: 'UNAVAILABLE', message: 'no leader: an election is under way' }),
      window.LP.api.words(503, { code: 'UNAVAILABLE', message: 'no node is reachable (the cluster may be down or electing a leader)' }),
    ]);
    assert(/leader changed.*node 2 leads now/.test(words[0]) && !/no leader/.test(words[0]), 'NOT_LEADER words: ' + words[0]);
    assert(/has no leader right now/.test(words[1]), 'no-leader words: ' + words[1]);
    assert(/No node answered/.test(words[2]), 'unreachable words: ' + words[2]);
    return 'concurrency ' + conc + '; empty chart ' + new Date(x[0] * 1000).toTimeString().slice(0, 8) + '–' + new Date(x[1] * 1000).toTimeString().slice(0, 8);
  });

  let firstLeader = null;
  await check('three node cards and exactly one leader', async () => {
    firstLeader = await wait_for('exactly one leader card', 10000, leaderId);
    assert((await cards().count()) === 3, 'expected 3 node cards');
    const roles = await cards().evaluateAll((els) => els.map((e) => e.dataset.role));
    assert(roles.filter((r) => r === 'leader').length === 1, 'roles: ' + roles.join(','));
    /* the leader's fsync p99 of the last 2 s: "no syncs" once the election's are older
     * (a figure is checked after the item created below) */
    const lat = await wait_for('the replication latency', 5000, async () => { const t = (await page.locator('[data-testid="repl-latency"]').textContent()).trim(); return t !== '—' ? t : null; });
    assert(/^≤ [\d.]+ ms$/.test(lat) || lat === 'no syncs', 'the replication monitor\'s latency says "' + lat + '"');
    await shot('01-cluster-loaded');
    return 'leader is node ' + firstLeader + '; roles ' + roles.join(',');
  });

  await check('an idle cluster: the live views rewrite only what changed', async () => {
    /* every metrics event (12 a second) re-rendered the cards, writing each text again:
     * each write replaces a node and costs a layout and a paint, for nothing */
    const n = await page.evaluate(async () => {
      let count = 0;
      const mo = new MutationObserver((l) => { count += l.length; });
      for (const id of ['node-grid', 'follower-progress']) mo.observe(document.getElementById(id), { subtree: true, childList: true, characterData: true });
      mo.observe(document.querySelector('header'), { subtree: true, childList: true, characterData: true });
      await new Promise((r) => setTimeout(r, 3000));
      mo.disconnect();
      return count;
    });
    /* what does change: each card's up-time, once a second */
    assert(n <= 40, n + ' DOM changes in 3 s of an idle cluster');
    return n + ' DOM changes in 3 s';
  });

  let newLeader = null;
  await check('kill the leader: a different leader is shown within 3 s', async () => {
    assert(firstLeader, 'no leader to kill');
    const t0 = Date.now();
    await card(firstLeader).locator('[data-testid="node-kill"]').click();
    newLeader = await wait_for('a new leader card', 3000, async () => {
      const id = await leaderId();
      return id && id !== firstLeader ? id : null;
    }, 50);
    const ms = Date.now() - t0;
    await wait_for('the killed node shown down', 3000, async () => (await card(firstLeader).getAttribute('data-role')) === 'down');
    const said = (await card(firstLeader).locator('[data-testid="node-health"]').textContent()).trim();
    assert(said === 'Killed', 'a node killed with SIGKILL is labelled "' + said + '"');
    /* ... and stays so once its exit (signal SIGKILL) is reaped and announced */
    await sleep(600);
    const later = (await card(firstLeader).locator('[data-testid="node-health"]').textContent()).trim();
    assert(later === 'Killed', 'the killed node is relabelled "' + later + '" once its exit is announced');
    /* the new leader stays shown: no late snapshot may flip the cards back */
    const flips = await page.evaluate(async (want) => {
      const seen = [];
      for (let i = 0; i < 15; i++) {
        const l = [...document.querySelectorAll('[data-testid="node-card"][data-role="leader"]')].map((e) => e.dataset.nodeId);
        if (l.length !== 1 || l[0] !== want) seen.push(l.join(',') || 'none');
        await new Promise((r) => setTimeout(r, 100));
      }
      return seen;
    }, newLeader);
    assert(flips.length === 0, 'the leader shown flapped after the election: ' + flips.join(' '));
    /* its sync bar shows what it had applied (all of it, all but the new leader's entries),
     * as its line says, not the new leader's match for it (0: it never answered that leader) */
    const syncRow = page.locator('[data-testid="sync-row"][data-node-id="' + firstLeader + '"]');
    const syncSays = await wait_for('the old leader\'s sync line', 5000, async () => { const t = (await syncRow.textContent({ timeout: 200 })) || ''; return /down — it had applied/.test(t) ? t : null; });
    await sleep(800); /* the new leader's progress reports (4 Hz) have come */
    const syncPct = Number(await syncRow.locator('[role="progressbar"]').getAttribute('aria-valuenow'));
    assert(syncPct >= 50, 'the old leader\'s sync bar is at ' + syncPct + '% beside "' + syncSays.trim() + '"');
    /* the Storage view's next poll says plainly that the node does not answer */
    const downRow = page.locator('[data-testid="storage-row"][data-node-id="' + firstLeader + '"] [data-testid="storage-error"]');
    await wait_for('the storage error of the killed node', 8000, async () => /Not answering/.test((await downRow.textContent({ timeout: 200 })) || ''), 200);
    /* a pre-candidate is named with the term its pre-vote asks for, the one it then runs
     * for: "pre-candidate for term 2" then "candidate for term 3" named the term it had */
    const lines = await page.locator('#cluster-log li').allTextContents();
    const elected = lines.map((t) => /Node (\d+) elected leader for term (\d+)/.exec(t)).find((m) => m && m[1] === newLeader);
    const pre = lines.filter((t) => /pre-candidate/.test(t));
    if (elected && pre.length) {
      const terms = pre.map((t) => { const m = /pre-candidate \(pre-vote for term (\d+)\)/.exec(t); return m ? Number(m[1]) : NaN; });
      assert(terms.every((x) => x <= Number(elected[2])) && terms.includes(Number(elected[2])), 'pre-vote lines ' + JSON.stringify(pre) + ' beside "' + elected[0] + '"');
    }
    await shot('02-leader-killed-new-leader');
    return 'node ' + newLeader + ' shown as leader ' + ms + ' ms after the click' + (pre.length ? '; "' + pre[0].replace(/^[\d:.]+\s*/, '') + '"' : '');
  });

  await check('restart the old leader: it rejoins as a follower', async () => {
    const btn = card(firstLeader).locator('[data-testid="node-restart"]');
    await wait_for('the restart button enabled', 5000, async () => btn.isEnabled());
    await btn.click();
    await wait_for('node ' + firstLeader + ' shown as follower', 20000, async () => (await card(firstLeader).getAttribute('data-role')) === 'follower', 100);
    await wait_for('node ' + firstLeader + ' healthy', 15000, async () => (await card(firstLeader).getAttribute('data-health')) === 'healthy', 100);
    assert((await leaderCards().count()) === 1, 'expected exactly one leader after the restart');
    await shot('03-old-leader-rejoined');
    return 'node ' + firstLeader + ' follower, leader node ' + (await leaderId());
  });

  await check('a node that stops on its own says why on its card and in the log', async () => {
    const followerIds = async () => (await cards().evaluateAll((els) => els.map((e) => [e.dataset.nodeId, e.dataset.role]))).filter(([, r]) => r === 'follower').map(([id]) => id);
    await wait_for('two followers shown', 5000, async () => (await followerIds()).length === 2, 100);
    const id = (await followerIds())[0];
    const c = card(id);
    await c.locator('[data-testid="node-kill"]').click();
    await wait_for('node ' + id + ' down', 5000, async () => (await c.getAttribute('data-role')) === 'down');
    /* a file named like a later WAL segment, holding junk: the node refuses to start ("a
     * segment is missing, corrupt"), and its first ERROR line is what the card shows */
    const junk = path.join(pg.dataDir, 'node' + id, 'wal', '00000000ffffffff-00000000ffffffff.wal');
    fs.writeFileSync(junk, 'not a segment, not a segment, not a segment');
    const restart = c.locator('[data-testid="node-restart"]');
    await wait_for('the restart button enabled', 5000, async () => restart.isEnabled());
    await restart.click();
    const why = c.locator('[data-testid="node-exit-error"]');
    await wait_for('the reason on the card', 10000, async () => (await why.isVisible()) && /wal.*corrupt/.test(await why.textContent()), 100);
    const said = (await why.textContent()).trim();
    assert(!/^\d{4}-|ERROR/.test(said), 'the reason is the message alone: ' + said);
    const health = (await c.locator('[data-testid="node-health"]').textContent()).trim();
    assert(/^Exited \(code [1-9]\d*\)$/.test(health), 'the card says how it ended: ' + health);
    const logText = await page.locator('#cluster-log').textContent();
    assert(logText.includes('Node ' + id + ' exited with code') && logText.includes(said), 'the cluster log says why: ' + logText.slice(0, 300));
    const toastSays = await wait_for('a toast with the reason', 5000, async () => {
      const t = await page.locator('[data-testid="toast"][data-kind="error"]').allTextContents();
      return t.find((x) => x.includes('Node ' + id + ' stopped at once: ') && x.includes(said)) || null;
    }, 100);
    await shot('03b-node-stopped-on-its-own');
    /* the file gone, a restart clears the reason */
    fs.unlinkSync(junk);
    await wait_for('the restart button enabled', 5000, async () => restart.isEnabled());
    await restart.click();
    await wait_for('node ' + id + ' back as follower', 20000, async () => (await c.getAttribute('data-role')) === 'follower', 100);
    assert(!(await why.isVisible()), 'the reason stays shown after a good restart');
    await wait_for('all three nodes healthy', 15000, async () => (await page.locator('[data-testid="node-card"][data-health="healthy"]').count()) === 3, 100);
    return 'node ' + id + ': "' + said.slice(0, 100) + '"; toast "' + toastSays.slice(0, 40) + '…"';
  });

  await check('killing a second node warns that quorum would be lost (409), cancel keeps it running', async () => {
    const followerIds = async () => (await cards().evaluateAll((els) => els.map((e) => [e.dataset.nodeId, e.dataset.role]))).filter(([, r]) => r === 'follower').map(([id]) => id);
    // The cards settle from live events: give the restarted node's peers a moment.
    /* the followers as the one look that found them saw them: a second look could find the
     * cards changed again (it failed so once, 54 ms after the two were seen, on a loaded machine) */
    const followers = await wait_for('two followers and one leader shown', 5000, async () => {
      const f = await followerIds();
      return f.length === 2 && (await leaderCards().count()) === 1 ? f : null;
    }, 100);
    const lead = await leaderId();
    assert(followers.length === 2, 'expected two followers, got ' + followers.join(','));
    await card(followers[0]).locator('[data-testid="node-kill"]').click();
    await wait_for('node ' + followers[0] + ' down', 5000, async () => (await card(followers[0]).getAttribute('data-role')) === 'down');
    await card(followers[1]).locator('[data-testid="node-kill"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 5000 });
    const msg = await page.locator('[data-testid="confirm-message"]').textContent();
    assert(/quorum/i.test(msg), 'the warning does not mention the quorum: ' + msg);
    await shot('04-quorum-warning');
    await page.locator('[data-testid="confirm-cancel"]').click();
    await sleep(500);
    assert((await card(followers[1]).getAttribute('data-role')) !== 'down', 'the node was killed although the person cancelled');
    await card(followers[0]).locator('[data-testid="node-restart"]').click();
    await wait_for('node ' + followers[0] + ' back as follower', 20000, async () => (await card(followers[0]).getAttribute('data-role')) === 'follower', 100);
    await wait_for('all three nodes healthy', 15000, async () => (await page.locator('[data-testid="node-card"][data-health="healthy"]').count()) === 3, 100);
    return 'leader node ' + lead + '; warned: "' + msg.slice(0, 80) + '…"';
  });

  await check('quorum lost (2 of 3 killed): a banner and every error say so, not "election"; the items reload once a leader is back', async () => {
    const ids = await cards().evaluateAll((els) => els.map((e) => e.dataset.nodeId));
    const lead = await leaderId();
    const others = ids.filter((id) => id !== lead);
    await card(others[0]).locator('[data-testid="node-kill"]').click();
    await wait_for('node ' + others[0] + ' down', 5000, async () => (await card(others[0]).getAttribute('data-role')) === 'down');
    await card(others[1]).locator('[data-testid="node-kill"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 5000 });
    await page.locator('[data-testid="confirm-force"]').click();
    const banner = page.locator('[data-testid="quorum-banner"]');
    await wait_for('the quorum-lost banner', 5000, async () => (await banner.isVisible()) && /Quorum lost: 1 of 3 nodes running — restart a node/.test(await banner.textContent()));
    const toasts = async () => (await page.locator('[data-testid="toast"]').allTextContents()).join(' | ');
    await wait_for('the kill toast naming the lost quorum', 5000, async () => /killed\. Quorum lost: 1 of 3/.test(await toasts()));
    await wait_for('the header saying the quorum is lost', 8000, async () => /quorum lost/.test(await page.locator('#header-leader').textContent()));
    /* the items: refused (the error wraps inside the table), then back by themselves */
    await page.locator('[data-testid="items-refresh"]').click();
    const itemsErr = page.locator('[data-testid="items-error"]');
    await wait_for('the items error', 10000, async () => (await itemsErr.count()) === 1);
    const errText = await itemsErr.textContent();
    assert(/Quorum lost/.test(errText) && !/election/.test(errText), 'items error: ' + errText);
    const over = await page.locator('.panel-data .table-wrap').evaluate((w) => w.scrollWidth - w.clientWidth);
    assert(over <= 1, 'the items error pushes the table ' + over + ' px wide');
    /* a create and a forced election give the same advice */
    await page.locator('[data-testid="item-new"]').click();
    await page.locator('[data-testid="field-name"]').fill('while no quorum');
    await page.locator('[data-testid="item-save"]').click();
    await wait_for('the create error', 10000, async () => /\S/.test(await page.locator('[data-testid="form-error"]').textContent()));
    const createErr = await page.locator('[data-testid="form-error"]').textContent();
    assert(/Quorum lost: 1 of 3/.test(createErr) && !/election/.test(createErr), 'create error: ' + createErr);
    await page.locator('[data-testid="item-cancel"]').click(); /* a changed form: Cancel asks first */
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
    await page.locator('[data-testid="confirm-force"]').click();
    await page.locator('[data-testid="force-election"]').click();
    await wait_for('the force-election error', 10000, async () => /Force election failed: Quorum lost/.test(await toasts()));
    assert(!/election is probably under way/.test(await toasts()), 'a toast still promises an election: ' + await toasts());
    /* a benchmark meanwhile: every write is refused, and the page says so rather than
     * "finished: 5 ops/s" in green with a write MB/s (QA) */
    const benchCode = await post_status(base + '/_playground/benchmark/start', { type: 'write', concurrency: 1, duration_secs: 0.5, payload_size: 64 });
    assert(benchCode === 202, 'benchmark start answered ' + benchCode);
    const failedToast = await wait_for('the benchmark toast', 15000, async () => (await page.locator('[data-testid="toast"][data-kind="error"]').allTextContents()).find((t) => /Benchmark finished/.test(t)) || null);
    assert(/(every one of its [\d,]+ operations|its only operation) failed \(unavailable [\d,]+\)/.test(failedToast) && !/ops\/s/.test(failedToast), 'the benchmark toast: ' + failedToast);
    const benchCfg = ((await page.locator('[data-testid="bench-result-config"]').textContent()) || '').trim();
    assert(/(Every one of its [\d,]+ operations|Its only operation) failed/.test(benchCfg), 'the result says: ' + benchCfg);
    const benchWmb = ((await page.locator('[data-testid="bench-result-write-mbps"]').textContent()) || '').trim();
    assert(benchWmb === '0.00 MB/s', 'refused writes shown as written: ' + benchWmb);
    await shot('04b-quorum-lost');
    await card(others[0]).locator('[data-testid="node-restart"]').click();
    await wait_for('the banner gone once 2 of 3 run', 8000, async () => banner.isHidden());
    await wait_for('the items reloaded when a leader came back (no click)', 20000, async () => (await itemsErr.count()) === 0, 200);
    await card(others[1]).locator('[data-testid="node-restart"]').click();
    await wait_for('all three nodes healthy', 20000, async () => (await page.locator('[data-testid="node-card"][data-health="healthy"]').count()) === 3, 100);
    await wait_for('one leader and two followers', 15000, async () => (await leaderCards().count()) === 1
      && (await page.locator('[data-testid="node-card"][data-role="follower"]').count()) === 2, 100);
    return 'banner, header, kill toast, items, create, force election and a benchmark all say the quorum is lost; "' + createErr.trim().slice(0, 70) + '"; "' + failedToast.trim().slice(0, 90) + '"';
  });

  await check('force election with a target: that node becomes the leader', async () => {
    const lead = await leaderId();
    const target = (await cards().evaluateAll((els) => els.map((e) => [e.dataset.nodeId, e.dataset.role]))).find(([, r]) => r === 'follower')[0];
    await page.locator('[data-testid="election-target"]').selectOption(target);
    const t0 = Date.now();
    await page.locator('[data-testid="force-election"]').click();
    await wait_for('node ' + target + ' shown as leader', 8000, async () => (await leaderId()) === target, 50);
    const ms = Date.now() - t0;
    await page.locator('[data-testid="election-target"]').selectOption('');
    /* a transfer that gives up is a 409 ABORTED, the code of a version conflict too: the
     * toast says what gave up (it read "Version conflict: leadership transfer gave up: …") */
    const feUrl = (u) => u.pathname === '/_playground/cluster/force-election';
    await page.route(feUrl, (route) => route.fulfill({ status: 409, contentType: 'application/json',
      body: JSON.stringify({ code: 'ABORTED', message: 'leadership transfer gave up: no new leader within two election timeouts (the target may be down or behind)', details: [] }) }));
    let said;
    try {
      await page.locator('[data-testid="force-election"]').click();
      said = await wait_for('the failed transfer\'s toast', 5000, async () => (await page.locator('[data-testid="toast"]').allTextContents()).find((t) => /transfer gave up/.test(t)));
    } finally {
      await page.unroute(feUrl);
    }
    assert(!/version conflict/i.test(said) && /Leadership transfer gave up: no new leader/.test(said), 'the toast says: ' + said);
    return 'node ' + lead + ' → node ' + target + ' in ' + ms + ' ms; a transfer that gave up: "' + said.slice(0, 60) + '…"';
  });

  await check('stop the leader (graceful): it hands its leadership over, the card says "Stopped"; restart it', async () => {
    /* one leader shown first: read at once after the force election it was once none
     * (data-node-id="null"), a moment of the hand-over */
    const lead = await wait_for('one leader card', 5000, leaderId);
    const t0 = Date.now();
    await card(lead).locator('[data-testid="node-stop"]').click();
    /* watched from the click on: a toast goes after a few seconds, and on a loaded machine
     * the waits below once outlasted it (QA) */
    const toastSeen = wait_for('the stop toast', 10000, async () => (await page.locator('[data-testid="toast"]').allTextContents()).find((t) => /stopped\. It handed its leadership to node \d+ first/.test(t)) || null, 50)
      .then((t) => ({ t }), (e) => ({ e }));
    let next, ms, said, later, toastSays;
    try {
      next = await wait_for('another leader', 3000, async () => { const id = await leaderId(); return id && id !== lead ? id : null; }, 50);
      ms = Date.now() - t0;
      await wait_for('the stopped node shown down', 5000, async () => (await card(lead).getAttribute('data-role')) === 'down');
      said = (await card(lead).locator('[data-testid="node-health"]').textContent()).trim();
      const seen = await toastSeen;
      if (seen.e) throw seen.e;
      toastSays = seen.t;
      /* ... and the label stays once its exit (code 0, after the SIGTERM) is reaped and announced */
      await sleep(600);
      later = (await card(lead).locator('[data-testid="node-health"]').textContent()).trim();
    } finally { /* a failed check must not leave the node down for the rest */
      const btn = card(lead).locator('[data-testid="node-restart"]');
      await wait_for('the restart button enabled', 5000, async () => btn.isEnabled());
      await btn.click();
      await wait_for('node ' + lead + ' healthy again', 20000, async () => (await card(lead).getAttribute('data-health')) === 'healthy', 100);
    }
    assert(/^Stopped/.test(said), 'a node stopped with SIGTERM is labelled "' + said + '"');
    assert(/^Stopped/.test(later), 'the stopped node is relabelled "' + later + '" once its exit is announced');
    const strip = await page.locator('#cluster-log').textContent();
    assert(new RegExp('Node ' + lead + ' handed its leadership to node ' + next + ' before it stopped').test(strip) && new RegExp('Node ' + lead + ' stopped \\(SIGTERM\\)').test(strip),
      'the event strip does not say the hand-over and the stop: ' + strip);
    return 'node ' + lead + ' → node ' + next + ' in ' + ms + ' ms; "' + toastSays.slice(0, 60) + '…"';
  });

  const itemName = 'e2e item ' + Date.now().toString(36);
  await check('create an item: it appears with its replicated badge complete (3/3)', async () => {
    await page.locator('[data-testid="item-new"]').click();
    await page.locator('[data-testid="field-name"]').fill(itemName);
    await page.locator('[data-testid="field-description"]').fill('created by the browser test');
    await page.locator('[data-testid="field-status"]').selectOption('active');
    await page.locator('[data-testid="item-save"]').click();
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: itemName }) });
    await wait_for('the new row', 10000, async () => (await row.count()) === 1);
    const badge = row.locator('[data-testid="item-badge"]');
    await wait_for('the badge at 3/3', 10000, async () => (await badge.getAttribute('data-complete')) === 'true', 50);
    const applied = await badge.getAttribute('data-applied');
    const total = await badge.getAttribute('data-total');
    assert(applied === '3' && total === '3', 'badge ' + applied + '/' + total);
    assert(/✓ 3\/3/.test(await badge.textContent()), 'badge text does not say ✓ 3/3');
    /* the write was synced: the leader's fsync p99 of the last 2 s is a histogram bucket's
     * upper bound, said as one ("≤ 16.4 ms") as the Storage table says it, not as a measured
     * "16.4 ms" */
    const lat = await wait_for('the replication latency of the write', 1500, async () => { const t = (await page.locator('[data-testid="repl-latency"]').textContent()).trim(); return /^≤ [\d.]+ ms$/.test(t) ? t : null; });
    await sleep(400);
    await shot('05-item-replicated');
    return 'badge ' + applied + '/' + total + '; fsync p99 ' + lat;
  });

  await check('storage: WAL, segments, entries, fsync, snapshot and disk free per node; Snapshot shows its index at once; polled every 3 s, only while visible', async () => {
    const rows = page.locator('[data-testid="storage-row"]');
    await wait_for('three storage rows with figures', 8000, async () => (await rows.count()) === 3 &&
      (await page.locator('[data-testid="storage-error"]').count()) === 0);
    for (let i = 0; i < 3; i++) {
      const r = rows.nth(i);
      const t = async (tid) => ((await r.locator('[data-testid="' + tid + '"]').textContent()) || '').trim();
      assert(/^\d+(\.\d)? (B|KiB|MiB|GiB)$/.test(await t('storage-wal')), 'WAL size: ' + await t('storage-wal'));
      assert(/^\d+$/.test(await t('storage-segments')), 'segments: ' + await t('storage-segments'));
      assert(/^[\d,]+( \([\d,]+\.\.[\d,]+\))?$/.test(await t('storage-entries')), 'entries: ' + await t('storage-entries'));
      /* the node's percentiles are histogram bucket bounds: shown as bounds, not as exact */
      assert(/^≤ [\d.]+ ms \/ ≤ [\d.]+ ms$/.test(await t('storage-fsync')), 'fsync: ' + await t('storage-fsync'));
      assert(/^\d+(\.\d)? (KiB|MiB|GiB|TiB)$/.test(await t('storage-disk')), 'disk free: ' + await t('storage-disk'));
    }
    /* the poll: every 3 s, never closer than 2 s, none while the tab is hidden */
    const times = [];
    const onreq = (r) => { if (new URL(r.url()).pathname === '/_playground/cluster/wal-stats') times.push(Date.now()); };
    page.on('request', onreq);
    let snapIndex = 0;
    let afterSnap = 0;
    try {
      await sleep(6500);
      const polls = times.slice();
      const gaps = polls.slice(1).map((t, i) => t - polls[i]);
      assert(polls.length >= 2 && polls.length <= 4, polls.length + ' wal-stats requests in 6.5 s');
      assert(gaps.every((g) => g >= 1900), 'polls closer than 2 s: ' + gaps.join(', ') + ' ms');
      await page.evaluate(() => { Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); document.dispatchEvent(new Event('visibilitychange')); });
      times.length = 0;
      await sleep(3500);
      assert(times.length === 0, times.length + ' wal-stats requests while the tab was hidden');
      /* Snapshot: the answer's index shows in every row at once. Still "hidden", so no poll can
       * be what brings it: only the refresh that follows a Snapshot. */
      const snapAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/_playground/cluster/snapshot', { timeout: 30000 });
      await page.locator('[data-testid="snapshot"]').click();
      const res = await snapAnswer;
      const tSnap = Date.now();
      snapIndex = Math.min(...((await res.json()).nodes || []).map((n) => Number(n.index)));
      assert(snapIndex > 0, 'the snapshot answer has no index');
      await wait_for('the new snapshot index in every row', 3000, async () => {
        const idx = await rows.evaluateAll((els) => els.map((e) => Number(e.dataset.snapshotIndex)));
        return idx.length === 3 && idx.every((x) => x >= snapIndex);
      });
      afterSnap = Date.now() - tSnap;
      await page.evaluate(() => { delete document.hidden; document.dispatchEvent(new Event('visibilitychange')); });
      assert(/^index [\d,]+ · [\d.]+ (B|KiB|MiB|GiB)/.test(((await rows.first().locator('[data-testid="storage-snapshot"]').textContent()) || '').trim()), 'the snapshot cell: ' + await rows.first().locator('[data-testid="storage-snapshot"]').textContent());
    } finally {
      page.off('request', onreq);
      await page.evaluate(() => { delete document.hidden; });
    }
    await page.locator('[data-testid="storage"]').scrollIntoViewIfNeeded();
    await shot('05b-storage');
    return 'snapshot index ' + snapIndex + ' shown ' + afterSnap + ' ms after the answer; "' + (await rows.first().locator('[data-testid="storage-snapshot"]').textContent()) + '"';
  });

  await check('filter by an indexed field (name, then status) finds the item', async () => {
    await page.locator('[data-testid="filter-field"]').selectOption('name');
    await page.locator('[data-testid="filter-value"]').fill(itemName);
    await page.locator('[data-testid="filter-apply"]').click();
    await wait_for('exactly the one matching row', 5000, async () => {
      const names = await page.locator('[data-testid="item-name"]').allTextContents();
      return names.length === 1 && names[0] === itemName;
    });
    const total = await page.locator('[data-testid="items-total"]').textContent();
    assert(/^1 item/.test(total), 'total says ' + total);
    await page.locator('[data-testid="filter-field"]').selectOption('status');
    await page.locator('[data-testid="filter-status"]').selectOption('archived');
    await wait_for('no archived item', 5000, async () => (await page.locator('[data-testid="item-row"]').count()) === 0);
    await page.locator('[data-testid="filter-status"]').selectOption('active');
    await wait_for('the active item', 5000, async () => (await page.locator('[data-testid="item-name"]', { hasText: itemName }).count()) === 1);
    await page.locator('[data-testid="filter-field"]').selectOption('');
    await wait_for('the unfiltered list', 5000, async () => /total/.test(await page.locator('[data-testid="items-total"]').textContent()));
    return total.trim();
  });

  await check('a version conflict (If-Match → 412) is explained; overwriting keeps the other change to an untouched field; history lists all versions', async () => {
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: itemName }) });
    const id = await row.getAttribute('data-item-id');
    await row.locator('[data-testid="item-edit"]').click();
    await page.waitForSelector('[data-testid="item-form"]:not([hidden])', { timeout: 5000 });
    /* someone else changes the item meanwhile */
    const put = await new Promise((resolve) => {
      const body = JSON.stringify({ status: 'archived' });
      const u = new URL(base + '/api/items/' + id);
      const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'PUT', timeout: 5000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', () => resolve(0));
      req.on('timeout', () => { req.destroy(); resolve(0); });
      req.end(body);
    });
    assert(put === 200, 'the concurrent PUT answered ' + put);
    await page.locator('[data-testid="field-description"]').fill('my edit');
    await page.locator('[data-testid="item-save"]').click();
    const banner = page.locator('[data-testid="conflict-banner"]');
    await wait_for('the conflict banner', 5000, async () => (await banner.isVisible()) && /version/i.test(await banner.textContent()));
    const text = (await banner.textContent()).replace(/\s+/g, ' ').trim();
    /* the refused update is committed in the log (result ABORTED): the feed shows it refused,
     * never as a green "3/3 replicated" */
    const refused = page.locator('[data-testid="feed-row"][data-item-id="' + id + '"]:not([data-result="OK"])');
    await wait_for('the refused update in the feed', 5000, async () => (await refused.count()) >= 1);
    const nodesCls = await refused.first().locator('[data-testid="feed-nodes"]').getAttribute('class');
    assert(!/is-full/.test(nodesCls) && /is-refused/.test(nodesCls), 'a refused update is shown as ' + nodesCls + ': ' + await refused.first().textContent());
    await shot('06b-version-conflict');
    /* overwrite: only the field edited here is sent, so the other change (status) stays */
    await page.locator('[data-testid="conflict-overwrite"]').click();
    await page.waitForSelector('[data-testid="item-form"]', { state: 'hidden', timeout: 5000 });
    const now = await page.evaluate(async (u) => (await fetch(u)).json(), base + '/api/items/' + id);
    assert(now.description === 'my edit' && now.status === 'archived' && now.version === '3',
      'after the overwrite: ' + JSON.stringify({ d: now.description, s: now.status, v: now.version }));
    /* the history shows the three committed versions */
    await row.locator('[data-testid="item-history"]').click();
    await page.waitForSelector('[data-testid="history-dialog"][open]', { timeout: 5000 });
    await wait_for('three history rows', 5000, async () => (await page.locator('[data-testid="history-row"]').count()) === 3);
    await shot('06c-item-history');
    await page.locator('[data-testid="history-close"]').click();
    return text.slice(0, 90) + '…';
  });

  await check('an item deleted and created again under its id while being edited (ABA): Save is refused, as the page sends the ETag naming the incarnation; the banner says so; overwriting then takes the new one', async () => {
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: itemName }) });
    const id = await row.getAttribute('data-item-id');
    await row.locator('[data-testid="item-edit"]').click();
    await page.waitForSelector('[data-testid="item-form"]:not([hidden])', { timeout: 5000 });
    const read = (await get_json(base + '/api/items/' + encodeURIComponent(id))).data;
    /* another client deletes it and creates another under the same id, then brings that one to
     * the version the form holds: by its version alone, the form's item */
    const del = await http_req('DELETE', base + '/api/items/' + encodeURIComponent(id));
    assert(del.status === 204, 'the DELETE answered ' + del.status);
    const again = await post_json(base + '/api/items', { id, name: itemName, status: 'active', description: 'second life' });
    assert(again.status === 201 && again.data.createdAt !== read.createdAt, 'the create again answered ' + again.status);
    for (let v = 1; v < Number(read.version); v++) {
      const up = await http_req('PUT', base + '/api/items/' + encodeURIComponent(id), { description: 'second life ' + v });
      assert(up.status === 200, 'a PUT of the new item answered ' + up.status);
    }
    const theirs = (await get_json(base + '/api/items/' + encodeURIComponent(id))).data;
    assert(theirs.version === read.version, 'the new item at version ' + theirs.version + ', the form holds ' + read.version);
    await page.locator('[data-testid="field-description"]').fill('my aba edit');
    await page.locator('[data-testid="item-save"]').click();
    const banner = page.locator('[data-testid="conflict-banner"]');
    await wait_for('the conflict banner naming the delete and create', 5000, async () => (await banner.isVisible()) && /deleted this item and created another/.test(await banner.textContent()));
    const text = (await banner.textContent()).replace(/\s+/g, ' ').trim();
    const kept = (await get_json(base + '/api/items/' + encodeURIComponent(id))).data;
    assert(kept.description === theirs.description && kept.version === theirs.version, 'the new item changed: ' + JSON.stringify(kept));
    /* overwrite: sent with the new item's tag, it is taken */
    await page.locator('[data-testid="conflict-overwrite"]').click();
    await page.waitForSelector('[data-testid="item-form"]', { state: 'hidden', timeout: 5000 });
    const now = (await get_json(base + '/api/items/' + encodeURIComponent(id))).data;
    assert(now.description === 'my aba edit' && now.createdAt === theirs.createdAt && Number(now.version) === Number(theirs.version) + 1,
      'after the overwrite: ' + JSON.stringify({ d: now.description, v: now.version }));
    return text.slice(0, 90) + '…';
  });

  await check('paging (10 per page) and delete through the confirm dialog', async () => {
    /* another client writes 11 items: the table refreshes from the committed events */
    for (let i = 0; i < 11; i++) {
      const code = await post_status(base + '/api/items', { name: 'bulk ' + i, status: 'draft' });
      assert(code === 201, 'POST /api/items answered ' + code);
    }
    await page.locator('[data-testid="page-size"]').selectOption('10');
    await wait_for('a full first page and Next enabled', 8000, async () => (await page.locator('[data-testid="item-row"]').count()) === 10
      && (await page.locator('[data-testid="page-next"]').isEnabled()));
    const first = await page.locator('[data-testid="item-row"]').evaluateAll((r) => r.map((x) => x.dataset.itemId));
    await page.locator('[data-testid="page-next"]').click();
    await wait_for('page 2', 5000, async () => /Page 2/.test(await page.locator('[data-testid="page-info"]').textContent()));
    const second = await page.locator('[data-testid="item-row"]').evaluateAll((r) => r.map((x) => x.dataset.itemId));
    assert(second.length >= 2 && second.every((id) => !first.includes(id)), 'page 2 repeats page 1 rows');
    const total = await page.locator('[data-testid="items-total"]').textContent();
    await page.locator('[data-testid="page-prev"]').click();
    await wait_for('page 1 again', 5000, async () => /Page 1/.test(await page.locator('[data-testid="page-info"]').textContent()));
    /* delete the e2e item */
    await page.locator('[data-testid="filter-field"]').selectOption('name');
    await page.locator('[data-testid="filter-value"]').fill(itemName);
    await page.locator('[data-testid="filter-apply"]').click();
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: itemName }) });
    await wait_for('the item row', 5000, async () => (await row.count()) === 1);
    await row.locator('[data-testid="item-delete"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 5000 });
    await page.locator('[data-testid="confirm-force"]').click();
    await wait_for('the row gone', 5000, async () => (await row.count()) === 0);
    await page.locator('[data-testid="filter-field"]').selectOption('');
    await page.locator('[data-testid="page-size"]').selectOption('20');
    return first.length + ' + ' + second.length + ' rows on two pages (' + total.trim() + '), item deleted';
  });

  await check('live validation: byte limits, blank name and bad JSON are shown as typed and Save waits; the server\'s 422 still shows', async () => {
    const name = page.locator('[data-testid="field-name"]');
    const err = page.locator('[data-testid="error-name"]');
    const save = page.locator('[data-testid="item-save"]');
    const invalid = async (f) => (await page.locator('[data-testid="field-' + f + '"]').getAttribute('aria-invalid')) === 'true';
    let posts = 0;
    const onreq = (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/items') posts++; };
    page.on('request', onreq);
    let text;
    try {
      await page.locator('[data-testid="item-new"]').click();
      /* 101 characters but 202 UTF-8 bytes: over the 200-byte limit, under maxlength */
      await name.fill('é'.repeat(101));
      await wait_for('the live name error', 2000, async () => /at most 200 bytes/.test((await err.textContent()) || ''));
      assert(await invalid('name'), 'the name is not aria-invalid');
      assert(await save.isDisabled(), 'Save stays enabled with an invalid name');
      text = (await err.textContent()).trim();
      const ib = await name.boundingBox();
      const eb = await err.boundingBox();
      assert(ib && eb, 'no layout box');
      assert(eb.y >= ib.y + ib.height - 2 && eb.y - (ib.y + ib.height) < 30, 'the error is not right under the field');
      assert(eb.x < ib.x + ib.width && eb.x + eb.width > ib.x, 'the error is not aligned with the field');
      await shot('06-validation-error');
      await name.fill('é'.repeat(100)); /* exactly 200 bytes: allowed */
      await wait_for('the name error cleared', 2000, async () => !(await invalid('name')) && ((await err.textContent()) || '') === '' && !(await save.isDisabled()));
      await name.fill('   ');
      await wait_for('the blank name error', 2000, async () => /blank/.test((await err.textContent()) || '') && (await save.isDisabled()));
      await name.fill('live checked');
      await page.locator('[data-testid="field-description"]').fill('x'.repeat(4097));
      await wait_for('the description error', 2000, async () => /at most 4096 bytes/.test((await page.locator('[data-testid="error-description"]').textContent()) || '') && await invalid('description'));
      await page.locator('[data-testid="field-description"]').fill('');
      await page.locator('[data-testid="field-metadata"]').fill('{"a": ');
      await wait_for('the metadata error', 2000, async () => /JSON/.test((await page.locator('[data-testid="error-metadata"]').textContent()) || '') && await invalid('metadata') && (await save.isDisabled()));
      await page.locator('[data-testid="field-metadata"]').fill('{"a": 1}');
      await wait_for('every field valid again', 2000, async () => !(await invalid('metadata')) && !(await invalid('description')) && !(await save.isDisabled()));
      assert(posts === 0, posts + ' create requests sent while the form was being checked');
      /* the server stays the authority: a body it refuses (here the name emptied on the way)
       * comes back as its own 422, shown under the field as before */
      const itemsUrl = (u) => u.pathname === '/api/items';
      await page.route(itemsUrl, (route) => {
        const r = route.request();
        if (r.method() !== 'POST') return route.continue();
        return route.continue({ postData: JSON.stringify(Object.assign(JSON.parse(r.postData()), { name: '' })) });
      });
      try {
        await save.click();
        await wait_for('the server\'s name error', 5000, async () => /must not be empty/i.test((await err.textContent()) || '') && await invalid('name'));
      } finally {
        await page.unroute(itemsUrl);
      }
      assert(posts === 1, posts + ' create requests for one Save');
    } finally {
      page.off('request', onreq);
    }
    /* Cancel on a changed form asks too (as Escape does); Discard closes it */
    await page.locator('[data-testid="item-cancel"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
    await page.locator('[data-testid="confirm-force"]').click();
    await wait_for('the form closed', 3000, async () => page.locator('[data-testid="item-form"]').isHidden());
    /* Escape on a half-filled form asks first; Cancel keeps the form and its text */
    await page.locator('[data-testid="item-new"]').click();
    await page.locator('[data-testid="field-name"]').fill('half written');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
    await page.locator('[data-testid="confirm-cancel"]').click();
    assert(await page.locator('[data-testid="item-form"]').isVisible(), 'the form closed without asking');
    assert((await page.locator('[data-testid="field-name"]').inputValue()) === 'half written', 'the text was lost');
    await page.locator('[data-testid="item-cancel"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
    await page.locator('[data-testid="confirm-force"]').click();
    await wait_for('the form closed', 3000, async () => page.locator('[data-testid="item-form"]').isHidden());
    return 'live "' + text + '", blank, 4097-byte description, bad JSON; server 422 shown; Escape on a changed form asks first';
  });

  /* 4 clients, not more: on a two-core machine a saturating benchmark of the sanitized
   * cluster leaves the browser's renderer waiting on the run queue most of the time
   * (measured: 130 ms of CPU in 2 s, 1.75 s runnable but not running), and the page then
   * draws a whole run's points in one burst at the end. */
  await check('an item\'s date before today is the local date, as today\'s time is local', async () => {
    /* far from UTC, on both sides: the UTC date would be a day off for these instants */
    const out = [];
    for (const [tz, iso, want] of [['Pacific/Kiritimati', '2020-01-01T12:00:00Z', '2020-01-02'],
      ['Pacific/Honolulu', '2020-01-01T05:00:00Z', '2019-12-31']]) {
      const p = await browser.newPage();
      try {
        const cdp = await browser.newCDPSession(p);
        await cdp.send('Emulation.setTimezoneOverride', { timezoneId: tz });
        await p.goto(base + '/');
        await p.waitForFunction(() => window.__lpFmt, null, { timeout: 10000 });
        const got = await p.evaluate((x) => window.__lpFmt.date(x), iso);
        assert(got === want, tz + ': ' + iso + ' shown as ' + got + ', not ' + want);
        out.push(tz + ' ' + got);
      } finally {
        await p.close();
      }
    }
    return out.join('; ');
  });

  await check('a 3 s benchmark: the chart moves and a result with percentiles appears', async () => {
    await page.locator('[data-testid="bench-type"]').selectOption('write');
    await page.locator('[data-testid="bench-concurrency"]').fill('4');
    await page.locator('[data-testid="bench-duration"]').fill('3');
    await page.locator('[data-testid="bench-payload"]').fill('256');
    /* record every redraw of the chart's point count, with its time, from inside the page */
    await page.evaluate(() => {
      const el = document.querySelector('[data-testid="bench-chart"]');
      window.__e2eBench = [];
      new MutationObserver(() => window.__e2eBench.push([performance.now(), Number(el.dataset.points)]))
        .observe(el, { attributes: true, attributeFilter: ['data-points'] });
    });
    /* the replicated operations' header beside the leader's Ops/s, four times a second */
    await page.evaluate(() => {
      window.__e2eFeed = [];
      window.__e2eFeedTimer = setInterval(() => window.__e2eFeed.push([document.getElementById('feed-rate').textContent, document.getElementById('repl-ops').textContent]), 250);
    });
    /* the start's reply is held back until the run has ended (a slow answer, as under
     * load): arriving after the stream's "done", it must not bring "running" back (the
     * Start button stayed disabled for good) nor hide the result */
    const startUrl = (u) => u.pathname === '/_playground/benchmark/start';
    let release = null;
    const held = new Promise((res) => { release = res; });
    let replied = false;
    await page.route(startUrl, async (route) => {
      const resp = await route.fetch();
      await held;
      await route.fulfill({ response: resp });
      replied = true;
    });
    await page.locator('[data-testid="bench-start"]').click();
    const chart = page.locator('[data-testid="bench-chart"]');
    try {
      await wait_for('the benchmark running', 5000, async () => (await page.locator('[data-testid="bench-state"]').getAttribute('data-state')) === 'running'
        || (await page.locator('[data-testid="bench-result"]').isVisible()));
      await page.waitForSelector('[data-testid="bench-result"]:not([hidden])', { timeout: 20000 });
    } finally {
      release();
    }
    await wait_for('the held reply delivered', 5000, async () => replied);
    await page.unroute(startUrl);
    await sleep(300);
    assert((await page.locator('[data-testid="bench-state"]').getAttribute('data-state')) === 'done', 'a late start reply brought back "' + (await page.locator('[data-testid="bench-state"]').getAttribute('data-state')) + '"');
    assert(await page.locator('[data-testid="bench-result"]').isVisible(), 'a late start reply hid the result');
    assert(await page.locator('[data-testid="bench-start"]').isEnabled(), 'a late start reply left Start disabled');
    /* the feed's header counts each entry once, and says when it shows a sample: it said
     * "614 entries/s" beside 2,362 a second applied (one event counted per node, of the sample
     * the gateway passes under load) */
    const feed = await page.evaluate(() => { clearInterval(window.__e2eFeedTimer); return window.__e2eFeed; });
    const num = (t) => Number(((/([\d,]+)/.exec(t) || [])[1] || '0').replace(/,/g, ''));
    const bad = feed.filter(([f, o]) => num(o) >= 500 && ((num(f) < num(o) / 2 && !f.includes(' of ' + o.trim() + ' entries/s shown')) || num(f) > 2 * num(o) + 50));
    assert(bad.length === 0, 'the feed header beside the leader\'s Ops/s: ' + JSON.stringify(bad.slice(0, 4)));
    await wait_for('the p99 cell', 3000, async () => /\d/.test((await page.locator('[data-testid="bench-p99"]').textContent()) || ''));
    const opsText = await page.locator('[data-testid="bench-result-opsps"]').textContent();
    const ops = Number(opsText.replace(/[^0-9.]/g, ''));
    assert(ops > 0, 'zero throughput in the result: ' + opsText);
    const pts = Number(await chart.getAttribute('data-points'));
    const maxOps = Number(await chart.getAttribute('data-max'));
    const moves = await page.evaluate(() => window.__e2eBench.filter((m) => m[1] > 0));
    const span = moves.length ? moves[moves.length - 1][0] - moves[0][0] : 0;
    assert(moves.length >= 3 && span >= 500, 'the chart did not move while the benchmark ran (' + moves.length + ' updates over ' + Math.round(span) + ' ms)');
    assert(maxOps > 0, 'the chart never showed a non-zero throughput');
    assert(await page.locator('[data-testid="bench-chart"] canvas').count() === 1, 'the chart is not drawn');
    const hist = Number(await page.locator('[data-testid="bench-histogram"]').getAttribute('data-points'));
    assert(hist > 0, 'empty latency histogram');
    /* the replicated-operations feed is in log order, newest first, though each node's
     * events reach the page sampled and at its own pace */
    const feedIdx = await page.$$eval('[data-testid="feed-row"] .feed-idx', (els) => els.map((e) => Number(e.textContent.slice(1).split(' ')[0])));
    assert(feedIdx.length > 0 && feedIdx.every((x, k) => k === 0 || x < feedIdx[k - 1]), 'the feed is not in log order: ' + feedIdx.join(' '));
    /* a write-only run: its write MB/s, and no read figure */
    const wmb = ((await page.locator('[data-testid="bench-result-write-mbps"]').textContent()) || '').trim();
    assert(/^\d+\.\d\d MB\/s$/.test(wmb) && Number.parseFloat(wmb) > 0, 'no write MB/s in the result: "' + wmb + '"');
    assert(await page.locator('[data-testid="bench-result-read-mbps"]').count() === 0, 'a write-only run shows a read MB/s');
    await page.locator('[data-testid="bench-result"]').scrollIntoViewIfNeeded();
    await sleep(300);
    await shot('07-benchmark-result');
    return moves.length + ' chart updates over ' + Math.round(span) + ' ms, ' + pts + ' points (max ' + Math.round(maxOps) + ' ops/s), ' + opsText + ' (write ' + wmb + '), p99 ' + (await page.locator('[data-testid="bench-p99"]').textContent()) + ', ' + hist + ' histogram bars';
  });

  await check('a refused benchmark start keeps the last result; Stop is announced once; Clean up asks first with the count', async () => {
    const chart = page.locator('[data-testid="bench-chart"]');
    const ptsBefore = Number(await chart.getAttribute('data-points'));
    assert(ptsBefore > 0 && await page.locator('[data-testid="bench-result"]').isVisible(), 'no result to keep');
    /* the gateway refuses the start (as with a run already going): nothing shown is wiped */
    const startUrl = (u) => u.pathname === '/_playground/benchmark/start';
    await page.route(startUrl, (route) => route.fulfill({ status: 409, contentType: 'application/json',
      body: JSON.stringify({ code: 'FAILED_PRECONDITION', message: 'a benchmark is already running', details: [] }) }));
    try {
      await page.locator('[data-testid="bench-start"]').click();
      await wait_for('the refusal toast', 5000, async () => /did not start/.test((await page.locator('[data-testid="toast"]').allTextContents()).join(' ')));
    } finally {
      await page.unroute(startUrl);
    }
    assert(await page.locator('[data-testid="bench-result"]').isVisible(), 'a refused start hid the last result');
    assert(Number(await chart.getAttribute('data-points')) === ptsBefore, 'a refused start cleared the chart');
    /* a (mixed) run stopped from the page: one "Benchmark stopped" toast, not one per path
     * that learns it; its result shows read and write MB/s apart */
    await page.locator('[data-testid="bench-type"]').selectOption('mixed');
    await page.locator('[data-testid="bench-concurrency"]').fill('2');
    await page.locator('[data-testid="bench-duration"]').fill('30');
    await page.locator('[data-testid="bench-start"]').click();
    await wait_for('the run going', 5000, async () => (await page.locator('[data-testid="bench-state"]').getAttribute('data-state')) === 'running');
    /* past the prefill: operations counted */
    await wait_for('operations counted', 10000, async () => Number(((await page.locator('#bench-live-count').textContent()) || '').replace(/[^0-9]/g, '')) > 0);
    await sleep(800);
    await page.locator('[data-testid="bench-stop"]').click();
    await wait_for('the stopped state', 8000, async () => (await page.locator('[data-testid="bench-state"]').getAttribute('data-state')) === 'stopped');
    await sleep(1500);
    const stopped = (await page.locator('[data-testid="toast"]').allTextContents()).filter((t) => /Benchmark stopped/.test(t));
    assert(stopped.length === 1, stopped.length + ' "Benchmark stopped" toasts: ' + stopped.join(' | '));
    const rmb = ((await page.locator('[data-testid="bench-result-read-mbps"]').textContent()) || '').trim();
    const wmb = ((await page.locator('[data-testid="bench-result-write-mbps"]').textContent()) || '').trim();
    assert(/^\d+\.\d\d MB\/s$/.test(rmb) && /^\d+\.\d\d MB\/s$/.test(wmb), 'a mixed result without read and write MB/s: "' + rmb + '", "' + wmb + '"');
    assert(Number.parseFloat(rmb) + Number.parseFloat(wmb) > 0, 'a mixed result moved no bytes');
    await page.locator('[data-testid="bench-type"]').selectOption('write');
    /* clean-up asks first and says how many; Cancel sends nothing */
    let cleanups = 0;
    const onreq = (r) => { if (r.url().includes('/_playground/benchmark/cleanup')) cleanups++; };
    page.on('request', onreq);
    try {
      await page.locator('[data-testid="bench-cleanup"]').click();
      await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 5000 });
      const msg = await page.locator('[data-testid="confirm-message"]').textContent();
      const m = /([\d,]+) items? written by benchmarks/.exec(msg);
      assert(m && Number(m[1].replace(/,/g, '')) > 0, 'the question does not say how many: ' + msg);
      await page.locator('[data-testid="confirm-cancel"]').click();
      await sleep(300);
      assert(cleanups === 0, 'Cancel still deleted the benchmark data');
      await page.locator('[data-testid="bench-cleanup"]').click();
      await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 5000 });
      await page.locator('[data-testid="confirm-force"]').click();
      await wait_for('the clean-up outcome', 20000, async () => /Deleted [\d,]+ benchmark items/.test((await page.locator('[data-testid="toast"]').allTextContents()).join(' ')));
      assert(cleanups === 1, cleanups + ' clean-up requests');
      await page.locator('[data-testid="bench-concurrency"]').fill(api_default_concurrency());
      await page.locator('[data-testid="bench-duration"]').fill('10');
      return 'result kept after a 409; 1 stop toast; mixed: read ' + rmb + ', write ' + wmb + '; asked "' + msg.slice(0, 60) + '…"';
    } finally {
      page.off('request', onreq);
    }
  });

  await check('a stop the run outlives (the gateway waits 5 s) is not announced as done: the end is, once, when it comes', async () => {
    await page.evaluate(() => document.getElementById('toasts').replaceChildren()); /* the last check's */
    const code = await post_status(base + '/_playground/benchmark/start', { type: 'write', concurrency: 1, duration_secs: 30, payload_size: 64 });
    assert(code === 202, 'start answered ' + code);
    const badge = page.locator('[data-testid="bench-state"]');
    await wait_for('the run shown running', 5000, async () => (await badge.getAttribute('data-state')) === 'running');
    /* the answer of a stop whose run has not ended within the gateway's wait (operations in
     * flight towards a frozen cluster): the status, still running */
    const st = await get_json(base + '/_playground/benchmark/status', 3000);
    const stopUrl = (u) => u.pathname === '/_playground/benchmark/stop';
    await page.route(stopUrl, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(st.data) }));
    const toasts = async () => (await page.locator('[data-testid="toast"]').allTextContents()).map((t) => t.replace(/×$/, '').trim());
    let said;
    try {
      await page.locator('[data-testid="bench-stop"]').click();
      said = await wait_for('the stop toast', 8000, async () => (await toasts()).find((t) => /^Stop asked/.test(t)) || null);
    } catch (e) {
      await http_req('POST', base + '/_playground/benchmark/stop'); /* no 30 s run left for the next checks */
      throw e;
    } finally {
      await page.unroute(stopUrl);
    }
    assert(!(await toasts()).some((t) => /^Benchmark stopped/.test(t)), 'announced stopped while running: ' + (await toasts()).join(' | '));
    assert((await badge.getAttribute('data-state')) === 'running', 'the badge says ' + await badge.getAttribute('data-state'));
    /* the run ends (here: a real stop): the stream's event announces it, once */
    const r = await http_req('POST', base + '/_playground/benchmark/stop');
    assert(r.status === 200, 'stop answered ' + r.status);
    await wait_for('the end announced', 8000, async () => (await toasts()).some((t) => /^Benchmark stopped \(/.test(t)));
    await sleep(500);
    const ends = (await toasts()).filter((t) => /^Benchmark stopped/.test(t));
    assert(ends.length === 1, ends.length + ' end toasts: ' + ends.join(' | '));
    return '"' + said.slice(0, 60) + '…", then "' + ends[0].slice(0, 60) + '…"';
  });

  await check('a read run stopped during its prefill: the badge shows the prefill, no 0.00 ms latency is shown, the result says nothing was measured', async () => {
    /* 100,000 keys to write first: seconds of prefill, in which Stop is pressed */
    const code = await post_status(base + '/_playground/benchmark/start', { type: 'read', concurrency: 2, duration_secs: 5, payload_size: 256, key_space: 100000 });
    assert(code === 202, 'start answered ' + code);
    const badge = page.locator('[data-testid="bench-state"]');
    await wait_for('the prefill shown', 5000, async () => /^prefill \d+%$/.test(((await badge.textContent()) || '').trim()));
    const live = {};
    for (const k of ['bench-live-ops', 'bench-live-p50', 'bench-live-p99']) live[k] = ((await page.locator('[data-testid="' + k + '"]').textContent()) || '').trim();
    assert(Object.values(live).every((v) => v === '—'), 'during the prefill the live figures are ' + JSON.stringify(live));
    await page.locator('[data-testid="bench-stop"]').click();
    await wait_for('the stopped state', 8000, async () => (await badge.getAttribute('data-state')) === 'stopped');
    const cfg = page.locator('[data-testid="bench-result-config"]');
    await wait_for('the result saying nothing was measured', 5000, async () => /during its prefill \([\d,]+ keys written\): nothing was measured/.test((await cfg.textContent()) || ''));
    for (const k of ['p50', 'p99', 'max']) {
      const t = ((await page.locator('[data-testid="bench-' + k + '"]').textContent()) || '').trim();
      assert(t === '—', 'the result\'s ' + k + ' shows ' + t);
    }
    const p50 = ((await page.locator('[data-testid="bench-live-p50"]').textContent()) || '').trim();
    assert(p50 === '—', 'after the stop p50 shows ' + p50);
    const said = await wait_for('the stop toast', 5000, async () => (await page.locator('[data-testid="toast"]').allTextContents()).find((t) => /Benchmark stopped during its prefill/.test(t)) || null);
    const clean = await http_req('POST', base + '/_playground/benchmark/cleanup');
    assert(clean.status === 200, 'clean-up answered ' + clean.status + ' ' + clean.text);
    return '"' + said.trim() + '"; ' + clean.text;
  });

  await check('a read run some of whose prefill writes failed says so beside its not_found errors', async () => {
    const code = await post_status(base + '/_playground/benchmark/start', { type: 'read', concurrency: 2, duration_secs: 0.5, payload_size: 16, key_space: 50 });
    assert(code === 202, 'start answered ' + code);
    await wait_for('the run to end', 20000, async () => { const r = await get_json(base + '/_playground/benchmark/status', 2000); return r.data && r.data.state === 'done'; }, 200);
    const p2 = await browser.newPage();
    try {
      /* the result of a run whose prefill met a lost quorum (reproduced by hand: 42 of 30,000
       * prefill writes failed, 17 reads NOT_FOUND) */
      await p2.route((u) => u.pathname === '/_playground/benchmark/status', async (route) => {
        const r = await route.fetch();
        const d = await r.json();
        if (d.result) { d.result.prefillErrors = 7; d.result.errors = 4; d.result.errorsByCode = { not_found: 4 }; }
        return route.fulfill({ response: r, body: JSON.stringify(d) });
      });
      await p2.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
      const cfg = p2.locator('[data-testid="bench-result-config"]');
      const said = await wait_for('the result line', 8000, async () => { const t = (await cfg.textContent()) || ''; return /7 of its 50 prefill writes failed: reads of their keys fail \(not_found\)/.test(t) ? t : null; });
      const clean = await http_req('POST', base + '/_playground/benchmark/cleanup');
      assert(clean.status === 200, 'clean-up answered ' + clean.status);
      return '"' + said.trim() + '"';
    } finally {
      await p2.close();
    }
  });

  await check('seven tabs share one event stream: all live, and the last can still write', async () => {
    const extra = [];
    try {
      for (let i = 0; i < 6; i++) {
        const p = await browser.newPage();
        extra.push(p);
        await p.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
      }
      for (const p of extra) await p.waitForSelector('[data-testid="conn-indicator"][data-state="live"]', { timeout: 10000 });
      const last = extra[extra.length - 1];
      await wait_for('node cards in the last tab (fed by the shared stream)', 10000, async () => (await last.locator('[data-testid="node-card"]').count()) === 3);
      const st = await last.evaluate(async () => {
        const ctl = new AbortController();
        setTimeout(() => ctl.abort(), 5000);
        const r = await fetch('/api/items', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'from tab 7' }), signal: ctl.signal });
        return r.status;
      });
      assert(st === 201, 'create from the 7th tab: ' + st);
      return '7 tabs live, create from the 7th: ' + st;
    } finally {
      for (const p of extra) await p.close();
    }
  });

  await check('an item created elsewhere in a page\'s first 3 s is listed there (no benchmark ran in it)', async () => {
    /* the page held back item events for 3 s after a benchmark's end, and its "last end" began
     * at 0: performance.now() counts from the page's load, so its first 3 s were such a time */
    /* a page live and listed within 2.5 s of its load: on a loaded machine that can take
     * longer, so up to three pages are tried (each one's first 3 s is what is tested) */
    const ages = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const p = await browser.newPage();
      try {
        await p.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
        await p.waitForSelector('[data-testid="conn-indicator"][data-state="live"]', { timeout: 10000 });
        await wait_for('the first list', 5000, async () => /\d/.test(await p.locator('[data-testid="items-total"]').textContent()));
        const before = await p.locator('[data-testid="items-total"]').textContent();
        const young = await p.evaluate(() => performance.now());
        ages.push(Math.round(young));
        if (young >= 2500) continue;
        assert(await post_status(base + '/api/items', { name: 'while the page is young' }) === 201, 'create refused');
        await wait_for('the count to change', 2500, async () => (await p.locator('[data-testid="items-total"]').textContent()) !== before);
        return (before + ' → ' + await p.locator('[data-testid="items-total"]').textContent()) + ', created ' + Math.round(young) + ' ms after the load';
      } finally {
        await p.close();
      }
    }
    throw new Error('no page was live and listed within 2.5 s of its load (' + ages.join(', ') + ' ms)');
  });

  await check('security: log in as viewer, a create is refused by role; the rate limiter and firewall react', async () => {
    const who = page.locator('[data-testid="sec-who"]');
    await wait_for('the anonymous identity', 5000, async () => /anonymous/.test(await who.textContent()));
    await wait_for('the demo users', 20000, async () => {
      if (/viewer · viewer/.test(await who.textContent())) return true;
      await page.selectOption('[data-testid="login-user"]', 'viewer', { timeout: 2000 });
      await page.fill('[data-testid="login-password"]', 'viewer', { timeout: 2000 });
      await page.click('[data-testid="login-btn"]', { timeout: 2000 });
      await sleep(400);
      return /viewer · viewer/.test(await who.textContent());
    }, 500);
    const code = await page.evaluate(async () => (await fetch('/api/items', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'as viewer' }) })).status);
    assert(code === 403, 'a viewer creates: ' + code);
    /* logged in: the form gives way to who it is; what a viewer may not do is disabled and
     * says which role it needs */
    await wait_for('the logged-in state', 3000, async () => /viewer/.test(await page.locator('[data-testid="login-state"]').textContent())
      && await page.locator('[data-testid="login-user"]').isHidden() && await page.locator('[data-testid="login-password"]').isHidden());
    const needs = async (sel) => { const b = page.locator(sel).first(); return (await b.isDisabled()) ? (await b.getAttribute('title')) || 'disabled, no title' : 'enabled'; };
    await wait_for('viewer controls disabled', 3000, async () => /editor role/.test(await needs('[data-testid="item-new"]')));
    for (const [sel, role] of [['[data-testid="item-new"]', 'editor'], ['[data-testid="bench-start"]', 'editor'], ['[data-testid="bench-cleanup"]', 'editor'],
      ['[data-testid="item-edit"]', 'editor'], ['[data-testid="node-kill"]', 'admin'], ['[data-testid="force-election"]', 'admin'], ['[data-testid="fw-add"]', 'admin']]) {
      const t = await needs(sel);
      assert(new RegExp('Needs the ' + role + ' role').test(t), sel + ' for a viewer: ' + t);
    }
    await page.click('[data-testid="rl-test"]');
    await wait_for('rejections shown', 5000, async () => Number(await page.locator('[data-testid="rl-result"]').getAttribute('data-refused') || 0) > 0);
    await page.fill('[data-testid="fw-test-ip"]', '10.1.2.3');
    await page.click('[data-testid="fw-test"]');
    await wait_for('a firewall verdict', 5000, async () => (await page.locator('[data-testid="fw-test-result"]').getAttribute('data-action')) === 'allow');
    await shot('10-security');
    let streams = 0;
    const onreq = (r) => { if (r.url().includes('/_playground/events')) streams++; };
    page.on('request', onreq);
    await sleep(1100); /* the stream renewed at login has lived a second (a younger one backs off) */
    const t0 = Date.now();
    await page.click('[data-testid="logout-btn"]');
    await wait_for('anonymous again', 5000, async () => /anonymous/.test(await who.textContent()));
    /* the logout ended the session's event stream (the login had renewed it under the
     * session): the page opened a new one at once, not after the server's 2 s retry, so
     * no lost-connection banner */
    await wait_for('a new stream after the logout', 3000, async () => streams > 0);
    await wait_for('the stream live again after the logout', 3000, async () =>
      (await page.locator('[data-testid="conn-indicator"]').getAttribute('data-state')) === 'live');
    const back = Date.now() - t0;
    page.off('request', onreq);
    assert(back < 1500, 'live again ' + back + ' ms after the logout');
    assert(await page.locator('[data-testid="conn-banner"]').isHidden(), 'the lost-connection banner showed after a logout');
    return (await page.locator('[data-testid="rl-result"]').textContent()).trim();
  });

  await check('roles: an editor may write but not control the cluster; an admin login shows as admin, not "viewer"', async () => {
    const who = page.locator('[data-testid="sec-who"]');
    const login = async (user) => {
      await page.selectOption('[data-testid="login-user"]', user);
      await page.fill('[data-testid="login-password"]', user);
      await page.click('[data-testid="login-btn"]');
      await wait_for(user + ' logged in', 5000, async () => new RegExp(user + ' · ' + user).test(await who.textContent()));
    };
    const logout = async () => {
      await page.click('[data-testid="logout-btn"]');
      await wait_for('anonymous again', 5000, async () => /anonymous/.test(await who.textContent()));
    };
    await login('editor');
    await wait_for('editor controls', 3000, async () => (await page.locator('[data-testid="item-new"]').isEnabled())
      && (await page.locator('[data-testid="node-kill"]').first().isDisabled()));
    assert(/Needs the admin role/.test(await page.locator('[data-testid="node-kill"]').first().getAttribute('title')), 'kill for an editor does not name the admin role');
    assert(await page.locator('[data-testid="fw-add"]').isDisabled(), 'an editor may add firewall rules');
    assert(await page.locator('[data-testid="bench-start"]').isEnabled(), 'an editor may not start a benchmark');
    await logout();
    await login('admin');
    const state = (await page.locator('[data-testid="login-state"]').textContent()).trim();
    assert(/admin/.test(state) && !/viewer/.test(state), 'logged-in state: ' + state);
    assert(await page.locator('[data-testid="login-user"]').isHidden(), 'the user select (reading "' + await page.locator('[data-testid="login-user"]').inputValue() + '") is still shown');
    assert(await page.locator('[data-testid="login-password"]').isHidden(), 'the password box is still shown');
    await wait_for('admin controls', 3000, async () => (await page.locator('[data-testid="node-kill"]:not([aria-disabled="true"])').count()) === 3);
    await shot('10b-logged-in-admin');
    await logout();
    return state;
  });

  /* fw_watch: the firewall rules' locator, their count now, and a count of the rule POSTs the
   * page sends until stop(). */
  async function fw_watch() {
    const fw = { rules: page.locator('[data-testid="fw-rule"]'), posts: 0 };
    fw.n0 = await fw.rules.count();
    const onreq = (r) => { if (r.method() === 'POST' && r.url().endsWith('/_playground/security/firewall')) fw.posts++; };
    page.on('request', onreq);
    fw.stop = () => page.off('request', onreq);
    return fw;
  }

  await check('firewall: a bad CIDR is shown at the field; a deny rule matching my own address asks first; "1 rule"', async () => {
    const fw = await fw_watch();
    const { rules, n0 } = fw;
    try {
      await page.fill('[data-testid="fw-cidr"]', '10.0.0.300/8');
      await page.click('[data-testid="fw-add"]');
      const err = page.locator('[data-testid="fw-cidr-error"]');
      await wait_for('the field error', 3000, async () => (await err.isVisible()) && /\S/.test(await err.textContent()));
      const ib = await page.locator('[data-testid="fw-cidr"]').boundingBox();
      const eb = await err.boundingBox();
      assert(eb.y >= ib.y + ib.height - 2 && eb.y - (ib.y + ib.height) < 60, 'the CIDR error is not next to the field');
      assert((await page.locator('[data-testid="fw-cidr"]').getAttribute('aria-invalid')) === 'true', 'field not aria-invalid');
      /* my own address (127.0.0.1 here), as a network, as an IPv4-mapped IPv6 address */
      const me = await page.evaluate(async () => (await (await fetch('/_playground/auth/me')).json()).address);
      for (const cidr of ['127.0.0.0/8', '::ffff:' + me]) {
        await page.fill('[data-testid="fw-cidr"]', cidr);
        await page.selectOption('[data-testid="fw-action"]', 'deny');
        await page.click('[data-testid="fw-add"]');
        await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
        const msg = await page.locator('[data-testid="confirm-message"]').textContent();
        assert(msg.includes('blocks your own address ' + me), cidr + ': ' + msg);
        await page.locator('[data-testid="confirm-cancel"]').click();
      }
      assert(await err.isHidden(), 'the field error stayed for a valid address');
      await sleep(300);
      assert(fw.posts === 0, fw.posts + ' rules sent without confirmation (or with a bad CIDR)');
      /* a rule that does not match me goes straight in; the count is singular */
      await page.fill('[data-testid="fw-cidr"]', '10.9.0.0/16');
      await page.selectOption('[data-testid="fw-action"]', 'deny');
      await page.click('[data-testid="fw-add"]');
      await wait_for('the rule listed', 5000, async () => (await rules.count()) === n0 + 1);
      assert(await page.locator('[data-testid="confirm-dialog"][open]').count() === 0, 'asked about a rule that does not block me');
      const count = await page.locator('[data-testid="fw-count"]').textContent();
      if (n0 === 0) assert(/^\(1 rule, /.test(count), 'count: ' + count);
      await shot('10c-firewall');
      await page.locator('[data-testid="fw-rule"]', { hasText: '10.9.0.0/16' }).locator('[data-testid="fw-rule-delete"]').click();
      await wait_for('the rule removed', 5000, async () => (await rules.count()) === n0);
      return count.trim();
    } finally {
      fw.stop();
    }
  });

  await check('item form: metadata sent as typed (big integers kept, 1e999 refused by name); a long name is said, not cut; Cancel asks, focus goes back', async () => {
    const meta = page.locator('[data-testid="field-metadata"]');
    const merr = page.locator('[data-testid="error-metadata"]');
    await page.locator('[data-testid="item-new"]').click();
    /* 250 characters pasted: kept whole, and the field says why it cannot be saved */
    await page.locator('[data-testid="field-name"]').fill('n'.repeat(250));
    assert((await page.locator('[data-testid="field-name"]').inputValue()).length === 250, 'the name was cut to ' + (await page.locator('[data-testid="field-name"]').inputValue()).length);
    await wait_for('the long-name message', 2000, async () => /at most 200 bytes \(this is 250\)/.test((await page.locator('[data-testid="error-name"]').textContent()) || ''));
    const name = 'exact ' + Date.now();
    await page.locator('[data-testid="field-name"]').fill(name);
    /* a number past a double's range: named in the message, nothing sent */
    await meta.fill('{"n": 1e999, "big": 12345678901234567890}');
    await wait_for('the out-of-range message', 2000, async () => /1e999/.test((await merr.textContent()) || '') && (await meta.getAttribute('aria-invalid')) === 'true');
    const merrText = (await merr.textContent()).trim();
    await meta.fill('{"a": 1, "a": 2}');
    await wait_for('the duplicate-key message', 2000, async () => /"a" appears twice/.test((await merr.textContent()) || ''));
    /* integers past 2^53 and numbers as written go to the server as typed */
    await meta.fill('{"big": 12345678901234567890, "f": 1.10}');
    await wait_for('the metadata accepted', 2000, async () => (await meta.getAttribute('aria-invalid')) !== 'true' && await page.locator('[data-testid="item-save"]').isEnabled());
    await page.locator('[data-testid="item-save"]').click();
    await wait_for('the form closed after Save', 5000, async () => page.locator('[data-testid="item-form"]').isHidden());
    const focusNew = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
    assert(focusNew === 'item-new', 'after Save the focus is on ' + focusNew);
    const list = await http_req('GET', base + '/api/items?name=' + encodeURIComponent(name));
    assert(/"metadata":\{"big":12345678901234567890,"f":1\.10\}/.test(list.text), 'the server holds ' + (/"metadata":\{[^}]*\}/.exec(list.text) || [list.text.slice(0, 200)])[0]);
    /* its Edit form shows the metadata as stored, not re-serialized by JSON.parse */
    await page.locator('[data-testid="filter-field"]').selectOption('name');
    await page.locator('[data-testid="filter-value"]').fill(name);
    await page.locator('[data-testid="filter-apply"]').click();
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: name }) });
    await wait_for('the item row', 5000, async () => (await row.count()) === 1);
    await row.locator('[data-testid="item-edit"]').click();
    await wait_for('the edit form', 5000, async () => page.locator('[data-testid="item-form"]').isVisible());
    const shown = await meta.inputValue();
    assert(shown.includes('12345678901234567890') && shown.includes('1.10'), 'the edit form shows ' + shown);
    /* Cancel on a changed form asks; Discard closes it and gives the focus back to Edit */
    await page.locator('[data-testid="field-description"]').fill('changed');
    await page.locator('[data-testid="item-cancel"]').click();
    await page.waitForSelector('[data-testid="confirm-dialog"][open]', { timeout: 3000 });
    await page.locator('[data-testid="confirm-force"]').click();
    await wait_for('the form closed', 3000, async () => page.locator('[data-testid="item-form"]').isHidden());
    const focusEdit = await page.evaluate(() => { const a = document.activeElement; return a && a.dataset.testid + ':' + (a.closest('[data-item-id]') || {}).dataset?.itemId; });
    assert(/^item-edit:/.test(focusEdit), 'after Cancel the focus is on ' + focusEdit);
    await page.locator('[data-testid="filter-field"]').selectOption('');
    return '"' + merrText.slice(0, 70) + '…"; stored exactly; focus back on Save and Cancel';
  });

  await check('deleting the last rows of the last page steps back to the previous page', async () => {
    for (let i = 0; i < 12; i++) await post_status(base + '/api/items', { name: 'tail ' + i });
    await page.locator('[data-testid="page-size"]').selectOption('10');
    await wait_for('Next offered', 8000, async () => page.locator('[data-testid="page-next"]').isEnabled());
    for (let k = 0; k < 30 && await page.locator('[data-testid="page-next"]').isEnabled(); k++) {
      const before = await page.locator('[data-testid="page-info"]').textContent();
      await page.locator('[data-testid="page-next"]').click();
      await wait_for('the next page', 5000, async () => (await page.locator('[data-testid="page-info"]').textContent()) !== before);
    }
    const last = Number(/Page (\d+)/.exec(await page.locator('[data-testid="page-info"]').textContent())[1]);
    assert(last >= 2, 'only one page');
    const ids = await page.locator('[data-testid="item-row"]').evaluateAll((r) => r.map((x) => x.dataset.itemId));
    for (const id of ids) await http_req('DELETE', base + '/api/items/' + id);   /* another client empties it */
    await wait_for('the previous page', 8000, async () => new RegExp('Page ' + (last - 1) + ' · [1-9]').test(await page.locator('[data-testid="page-info"]').textContent())
      && (await page.locator('[data-testid="item-row"]').count()) > 0);
    const info = (await page.locator('[data-testid="page-info"]').textContent()).trim();
    await page.locator('[data-testid="page-size"]').selectOption('20');
    return 'page ' + last + ' emptied (' + ids.length + ' rows) → "' + info + '"';
  });

  await check('an item created here and kept above page 1 follows a change made elsewhere, goes when deleted elsewhere, and is not listed under a filter it does not match', async () => {
    /* a full first page of older items: the new one (the newest id) is not among its rows */
    for (let i = 0; i < 11; i++) await post_status(base + '/api/items', { name: 'older ' + i });
    await page.locator('[data-testid="page-size"]').selectOption('10');
    await wait_for('Next offered', 8000, async () => page.locator('[data-testid="page-next"]').isEnabled());
    const name = 'made here ' + Date.now();
    await page.locator('[data-testid="item-new"]').click();
    await page.locator('[data-testid="field-name"]').fill(name);
    await page.locator('[data-testid="item-save"]').click();
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: name }) });
    await wait_for('the new row', 5000, async () => (await row.count()) === 1);
    const id = await row.getAttribute('data-item-id');
    const put = await http_req('PUT', base + '/api/items/' + encodeURIComponent(id), { name: name + ' renamed elsewhere' });
    assert(put.status === 200, 'PUT answered ' + put.status);
    const byId = page.locator('[data-testid="item-row"][data-item-id="' + id + '"]');
    await wait_for('the change made elsewhere', 5000, async () => (await byId.count()) === 1
      && /renamed elsewhere/.test(await byId.locator('[data-testid="item-name"]').textContent())
      && (await byId.locator('[data-testid="item-version"]').textContent()) === '2');
    const del = await http_req('DELETE', base + '/api/items/' + encodeURIComponent(id));
    assert(del.status === 204, 'DELETE answered ' + del.status);
    await wait_for('the row gone once deleted elsewhere', 5000, async () => (await byId.count()) === 0);
    /* created under a filter it does not match (a draft while archived items are listed) */
    await page.locator('[data-testid="filter-field"]').selectOption('status');
    await page.locator('[data-testid="filter-status"]').selectOption('archived');
    await page.locator('[data-testid="filter-apply"]').click();
    await wait_for('the filtered list', 5000, async () => /matching/.test(await page.locator('[data-testid="items-total"]').textContent()));
    const name2 = 'draft here ' + Date.now();
    await page.locator('[data-testid="item-new"]').click();
    await page.locator('[data-testid="field-name"]').fill(name2);
    await page.locator('[data-testid="item-save"]').click();
    await wait_for('the form closed after Save', 5000, async () => page.locator('[data-testid="item-form"]').isHidden());
    await sleep(800); /* the reload after Save */
    const shown = await page.locator('[data-testid="item-row"]').evaluateAll((r) => r.map((x) => x.querySelector('.status').textContent));
    assert(!shown.some((s) => s !== 'archived'), 'under the archived filter the rows are ' + shown.join(', '));
    await page.locator('[data-testid="filter-field"]').selectOption('');
    await page.locator('[data-testid="filter-apply"]').click();
    await page.locator('[data-testid="page-size"]').selectOption('20');
    return 'renamed and deleted elsewhere, followed; ' + shown.length + ' archived rows under the filter';
  });

  await check('benchmark: a run from another client shows its settings after a reload; the result names them; its error breakdown is whole; unsent operations are said; axis labels are exact', async () => {
    const p2 = await browser.newPage();
    try {
      const code = await post_status(base + '/_playground/benchmark/start', { type: 'write', concurrency: 2, duration_secs: 8, payload_size: 128 });
      assert(code === 202 || code === 200, 'start answered ' + code);
      await p2.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
      /* within the run's 8 s: a loaded machine took up to 2.9 s to show it (QA) */
      await wait_for('the run shown running', 7000, async () => (await p2.locator('[data-testid="bench-state"]').getAttribute('data-state')) === 'running');
      const form = await p2.evaluate(() => ['bench-type', 'bench-concurrency', 'bench-duration', 'bench-payload'].map((id) => document.getElementById(id).value).join('/'));
      assert(form === 'write/2/8/128', 'the form beside RUNNING shows ' + form);
      assert(await p2.locator('[data-testid="bench-concurrency"]').isDisabled(), 'the running run\'s settings are editable');
      assert(/running/i.test((await p2.locator('[data-testid="bench-start"]').getAttribute('title')) || ''), 'Start does not say why it is off');
      await p2.waitForSelector('[data-testid="bench-result"]:not([hidden])', { timeout: 15000 });
      const cfg = (await p2.locator('[data-testid="bench-result-config"]').textContent()).trim();
      assert(/Write · 2 clients · 8 s · 128-byte payload/.test(cfg), 'the result says ' + cfg);
      /* an error breakdown is shown whole (it wraps), and in the tooltip */
      const statusUrl = (u) => u.pathname === '/_playground/benchmark/status';
      await p2.route(statusUrl, async (route) => {
        const r = await route.fetch();
        const d = await r.json();
        if (d.result) { d.result.errors = 16; d.result.errorsByCode = { deadline_exceeded: 12, unavailable: 3, resource_exhausted: 1 }; d.result.unsent = 1234; }
        return route.fulfill({ response: r, body: JSON.stringify(d) });
      });
      await p2.reload({ waitUntil: 'load' });
      const errs = p2.locator('[data-testid="bench-result-errors"]');
      await wait_for('the error breakdown', 8000, async () => /deadline_exceeded 12/.test((await errs.textContent()) || ''));
      const cut = await errs.evaluate((e) => e.scrollWidth - e.clientWidth);
      assert(cut <= 1, 'the error breakdown is cut by ' + cut + ' px');
      assert(/resource_exhausted 1/.test((await errs.evaluate((e) => e.closest('[title]') && e.closest('[title]').title)) || ''), 'no tooltip with the whole breakdown');
      /* an open-loop run that fell behind says what it never sent (they are not in the operations) */
      const said = (await p2.locator('[data-testid="bench-result-config"]').textContent()).trim();
      assert(/1,234 operations due at its rate were never sent/.test(said), 'the unsent operations are not said: ' + said);
      await p2.unroute(statusUrl);
      await p2.setViewportSize({ width: 1440, height: 900 });
      await p2.locator('[data-testid="bench-result"]').scrollIntoViewIfNeeded();
      await p2.screenshot({ path: path.join(SHOTS, '07b-benchmark-result-config.png') });
    } finally {
      await p2.close();
    }
    /* every label of the throughput chart's axes is exact, whatever its step (p99 in ms on the right) */
    const bad = await page.evaluate(async () => {
      const c = window.__lpCharts.bench;
      const out = [];
      for (const top of [0.08, 0.3, 0.8, 1.6, 3, 7, 40]) {
        c.clear();
        for (let i = 0; i <= 10; i++) c.push(i, [i * 137, (top * i) / 10]);
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        for (const ax of [1, 2]) {
          const a = c.plot.axes[ax];
          (a._splits || []).forEach((v, k) => {
            const label = String(a._values[k]);
            const n = Number(label.replace(/k$/, '')) * (/k$/.test(label) ? 1000 : 1);
            if (!(Math.abs(n - v) <= 1e-9 * Math.max(1, Math.abs(v)))) out.push(top + ': ' + v + ' labelled ' + label);
          });
        }
      }
      c.clear();
      return out;
    });
    assert(bad.length === 0, 'inexact axis labels: ' + bad.slice(0, 6).join(', '));
    return 'settings after reload and in the result; breakdown whole; axis labels exact';
  });

  await check('session across tabs: a login or logout in one tab shows in the other; a 403 re-reads who I am; an empty password is not sent; Log out and benchmark fields say their state', async () => {
    const who = page.locator('[data-testid="sec-who"]');
    await wait_for('anonymous here', 5000, async () => /anonymous/.test(await who.textContent()));
    const p2 = await browser.newPage();
    try {
      await p2.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
      await wait_for('the login form in tab 2', 5000, async () => p2.locator('[data-testid="login-btn"]').isVisible());
      /* an empty password: said at the field, nothing sent */
      let logins = 0;
      const onreq = (r) => { if (r.url().endsWith('/_playground/auth/login')) logins++; };
      p2.on('request', onreq);
      await p2.selectOption('[data-testid="login-user"]', 'viewer');
      await p2.fill('[data-testid="login-password"]', '');
      await p2.click('[data-testid="login-btn"]');
      await wait_for('the password message', 2000, async () => /password/i.test((await p2.locator('[data-testid="login-password-error"]').textContent()) || ''));
      assert((await p2.locator('[data-testid="login-password"]').getAttribute('aria-invalid')) === 'true', 'the password box is not aria-invalid');
      await sleep(200);
      assert(logins === 0, logins + ' logins sent with an empty password');
      p2.off('request', onreq);
      await p2.fill('[data-testid="login-password"]', 'viewer');
      await p2.click('[data-testid="login-btn"]');
      await wait_for('viewer in tab 2', 5000, async () => /viewer · viewer/.test(await p2.locator('[data-testid="sec-who"]').textContent()));
      /* tab 1, untouched, follows */
      await wait_for('viewer in tab 1', 3000, async () => /viewer · viewer/.test(await who.textContent()) && await page.locator('[data-testid="item-new"]').isDisabled());
      /* Log out shows it is busy while the request runs */
      const logoutUrl = (u) => u.pathname === '/_playground/auth/logout';
      await p2.route(logoutUrl, async (route) => { await sleep(600); return route.continue(); });
      await p2.click('[data-testid="logout-btn"]');
      await sleep(200);
      const busyNow = await p2.locator('[data-testid="logout-btn"]').evaluate((b) => b.getAttribute('aria-disabled') === 'true' && b.classList.contains('is-busy'));
      await wait_for('anonymous in tab 2', 5000, async () => /anonymous/.test(await p2.locator('[data-testid="sec-who"]').textContent()));
      await p2.unroute(logoutUrl);
      assert(busyNow, 'Log out showed no busy state');
      await wait_for('anonymous in tab 1', 3000, async () => /anonymous/.test(await who.textContent()) && await page.locator('[data-testid="item-new"]').isEnabled());
    } finally {
      await p2.close();
    }
    /* a session changed with no word to this tab (a login by fetch, as another client would):
     * the first 403 makes the page ask who it is */
    await page.evaluate(async () => { await fetch('/_playground/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'viewer', password: 'viewer' }) }); });
    await sleep(300);
    assert(/anonymous/.test(await who.textContent()), 'the page learnt of the login without being told');
    await page.evaluate(() => window.LP.api.request('POST', '/api/items', { body: { name: 'as a viewer' } }).catch(() => null));
    await wait_for('viewer after the 403', 3000, async () => /viewer · viewer/.test(await who.textContent()));
    await page.click('[data-testid="logout-btn"]');
    await wait_for('anonymous again', 5000, async () => /anonymous/.test(await who.textContent()));
    /* a benchmark field in error is aria-invalid, as the item form's */
    await page.locator('[data-testid="bench-concurrency"]').fill('0');
    await page.locator('[data-testid="bench-start"]').click();
    await wait_for('the concurrency error', 2000, async () => (await page.locator('[data-testid="bench-concurrency"]').getAttribute('aria-invalid')) === 'true');
    await page.locator('[data-testid="bench-concurrency"]').fill(api_default_concurrency());
    await wait_for('the error cleared as typed', 2000, async () => (await page.locator('[data-testid="bench-concurrency"]').getAttribute('aria-invalid')) !== 'true'
      && ((await page.locator('[data-testid="bench-concurrency-error"]').textContent()) || '') === '');
    return 'login and logout followed by the other tab; 403 → whoami; empty password kept; Log out busy; aria-invalid';
  });

  await check('firewall Add: a double click adds one rule; the same rule again is refused at the field; the note\'s 256 bytes are checked as typed', async () => {
    const fw = await fw_watch();
    const { rules, n0 } = fw;
    try {
      await page.fill('[data-testid="fw-cidr"]', '10.77.0.0/16');
      await page.selectOption('[data-testid="fw-action"]', 'deny');
      await page.fill('[data-testid="fw-note"]', 'twice?');
      await page.dblclick('[data-testid="fw-add"]');
      await wait_for('the rule listed', 5000, async () => (await rules.count()) === n0 + 1);
      await sleep(800);
      assert(fw.posts === 1 && (await rules.count()) === n0 + 1, fw.posts + ' POSTs, ' + ((await rules.count()) - n0) + ' rules for a double click');
      /* the same network and action again (written another way): refused in the page */
      await page.fill('[data-testid="fw-cidr"]', '10.77.1.2/16');
      await page.click('[data-testid="fw-add"]');
      const err = page.locator('[data-testid="fw-cidr-error"]');
      await wait_for('the duplicate message', 3000, async () => /exists already/.test((await err.textContent()) || ''));
      await sleep(300);
      assert(fw.posts === 1, 'an identical rule was sent');
      /* the note: 257 bytes → a message by the field as typed, and Add waits */
      await page.fill('[data-testid="fw-cidr"]', '10.78.0.0/16');
      await page.fill('[data-testid="fw-note"]', 'é'.repeat(128) + 'x');
      const nerr = page.locator('[data-testid="fw-note-error"]');
      await wait_for('the note message', 2000, async () => /at most 256 bytes \(this is 257\)/.test((await nerr.textContent()) || '') && await page.locator('[data-testid="fw-add"]').isDisabled());
      await page.fill('[data-testid="fw-note"]', 'é'.repeat(128));
      await wait_for('the note message gone', 2000, async () => ((await nerr.textContent()) || '') === '' && await page.locator('[data-testid="fw-add"]').isEnabled());
      /* a network typed with host bits set is stored as its network: the toast names the rule
       * the list shows (it named 10.79.1.2/16 beside a listed 10.79.0.0/16) */
      await page.fill('[data-testid="fw-cidr"]', '10.79.1.2/16');
      await page.fill('[data-testid="fw-note"]', '');
      await page.click('[data-testid="fw-add"]');
      await wait_for('the rule listed as its network', 5000, async () => (await page.locator('[data-testid="fw-rule"]', { hasText: '10.79.0.0/16' }).count()) === 1);
      const said = await wait_for('the toast', 3000, async () => (await page.locator('[data-testid="toast"]').allTextContents()).find((t) => /Firewall rule added/.test(t) && /10\.79\./.test(t)));
      assert(/Firewall rule added: deny 10\.79\.0\.0\/16 \(the network 10\.79\.1\.2\/16 names/.test(said), 'the toast says: ' + said);
      await page.locator('[data-testid="fw-rule"]', { hasText: '10.79.0.0/16' }).locator('[data-testid="fw-rule-delete"]').click();
      await page.fill('[data-testid="fw-cidr"]', '');
      await page.fill('[data-testid="fw-note"]', '');
      await page.locator('[data-testid="fw-rule"]', { hasText: '10.77.0.0/16' }).locator('[data-testid="fw-rule-delete"]').click();
      await wait_for('the rule removed', 5000, async () => (await rules.count()) === n0);
      return 'one rule for a double click; duplicate refused; note 257 bytes said as typed; the toast names the stored network';
    } finally {
      fw.stop();
    }
  });

  await check('cluster events: a flapping circuit breaker is one counted line; the kill stays in the strip', async () => {
    /* events as a second tab gets them: from the tab that holds the stream, over its channel */
    const p2 = await browser.newPage();
    try {
      await p2.goto(base + '/', { waitUntil: 'load', timeout: 20000 });
      await p2.waitForSelector('[data-testid="conn-indicator"][data-state="live"]', { timeout: 10000 });
      await wait_for('cards in tab 2', 5000, async () => (await p2.locator('[data-testid="node-card"]').count()) === 3);
      const id = await p2.locator('[data-testid="node-card"]:not([data-role="leader"])').first().getAttribute('data-node-id');
      const n = Number(id);
      await page.evaluate((n) => {
        const bc = new BroadcastChannel('lithair-sse');
        const list = [['node', JSON.stringify({ id: n, state: 'killed', pid: 1, signal: 'SIGKILL' })]];
        for (let i = 0; i < 8; i++) list.push(['circuit', JSON.stringify({ node: n, url: '', from: i % 2 ? 'half_open' : 'open', to: i % 2 ? 'open' : 'half_open' })]);
        bc.postMessage({ kind: 'events', list });
        bc.close();
      }, n);
      await wait_for('the circuit line', 3000, async () => (await p2.locator('#cluster-log li', { hasText: 'circuit to node ' + n }).count()) > 0);
      const lines = await p2.locator('#cluster-log li').allTextContents();
      const circ = lines.filter((l) => l.includes('circuit to node ' + n));
      assert(circ.length === 1, circ.length + ' circuit lines: ' + lines.join(' | '));
      assert(Number((/×(\d+)/.exec(circ[0]) || [])[1]) >= 8, 'the line does not count the changes: ' + circ[0]);
      assert(lines.some((l) => new RegExp('Node ' + n + ' killed').test(l)), 'the kill was pushed out: ' + lines.join(' | '));
      return circ[0];
    } finally {
      await p2.close();
    }
  });

  await check('a control that may not be used says why, and is reached by keyboard', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForSelector('[data-testid="node-restart"][aria-disabled="true"]', { timeout: 5000 });
    const untitled = await page.evaluate(() => [...document.querySelectorAll('button, select, input')]
      .filter((b) => !b.classList.contains('is-busy') && (b.disabled || b.getAttribute('aria-disabled') === 'true'))
      .filter((b) => !(b.title || '').trim() && !b.closest('[hidden]'))
      .map((b) => b.dataset.testid || b.id));
    assert(untitled.length === 0, 'off without a reason: ' + untitled.join(', '));
    /* a Restart of a running node: focusable, says why, and Enter does nothing */
    let restarts = 0;
    const onreq = (r) => { if (r.url().includes('/_playground/cluster/restart/')) restarts++; };
    page.on('request', onreq);
    try {
      const r = page.locator('[data-testid="node-restart"]').first();
      await r.focus();
      const focused = await r.evaluate((b) => document.activeElement === b);
      assert(focused, 'the disabled Restart cannot be focused');
      const why = await r.getAttribute('title');
      assert(/is running/.test(why || ''), 'Restart on a running node says "' + why + '"');
      await page.keyboard.press('Enter');
      await sleep(300);
      assert(restarts === 0, 'Enter on the disabled Restart sent a restart');
      await shot('13-disabled-reason-focus');
      return 'Restart: "' + why + '"';
    } finally {
      page.off('request', onreq);
    }
  });

  await check('rate limit: a 429 on the items shows "rate limited — retrying in N s" and retries; the limiter\'s figures are shown', async () => {
    let served429 = 0;
    const itemsUrl = (u) => u.pathname === '/api/items';
    const statusUrl = (u) => u.pathname === '/_playground/security/status';
    await page.route(itemsUrl, (route) => {
      if (route.request().method() === 'GET' && served429 === 0) {
        served429++;
        return route.fulfill({ status: 429, headers: { 'Retry-After': '2' }, contentType: 'application/json',
          body: JSON.stringify({ code: 'RESOURCE_EXHAUSTED', message: 'rate limit: too many requests from your address', details: [] }) });
      }
      return route.continue();
    });
    /* the gateway here runs without --rate-limit: its status is given the figures a limited one has */
    await page.route(statusUrl, async (route) => {
      const r = await route.fetch();
      const d = await r.json();
      d.rateLimit = { perSecond: 5, burst: 10, accepted: 42, rejected: 3 };
      return route.fulfill({ response: r, json: d });
    });
    try {
      const rows0 = await page.locator('[data-testid="item-row"]').count();
      await page.click('[data-testid="items-refresh"]');
      const st = page.locator('[data-testid="items-status"]');
      await wait_for('the rate-limited notice', 3000, async () => (await st.isVisible()) && /rate limited — retrying in [12] s/i.test(await st.textContent()));
      const said = (await st.textContent()).trim();
      assert((await page.locator('[data-testid="item-row"]').count()) === rows0, 'the rows were wiped by a 429');
      await wait_for('the retry loaded the items', 6000, async () => (await st.isHidden()) && (await page.locator('[data-testid="item-row"]').count()) > 0);
      await wait_for('the limiter figures', 3000, async () => /5 requests\/s per address, burst 10 — 42 accepted, 3 refused/.test(await page.locator('[data-testid="rl-config"]').textContent()));
      return '"' + said + '"; ' + (await page.locator('[data-testid="rl-config"]').textContent()).trim().slice(0, 80);
    } finally {
      await page.unroute(itemsUrl);
      await page.unroute(statusUrl);
    }
  });

  await check('phone (390×844): compact header, whole stat values, item actions in reach', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await sleep(600);
    const r = await page.evaluate(() => {
      const top = document.querySelector('.topbar');
      const cut = [...document.querySelectorAll('.stat-value, .stat-label')].filter((e) => e.offsetParent && (e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > e.parentElement.getBoundingClientRect().right + 1)).map((e) => e.textContent);
      return { h: top.getBoundingClientRect().height, pos: getComputedStyle(top).position, cut, over: document.documentElement.scrollWidth - document.documentElement.clientWidth };
    });
    await shot('11-phone-top');
    assert(r.pos !== 'sticky' || r.h <= 64, 'a sticky header ' + Math.round(r.h) + ' px tall');
    assert(r.h <= 110, 'the header is ' + Math.round(r.h) + ' px tall');
    assert(r.cut.length === 0, 'cut stat values: ' + r.cut.join(', '));
    assert(r.over <= 1, 'the page overflows by ' + r.over + ' px');
    const row = page.locator('[data-testid="item-row"]').first();
    await row.scrollIntoViewIfNeeded();
    for (const tid of ['item-history', 'item-edit', 'item-delete']) {
      const b = await row.locator('[data-testid="' + tid + '"]').boundingBox();
      assert(b && b.x >= 0 && b.x + b.width <= 390, tid + ' is off-screen at x=' + (b && Math.round(b.x)));
    }
    await shot('12-phone-items');
    await page.setViewportSize({ width: 1280, height: 800 });
    return 'header ' + Math.round(r.h) + ' px (' + r.pos + ')';
  });

  await check('desktop (1280 and 1024 px): beside a long name every row\'s History, Edit and Delete are in view, the name ends in "…" and is whole on hover', async () => {
    /* the name cell was 220 px wide whatever the room: at 1280 px Delete was cut at the table's
     * edge, behind a horizontal scroll */
    const long = 'A rather long item name that the table cannot show whole ' + Date.now();
    assert(await post_status(base + '/api/items', { name: long }) === 201, 'create refused');
    await page.locator('[data-testid="filter-field"]').selectOption('name');
    await page.locator('[data-testid="filter-value"]').fill(long);
    await page.locator('[data-testid="filter-apply"]').click();
    const row = page.locator('[data-testid="item-row"]', { has: page.locator('[data-testid="item-name"]', { hasText: long }) });
    await wait_for('the long-named row', 5000, async () => (await row.count()) === 1);
    const seen = [];
    try {
      for (const w of [1280, 1024]) {
        await page.setViewportSize({ width: w, height: 800 });
        await sleep(400);
        const r = await page.evaluate(() => {
          const wrap = document.querySelector('.panel-data .table-wrap');
          const right = wrap.getBoundingClientRect().right;
          const cut = [...document.querySelectorAll('[data-testid="item-row"] .row-actions .btn')].filter((b) => b.getBoundingClientRect().right > right + 1).map((b) => b.textContent);
          const name = document.querySelector('[data-testid="item-row"] [data-testid="item-name"]');
          return { over: wrap.scrollWidth - wrap.clientWidth, cut, ellipsis: name.scrollWidth > name.clientWidth, title: name.title };
        });
        assert(r.over <= 1 && r.cut.length === 0, w + ' px: the table scrolls by ' + r.over + ' px; cut: ' + r.cut.join(', '));
        assert(r.ellipsis, w + ' px: the long name is not shortened');
        assert(r.title.split('\n')[0] === long, w + ' px: the hover text is ' + JSON.stringify(r.title));
        seen.push(w + ' px ok');
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.locator('[data-testid="filter-field"]').selectOption('');
      await page.locator('[data-testid="filter-apply"]').click();
    }
    return seen.join('; ');
  });

  await check('narrow window (1024 px): no horizontal overflow', async () => {
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await sleep(600);
    const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await shot('08-narrow-1024');
    await page.setViewportSize({ width: 1280, height: 800 });
    assert(over <= 1, 'the page overflows horizontally by ' + over + ' px');
    return '';
  });

  let expectNetErrors = false;
  if (!EXTERNAL_URL) {
    await check('--anonymous-role none: before a login and after a logout the page says "Not logged in", not that the gateway is unreachable; the cluster controls name the role they need', async () => {
      /* a second gateway on the same nodes (attach mode), for anonymous clients with no role;
       * reached as localhost so that this page's cookie (127.0.0.1) is not sent to it */
      const st = await get_json(base + '/_playground/cluster/status', 3000);
      const nodes = (st.data && st.data.nodes) || [];
      assert(nodes.length === 3 && nodes.every((n) => n.rpcUrl && n.eventsUrl), 'node URLs: ' + JSON.stringify(nodes).slice(0, 200));
      const port2 = await free_port();
      const args = ['--listen', String(port2), '--frontend', path.join(ROOT, 'frontend'), '--anonymous-role', 'none'];
      for (const n of nodes) args.push('--node', n.id + ',' + n.rpcUrl + ',' + n.eventsUrl);
      const gw2 = pg.spawn(pg.gatewayBin, args, { stdio: ['ignore', 'ignore', 'ignore'] });
      const p2 = await browser.newPage();
      try {
        const base2 = 'http://localhost:' + port2;
        await wait_for('the second gateway', 10000, async () => (await get_json('http://127.0.0.1:' + port2 + '/healthz', 1000)).status === 200, 200);
        await p2.goto(base2 + '/');
        const conn = p2.locator('[data-testid="conn-indicator"]');
        const refused = async () => {
          await wait_for('"Not logged in"', 8000, async () => (await conn.textContent()).trim() === 'Not logged in');
          await sleep(2000); /* past the 1.5 s after which a lost stream is called unreachable */
          assert((await conn.textContent()).trim() === 'Not logged in', 'the indicator says ' + await conn.textContent());
          assert(await p2.locator('[data-testid="conn-banner"]').isHidden(), 'the "reconnecting" banner shows');
          const head = (await p2.locator('#header-leader').textContent()).trim();
          assert(!/unreachable/.test(head), 'the header says "' + head + '"');
          for (const [tid, why] of [['force-election', /Needs the admin role/], ['snapshot', /Needs the admin role/], ['item-new', /Needs the editor role/], ['items-refresh', /Log in first/]]) {
            const b = p2.locator('[data-testid="' + tid + '"]');
            const title = (await b.getAttribute('title')) || '';
            assert(await b.isDisabled(), tid + ' is offered');
            assert(why.test(title) && !/unreachable/.test(title), tid + ' says "' + title + '"');
          }
        };
        await refused();
        await p2.locator('[data-testid="login-user"]').selectOption('viewer');
        await p2.locator('[data-testid="login-password"]').fill('viewer');
        await p2.locator('[data-testid="login-btn"]').click();
        await wait_for('Live once logged in', 8000, async () => (await conn.textContent()).trim() === 'Live');
        await p2.locator('[data-testid="logout-btn"]').click();
        await refused();
        return 'refused stream said as such, before the login and after the logout';
      } finally {
        await p2.close();
        gw2.kill('SIGTERM');
        const end = Date.now() + 5000;
        while (gw2.exitCode == null && gw2.signalCode == null && Date.now() < end) await sleep(50);
        if (gw2.exitCode == null && gw2.signalCode == null) gw2.kill('SIGKILL');
      }
    });

    await check('gateway stopped: the lost stream is shown; back again: live with no reload', async () => {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.evaluate(() => { window.__e2eNoReload = true; });
      expectNetErrors = true;
      /* the cluster log's lines so far: an election logged by an earlier check (with its own
       * time without a leader) is not this downtime's */
      const linesBefore = new Set(await page.locator('#cluster-log li').allTextContents());
      await pg.stop_gateway();
      await page.waitForSelector('[data-testid="conn-indicator"]:not([data-state="live"])', { timeout: 5000 });
      await page.waitForSelector('[data-testid="conn-banner"]:not([hidden])', { timeout: 6000 });
      /* nothing is known while the gateway is away: no leader claimed, no action offered */
      await wait_for('the lost-gateway header and disabled actions', 3000, async () =>
        /unknown/.test(await page.locator('#header-leader').textContent()) &&
        (await page.locator('[data-testid="node-kill"]:not([aria-disabled="true"])').count()) === 0);
      /* what needs the gateway is off and says why; the quorum is unknown, not 0/3 */
      for (const tid of ['bench-start', 'item-new', 'items-refresh', 'force-election']) {
        const b = page.locator('[data-testid="' + tid + '"]');
        await wait_for(tid + ' off with the reason', 3000, async () => (await b.isDisabled()) && /gateway is unreachable/.test((await b.getAttribute('title')) || ''));
      }
      const quorum = (await page.locator('[data-testid="header-quorum"]').textContent()).trim();
      assert(/unknown/i.test(quorum) && !/0\/3/.test(quorum), 'the quorum pill with the gateway away: "' + quorum + '"');
      await shot('09-connection-lost');
      const t0 = Date.now();
      await pg.restart();
      await page.waitForSelector('[data-testid="conn-indicator"][data-state="live"]', { timeout: 20000 });
      /* "Live" and the header agree at once: no "unreachable" beside Live */
      await sleep(300);
      const head = (await page.locator('#header-leader').textContent()).trim();
      assert(!/unreachable/.test(head), 'Live, but the header says "' + head + '"');
      await wait_for('three cards and one leader again', 15000, async () => (await cards().count()) === 3 && (await leaderId()));
      assert(await page.evaluate(() => window.__e2eNoReload === true), 'the page was reloaded');
      assert(await page.locator('[data-testid="conn-banner"]').isHidden(), 'the banner stayed after reconnecting');
      /* the gateway's own downtime is not counted as time without a leader */
      await sleep(500);
      const lines = await page.locator('#cluster-log li').allTextContents();
      const counted = lines.filter((l) => { const m = /(\d+) ms without a leader/.exec(l); return m && !linesBefore.has(l) && Number(m[1]) >= Date.now() - t0; });
      assert(counted.length === 0, 'the downtime counted as an election: ' + counted.join(' | '));
      await wait_for('the actions back', 5000, async () => await page.locator('[data-testid="item-new"]').isEnabled());
      return 'live again ' + (Date.now() - t0) + ' ms after the gateway was started again; quorum "' + quorum + '" meanwhile; ' + (lines.find((l) => /leader/.test(l)) || '');
    });
  }

  await check('no uncaught page errors and no console errors besides expected HTTP 4xx answers', async () => {
    const unexpected = consoleErrors.filter((t) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(t)
      && !(expectNetErrors && /net::ERR_|EventSource|Failed to load resource/.test(t)));
    assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join(' | '));
    assert(unexpected.length === 0, 'console errors: ' + unexpected.join(' | '));
    return consoleErrors.length + ' expected 4xx console lines';
  });

  if (process.env.LITHAIR_E2E_UPDATE_DOCS === '1' && run.failed === 0) {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    for (const f of shots) fs.copyFileSync(f, path.join(DOCS_SHOTS, path.basename(f)));
    log('copied ' + shots.length + ' screenshots into docs/screenshots/');
  }
}

run_main(run, pg, main);
