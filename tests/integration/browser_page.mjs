// The page netpulse-server serves at / (web/), driven in headless Chromium
// the way a person would use it, next to the official ndt7 browser client.
//
// Usage (under with_server.sh, which starts the server and validates every
// data file it wrote):
//   node browser_page.mjs --server 127.0.0.1:PORT --scheme http|https
//        --datadir DIR --out DIR [--rpm-ms 3000] [--idle-ms 1000]
//        [--min-ratio 0.9] [--rounds 1] [--timeout 150]
//
// One run against one server:
//  1. the page: loaded from <scheme>://SERVER/ in a fresh context; before
//     consent the Start button is disabled and nothing but the page's own
//     files was requested; the policy link answers; the keyboard alone
//     accepts the policy and starts the test; the page runs ndt7 and the
//     browser RPM variant (phases shortened by ?rpm_ms=&idle_ms=) and shows
//     download, upload, idle and loaded latency and RPM;
//  2. "Download result (JSON)" saves, and "Copy" copies, exactly the
//     result the page holds (saved to --out as result-<scheme>.json);
//     screenshots at 1280x800 and 390x844 (viewport and full page) go to
//     --out; at 390 px the page does not scroll sideways;
//  3. the server wrote exactly two ndt7 files and one responsiveness1
//     record for the page (closing its browser context closes its
//     connections, which ends the measurement); the page's figures match them
//     (download: the ClientMeasurement the page sent last; upload: the
//     ServerMeasurement it showed; the record's ClientSummary equals the
//     page's summary, and the numbers on the page are its rounding);
//  4. every request the page made went to its own origin (request and
//     WebSocket logs; other host names do not even resolve in this browser);
//  5. text contrast >= 4.5:1 (WCAG AA) for the page's text;
//  6. --rounds times, the page's ndt7 code and @m-lab/ndt7 (served from a
//     separate plain-http origin) run download + upload at the same time,
//     each in its own browser context, against the same server; the page's
//     rates, as the server measured them in the files, summed over the
//     rounds, are >= --min-ratio of the official client's (ratios printed).
//
// stdout: figures, ratios, files; exit 0 pass, 1 fail, 2 bad usage/setup.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import {createRequire} from 'node:module';

const log = (msg) => process.stderr.write(`browser_page: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
const fail = (msg) => {
  failures.push(msg);
  log(`FAIL: ${msg}`);
};
const check = (cond, msg) => {
  if (!cond) fail(msg);
  return cond;
};

function parseArgs(argv) {
  const o = {server: null, scheme: null, datadir: null, out: null, rpmMs: 3000, idleMs: 1000,
    minRatio: 0.9, timeout: 150, rounds: 1};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    switch (a) {
      case '--server': o.server = val(); break;
      case '--scheme': o.scheme = val(); break;
      case '--datadir': o.datadir = val(); break;
      case '--out': o.out = val(); break;
      case '--rpm-ms': o.rpmMs = Number(val()); break;
      case '--idle-ms': o.idleMs = Number(val()); break;
      case '--min-ratio': o.minRatio = Number(val()); break;
      case '--timeout': o.timeout = Number(val()); break;
      case '--rounds': o.rounds = Number(val()); break;
      default: usage(`unknown argument: ${a}`);
    }
  }
  if (!o.server || !/^[^/\s]+:\d+$/.test(o.server)) usage('--server HOST:PORT is required');
  if (!['http', 'https'].includes(o.scheme)) usage('--scheme must be http or https');
  if (!o.datadir || !o.out) usage('--datadir and --out are required');
  return o;
}

function usage(msg) {
  log(`${msg}\n(see the top of browser_page.mjs for usage)`);
  process.exit(2);
}

const peersRequire = createRequire(new URL('../peers/package.json', import.meta.url));

// --- data files -------------------------------------------------------------
function listFiles(datadir, datatype) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, {withFileTypes: true});
    } catch (e) {
      if (e.code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith('.')) out.push(p);
    }
  };
  walk(path.join(datadir, datatype));
  return out.sort();
}

// Waits until the new files are there: {download, upload, rpm} paths.
async function newFiles(datadir, before, wantRpm, waitMs, each = 1) {
  const deadline = Date.now() + waitMs;
  let got;
  for (;;) {
    const fresh = (t) => listFiles(datadir, t).filter((f) => !before.has(f));
    const nd = fresh('ndt7');
    got = {download: nd.filter((f) => /ndt7-download-/.test(f)), upload: nd.filter((f) => /ndt7-upload-/.test(f)),
      rpm: fresh('responsiveness1')};
    const done = got.download.length >= each && got.upload.length >= each && (!wantRpm || got.rpm.length >= 1);
    if (done || Date.now() > deadline) break;
    await sleep(200);
  }
  await sleep(300); // a stray extra file would show up now
  return got;
}

const snapshot = (datadir) => new Set([...listFiles(datadir, 'ndt7'), ...listFiles(datadir, 'responsiveness1')]);
const readNdt7 = (f) => JSON.parse(zlib.gunzipSync(fs.readFileSync(f)).toString('utf8'));

// The server's own rate in a file: its final snapshot (ndt-server's formula).
function fileRate(rec, direction) {
  const t = rec[direction === 'download' ? 'Download' : 'Upload'];
  const last = t.ServerMeasurements[t.ServerMeasurements.length - 1].TCPInfo;
  return (8 * (direction === 'download' ? last.BytesAcked : last.BytesReceived)) / last.ElapsedTime;
}

function exactlyOne(list, what) {
  check(list.length === 1, `expected exactly one new ${what}, found ${list.length}: ${JSON.stringify(list)}`);
  return list[0];
}

// --- the official client ------------------------------------------------------
const OFFICIAL_NAME = 'm-lab-ndt7-reference';
const OFFICIAL_PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
  '<script src="/ndt7.js"></script><p>@m-lab/ndt7</p>';

function startOfficialServer() {
  const src = path.join(path.dirname(peersRequire.resolve('@m-lab/ndt7/package.json')), 'src');
  const server = http.createServer((req, res) => {
    const p = req.url.split('?')[0];
    if (p === '/') {
      res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'}).end(OFFICIAL_PAGE);
      return;
    }
    const name = {'/ndt7.js': 1, '/ndt7-download-worker.js': 1, '/ndt7-upload-worker.js': 1}[p] ? p.slice(1) : null;
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {'Content-Type': 'text/javascript; charset=utf-8'}).end(fs.readFileSync(path.join(src, name)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// The official client, loaded and ready: go() runs download + upload.
async function readyOfficial(browser, opts, officialOrigin) {
  const ctx = await browser.newContext({ignoreHTTPSErrors: true});
  const page = await ctx.newPage();
  await page.goto(`${officialOrigin}/`);
  const cfg = {server: opts.server, protocol: opts.scheme === 'https' ? 'wss' : 'ws', userAcceptedDataPolicy: true,
    downloadworkerfile: `${officialOrigin}/ndt7-download-worker.js`,
    uploadworkerfile: `${officialOrigin}/ndt7-upload-worker.js`, metadata: {client_name: OFFICIAL_NAME}};
  const go = () => page.evaluate((c) => new Promise((resolve) => {
    const r = {errors: []};
    ndt7.test(c, {error: (e) => r.errors.push(String(e && e.message || e))})
      .then((rc) => resolve({...r, rc}), (e) => resolve({...r, rc: -1, errors: [...r.errors, String(e)]}));
  }), cfg);
  return {ctx, go};
}

// --- the page -----------------------------------------------------------------
const PAGE_FILES = /^\/(|index\.html|[a-z0-9-]+\.(js|css|svg))$/;

async function runPage(browser, opts, origin) {
  const ctx = await browser.newContext({viewport: {width: 1280, height: 800}, ignoreHTTPSErrors: true,
    acceptDownloads: true});
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], {origin});
  const requests = [];
  const consoleLines = [];
  ctx.on('request', (q) => requests.push(q.url()));
  const page = await ctx.newPage();
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  page.on('requestfailed', (q) => consoleLines.push(`[requestfailed] ${q.url()} ${q.failure()?.errorText}`));
  page.on('worker', (w) => w.on('console', (m) => consoleLines.push(`[worker ${m.type()}] ${m.text()}`)));
  const out = {requests, consoleLines};
  try {
    const resp = await page.goto(`${origin}/?rpm_ms=${opts.rpmMs}&idle_ms=${opts.idleMs}`, {waitUntil: 'load'});
    check(resp && resp.status() === 200, `GET / answered ${resp && resp.status()}`);
    const csp = resp ? (await resp.allHeaders())['content-security-policy'] || '' : '';
    check(/default-src 'self'/.test(csp), `the page has no strict CSP (got "${csp}")`);
    await page.waitForFunction(() => document.body.dataset.state === 'consent');
    check(await page.isDisabled('#start'), 'Start is enabled before the policy is accepted');
    const policy = await page.evaluate(async () => {
      const r = await fetch(document.getElementById('policy-link').href);
      return {status: r.status, type: r.headers.get('content-type'), text: (await r.text()).slice(0, 200)};
    });
    check(policy.status === 200 && /privacy/i.test(policy.text), `the policy link answered ${policy.status}`);
    await sleep(500);
    const early = requests.filter((u) => !PAGE_FILES.test(new URL(u).pathname) && !u.endsWith('/privacy'));
    check(!early.length, `requests before consent: ${early.join(', ')}`);

    // Keyboard only: Tab to the checkbox, Space, Tab to Start, Enter.
    let focused = '';
    for (let i = 0; i < 12 && focused !== 'agree'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    }
    check(focused === 'agree', 'Tab never reached the consent checkbox');
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.id) === 'start', 'Tab after the checkbox is not Start');
    await page.keyboard.press('Enter');
    check(await page.evaluate(() => document.body.dataset.state) === 'running', 'Enter on Start did not start the test');

    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null,
      {timeout: opts.timeout * 1000, polling: 250});
    const state = await page.evaluate(() => document.body.dataset.state);
    if (!check(state === 'done', `the page ended in state ${state}: ${await page.textContent('#error-text')}`)) return out;
    out.result = await page.evaluate(() => window.netpulseResult);
    out.shown = await page.evaluate(() => {
      const v = {};
      for (const id of ['dl-mbps', 'ul-mbps', 'idle-ms', 'rpm', 'dl-loaded-ms', 'ul-loaded-ms', 'dl-rpm', 'ul-rpm']) {
        v[id] = document.getElementById(id).textContent.trim();
      }
      v.verdict = document.getElementById('verdict').textContent.trim();
      v.band = document.getElementById('rpm-band').textContent.trim();
      return v;
    });
    const lowContrast = await page.evaluate(contrastProblems);
    check(!lowContrast.length, `text below 4.5:1 contrast: ${lowContrast.join('; ')}`);
    fs.mkdirSync(opts.out, {recursive: true});
    // The result as JSON: downloaded, and copied, it is what the page holds.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const saved = path.join(opts.out, `result-${opts.scheme}.json`);
    await dl.saveAs(saved);
    check(!deepDiff(out.result, JSON.parse(fs.readFileSync(saved, 'utf8'))).length, 'the downloaded JSON is not the result');
    await page.click('#copy');
    await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(!deepDiff(out.result, JSON.parse(copied)).length, 'the copied JSON is not the result');
    const shot = async (w, h) => {
      await page.setViewportSize({width: w, height: h});
      await page.evaluate(() => window.scrollTo(0, 0)); // what a person sees first
      await sleep(300); // charts redraw at the new width
      const base = path.join(opts.out, `page-${opts.scheme}-${w}x${h}`);
      await page.screenshot({path: `${base}.png`});
      await page.screenshot({path: `${base}-full.png`, fullPage: true});
      return page.evaluate(() => document.documentElement.scrollWidth);
    };
    await shot(1280, 800);
    const phoneWidth = await shot(390, 844);
    check(phoneWidth <= 390, `at 390 px the page is ${phoneWidth} px wide (scrolls sideways)`);
  } finally {
    await ctx.close(); // closes its connections: the server ends the measurement
  }
  return out;
}

// The page's ndt7 code alone (its module, in a page of its origin),
// loaded and ready: go() runs download + upload.
async function readyPageNdt7(browser, origin) {
  const ctx = await browser.newContext({ignoreHTTPSErrors: true});
  const page = await ctx.newPage();
  await page.goto(`${origin}/`);
  await page.evaluate(() => import('/ndt7.js').then((m) => {
    window.ndt7Module = m;
  }));
  const go = () => page.evaluate(async () => {
    const strip = (r) => ({ok: r.ok, mbps: r.mbps, error: r.error});
    const download = strip(await window.ndt7Module.runNdt7('download'));
    const upload = strip(await window.ndt7Module.runNdt7('upload'));
    return {download, upload};
  });
  return {ctx, go};
}

// Runs in the page: visible text whose colour against its background is
// below WCAG AA's 4.5:1 ("selector: ratio").
function contrastProblems() {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bgOf = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const sel = ['body', 'header h1', 'header p', '.figures dt', '.figures dd', '.unit', '.band-word', 'h2', 'h3',
    '.chart-desc', 'table.latency caption', 'table.latency th', 'table.latency td', '#verdict',
    'button:not(:disabled)', 'summary', 'footer', 'footer a', '#help p'];
  for (const s of sel) {
    for (const e of document.querySelectorAll(s)) {
      if (!e.offsetParent && s !== 'body') continue; // not shown
      const fg = lum(rgb(getComputedStyle(e).color));
      const bg = lum(bgOf(e));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      if (ratio < 4.5) out.push(`${s}: ${ratio.toFixed(2)}`);
    }
  }
  return out;
}

function checkOrigins(requests, origin) {
  const o = new URL(origin);
  const wsScheme = o.protocol === 'https:' ? 'wss:' : 'ws:';
  const foreign = requests.filter((u) => {
    const x = new URL(u);
    if (x.protocol === 'data:' || x.protocol === 'blob:') return false;
    return x.host !== o.host || (x.protocol !== o.protocol && x.protocol !== wsScheme);
  });
  check(!foreign.length, `requests to other origins: ${foreign.join(', ')}`);
  check(requests.some((u) => u.startsWith(`${wsScheme}//${o.host}/ndt/v7/download`)),
    'the request log shows no ndt7 WebSocket (is the log complete?)');
}

const near = (a, b, tol) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= tol;

// One ndt7 figure of the page against the one stored entry it came from
// (entries: {ElapsedTime, ...}; bytes(entry): the byte count it holds).
function matchStored(dir, entries, bytes, fig, shown) {
  const hit = entries.filter((e) => e && e.ElapsedTime === fig.ElapsedTimeUs);
  if (!check(hit.length === 1 && bytes(hit[0]) === fig.Bytes,
    `the page's ${dir} figure (${fig.Bytes} B at ${fig.ElapsedTimeUs} µs) is not in the file`)) return;
  const fromFile = (8 * bytes(hit[0])) / hit[0].ElapsedTime;
  check(near(Number(shown), fromFile, 0.05 + 1e-9), `${dir} shown ${shown} Mbit/s, file says ${fromFile.toFixed(3)}`);
}

// The page's figures against the files the server wrote for it.
function checkPageFiles(opts, res, files) {
  const r = res.result;
  const dlFile = exactlyOne(files.download, 'page ndt7 download file');
  const ulFile = exactlyOne(files.upload, 'page ndt7 upload file');
  const rpmFile = exactlyOne(files.rpm, 'responsiveness1 record');
  if (dlFile) {
    const rec = readNdt7(dlFile).Download;
    const meta = Object.fromEntries(rec.ClientMetadata.map((kv) => [kv.Name, kv.Value]));
    check(meta.client_name === 'netpulse-web', `download ClientMetadata: ${JSON.stringify(rec.ClientMetadata)}`);
    // The figure the page shows is the last measurement it sent.
    matchStored('download', rec.ClientMeasurements.map((m) => m.AppInfo), (x) => x.NumBytes,
      r.ndt7.Download, res.shown['dl-mbps']);
  }
  if (ulFile) {
    // ... and for upload, the server's measurement it received last.
    matchStored('upload', readNdt7(ulFile).Upload.ServerMeasurements.map((m) => m.TCPInfo),
      (x) => x.BytesReceived, r.ndt7.Upload, res.shown['ul-mbps']);
  }
  if (rpmFile) {
    const raw = fs.readFileSync(rpmFile, 'utf8');
    const rec = JSON.parse(raw);
    const cs = rec.ClientSummary;
    if (check(cs, 'the responsiveness1 record has no ClientSummary')) {
      check(res.result.SummaryDropped === 0, `the server dropped ${res.result.SummaryDropped} summary member(s)`);
      const diff = deepDiff(r.Responsiveness, cs);
      check(!diff.length, `ClientSummary differs from the page's: ${diff.slice(0, 5).join('; ')}`);
      check(cs.Variant === 'browser', `ClientSummary.Variant ${cs.Variant}`);
      const wantProto = opts.scheme === 'https' ? 'h2' : 'h1';
      check(cs.Protocol === wantProto, `the page ran RPM over ${cs.Protocol}, expected ${wantProto}`);
      const rows = [['rpm', cs.RPM, 0.5], ['dl-rpm', cs.Download.RPM, 0.5], ['ul-rpm', cs.Upload.RPM, 0.5],
        ['dl-loaded-ms', cs.Download.LoadedLatencyMs, 0.05], ['ul-loaded-ms', cs.Upload.LoadedLatencyMs, 0.05],
        ['idle-ms', cs.Idle.LatencyMs, 0.05]];
      for (const [id, want, tol] of rows) {
        check(near(Number(res.shown[id]), want, tol + 1e-9), `${id}: page shows ${res.shown[id]}, record says ${want}`);
      }
      check(rec.Connections && rec.Connections.length >= 1, 'the record lists no connection');
    }
  }
}

// Differences between the page's summary and the stored one (numbers equal
// to 1e-9 relative: the server re-encodes them).
function deepDiff(a, b, at = '$') {
  if (typeof a === 'number' && typeof b === 'number') {
    return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a)) ? [] : [`${at}: ${a} vs ${b}`];
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => (k in a && k in b ? deepDiff(a[k], b[k], `${at}.${k}`) :
      [`${at}.${k}: ${k in a ? 'not stored' : 'not sent'}`]));
  }
  return a === b ? [] : [`${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let chromium;
  try {
    ({chromium} = peersRequire('playwright-core'));
    peersRequire.resolve('@m-lab/ndt7/package.json');
  } catch (e) {
    usage(`npm peers missing (${e.message.split('\n')[0]}); run scripts/install-deps.sh`);
  }
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) usage(`no Chromium at ${executablePath}`);
  const origin = `${opts.scheme}://${opts.server}`;
  const official = await startOfficialServer();
  const officialOrigin = `http://127.0.0.1:${official.address().port}`;
  // Host names other than IP literals do not resolve: a request to any
  // third party fails loudly instead of leaving the machine.
  const browser = await chromium.launch({executablePath, headless: true, timeout: 30000, args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--ignore-certificate-errors',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1']});
  let pageRes = null;
  const rates = {page: {download: [], upload: []}, official: {download: [], upload: []}};
  try {
    const before = snapshot(opts.datadir);
    pageRes = await runPage(browser, opts, origin);
    if (pageRes.result) {
      const f = await newFiles(opts.datadir, before, true, 15000);
      for (const k of ['download', 'upload', 'rpm']) for (const x of f[k]) process.stdout.write(`data: ${x}\n`);
      checkPageFiles(opts, pageRes, f);
    }
    checkOrigins(pageRes.requests, origin);
    // The page's ndt7 and @m-lab/ndt7 at the same time, each in its own
    // browser context: on a shared machine, load that comes and goes hits
    // both alike, and each gets what its code can take of the same CPU and
    // path (equal clients get a ratio near 1).
    for (let round = 0; round < opts.rounds; round++) {
      const before2 = snapshot(opts.datadir);
      // Both loaded first, then started together (who is asked first
      // alternates), so their tests overlap from handshake to close.
      const ready = [await readyOfficial(browser, opts, officialOrigin), await readyPageNdt7(browser, origin)];
      const runs = round % 2 ? [ready[1].go(), ready[0].go()].reverse() : [ready[0].go(), ready[1].go()];
      const [o, p] = await Promise.all(runs);
      for (const r of ready) await r.ctx.close();
      check(o.rc === 0 && !o.errors.length, `@m-lab/ndt7 failed: rc ${o.rc} ${o.errors.join('; ')}`);
      check(p.download && p.download.ok && p.upload && p.upload.ok, `the page's ndt7 failed: ${JSON.stringify(p)}`);
      const f = await newFiles(opts.datadir, before2, false, 10000, 2);
      for (const dir of ['download', 'upload']) {
        const by = {};
        for (const file of f[dir]) {
          const rec = readNdt7(file);
          const t = rec[dir === 'download' ? 'Download' : 'Upload'];
          const name = (t.ClientMetadata.find((kv) => kv.Name === 'client_name') || {}).Value;
          by[name] = (by[name] || 0) + 1;
          if (name === 'netpulse-web') rates.page[dir].push(fileRate(rec, dir));
          if (name === OFFICIAL_NAME) rates.official[dir].push(fileRate(rec, dir));
        }
        check(f[dir].length === 2 && by['netpulse-web'] === 1 && by[OFFICIAL_NAME] === 1,
          `round ${round + 1}: ${dir} files by client: ${JSON.stringify(by)}`);
      }
    }
  } catch (e) {
    fail(e.message.split('\n')[0]);
  } finally {
    await browser.close().catch(() => {});
    official.close();
  }

  if (pageRes && pageRes.shown) {
    const s = pageRes.shown;
    process.stdout.write(`page (${opts.scheme}): download ${s['dl-mbps']} Mbit/s, upload ${s['ul-mbps']} Mbit/s, ` +
      `idle ${s['idle-ms']} ms, loaded ${s['dl-loaded-ms']} / ${s['ul-loaded-ms']} ms, ` +
      `RPM ${s['dl-rpm']} / ${s['ul-rpm']} (overall ${s.rpm} ${s.band})\nverdict: ${s.verdict}\n`);
  }
  for (const dir of ['download', 'upload']) {
    const fmt = (xs) => xs.map((x) => x.toFixed(1)).join(', ');
    const sum = (xs) => xs.reduce((x, y) => x + y, 0);
    const page = sum(rates.page[dir]);
    const ref = sum(rates.official[dir]);
    if (!(page > 0 && ref > 0)) continue;
    const ratio = page / ref;
    process.stdout.write(`ndt7 ${dir}, both clients at once (server's rate in the files, Mbit/s): ` +
      `page ${fmt(rates.page[dir])}, @m-lab/ndt7 ${fmt(rates.official[dir])}; ratio ${ratio.toFixed(3)}\n`);
    check(ratio >= opts.minRatio, `page ${dir} rate is ${ratio.toFixed(3)} of @m-lab/ndt7's (want >= ${opts.minRatio})`);
  }
  if (failures.length) {
    process.stdout.write(`FAIL: ${failures[0]}\n`);
    if (pageRes) {
      const interesting = pageRes.consoleLines.filter((l) => !l.startsWith('[log]'));
      log(`browser console (${interesting.length} lines):`);
      for (const l of interesting.slice(0, 40)) log(`  ${l}`);
    }
    process.exit(1);
  }
  process.stdout.write(`PASS: the page over ${opts.scheme}: ndt7, responsiveness, data files, origins, screenshots in ${opts.out}\n`);
  process.exit(0);
}

main().catch((e) => {
  log(`internal error: ${e.stack || e}`);
  process.exit(2);
});
