// Runs the official ndt7 browser client (@m-lab/ndt7) in headless Chromium against a netpulse server.
//
// Usage: node browser_ndt7.mjs --server 127.0.0.1:PORT --protocol ws|wss --datadir DIR
//                              [--timeout 60] [--data-wait 5]
//        node browser_ndt7.mjs --locate http://127.0.0.1:PORT/v2/nearest/ndt/ndt7 ...
//
// Serves a small page and the package's src/ files (ndt7.js and its two
// workers) from a plain-http origin on 127.0.0.1, opens the page in Debian's
// Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, and runs
//   ndt7.test({server, protocol, userAcceptedDataPolicy: true,
//              downloadworkerfile, uploadworkerfile,
//              metadata: {client_name: 'netpulse-browser-test'}}, callbacks)
// (with --locate, `loadbalancer` replaces `server`: see fake_locate.py).
//
// Passes when: the download and the upload both complete, each ended by its
// WebSocket closing (not by the library's 12 s watchdog), no error callback
// ran, client-measured throughput is > 0 in both directions, the server's
// TCPInfo rate is > 0 where the server sent measurements, and within
// --data-wait seconds the datadir holds exactly two new files,
// ndt7/YYYY/MM/DD/ndt7-download-*.json.gz and ndt7-upload-*.json.gz, each a
// gzipped JSON object with a Download (resp. Upload) record whose
// ClientMetadata carries client_name=netpulse-browser-test.
//
// stdout: a short summary. stderr: progress, and on failure the reason plus
// the browser's console errors. Exit 0 = pass, 1 = fail, 2 = bad usage/setup.
// Dependencies: `npm ci` in tests/peers (scripts/install-deps.sh does it).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import {createRequire} from 'node:module';

const CLIENT_NAME = 'netpulse-browser-test';
const FILE_RE = /^ndt7\/(\d{4})\/(\d{2})\/(\d{2})\/ndt7-(download|upload)-[^/]+\.json\.gz$/;

const log = (msg) => process.stderr.write(`browser_ndt7: ${msg}\n`);
function usage(msg) {
  log(`${msg}\n(see the top of browser_ndt7.mjs for usage)`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {server: null, locate: null, protocol: 'ws', datadir: null, timeout: 60, dataWait: 5};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    switch (a) {
      case '--server': o.server = val(); break;
      case '--locate': o.locate = val(); break;
      case '--protocol': o.protocol = val(); break;
      case '--datadir': o.datadir = val(); break;
      case '--timeout': o.timeout = Number(val()); break;
      case '--data-wait': o.dataWait = Number(val()); break;
      default: usage(`unknown argument: ${a}`);
    }
  }
  if (!o.server === !o.locate) usage('give exactly one of --server HOST:PORT and --locate URL');
  if (o.server && !/^[^/\s]+:\d+$/.test(o.server)) usage('--server wants HOST:PORT');
  if (!['ws', 'wss'].includes(o.protocol)) usage('--protocol must be ws or wss');
  if (!o.datadir) usage('--datadir is required');
  if (!(o.timeout > 0) || !(o.dataWait >= 0)) usage('--timeout and --data-wait want seconds');
  return o;
}

// Resolve the npm peers from tests/peers, wherever this script is run from.
const peersRequire = createRequire(new URL('../peers/package.json', import.meta.url));
function loadDeps() {
  try {
    const {chromium} = peersRequire('playwright-core');
    const ndt7Src = path.join(path.dirname(peersRequire.resolve('@m-lab/ndt7/package.json')), 'src');
    return {chromium, ndt7Src};
  } catch (e) {
    usage(`npm peers missing (${e.message.split('\n')[0]}); run scripts/install-deps.sh`);
  }
}

// The page: instruments Worker (to tell a socket close from the library's
// watchdog) and exposes runNdt7(config) which resolves with everything seen.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>netpulse ndt7 browser test</title>
<script>
'use strict';
(function() {
  const RealWorker = window.Worker;
  window.__workers = [];
  window.Worker = function(url, options) {
    const w = new RealWorker(url, options);
    const rec = {url: String(url), createdMs: performance.now(), startMs: null,
                 endMs: null, end: null};
    // Registered before ndt7.js sets onmessage, so it runs first.
    w.addEventListener('message', (ev) => {
      const d = ev.data || {};
      if (d.MsgType === 'start') rec.startMs = performance.now();
      if (d.MsgType === 'complete' && !rec.end) {
        rec.end = 'socket-closed'; rec.endMs = performance.now();
      }
      if (d.MsgType === 'error' && !rec.end) {
        rec.end = 'error: ' + d.Error; rec.endMs = performance.now();
      }
    });
    w.addEventListener('error', (ev) => {
      if (!rec.end) { rec.end = 'worker script error: ' + ev.message; rec.endMs = performance.now(); }
    });
    const terminate = w.terminate.bind(w);
    w.terminate = function() {
      if (!rec.end) {
        rec.endMs = performance.now();
        rec.end = rec.endMs - rec.createdMs >= 11900 ? 'watchdog (12 s, socket still open)' :
          'terminated by ndt7.js before its socket closed';
      }
      terminate();
    };
    window.__workers.push(rec);
    return w;
  };
})();
</script>
<script src="/ndt7.js"></script>
<script>
'use strict';
function newDirection() {
  return {start: null, complete: null, clientCount: 0, serverCount: 0,
          lastClient: null, lastServer: null, maxClientMbps: 0};
}
window.runNdt7 = function(config) {
  const r = {serverChosen: null, errors: [], rc: null, download: newDirection(),
             upload: newDirection(), workers: null};
  const errText = (e) => (e && e.message) ? e.message : String(e);
  const measure = (d) => (m) => {
    if (m.Source === 'client') {
      d.clientCount++; d.lastClient = m.Data;
      d.maxClientMbps = Math.max(d.maxClientMbps, m.Data.MeanClientMbps || 0);
    } else {
      d.serverCount++; d.lastServer = m.Data;
    }
  };
  const callbacks = {
    serverChosen: (s) => { r.serverChosen = s; },
    error: (e) => { r.errors.push(errText(e)); console.error('ndt7 error callback: ' + errText(e)); },
    downloadStart: (d) => { r.download.start = d; },
    downloadMeasurement: measure(r.download),
    downloadComplete: (d) => { r.download.complete = d; },
    uploadStart: (d) => { r.upload.start = d; },
    uploadMeasurement: measure(r.upload),
    uploadComplete: (d) => { r.upload.complete = d; },
  };
  return ndt7.test(config, callbacks).then((rc) => {
    r.rc = rc; r.workers = window.__workers; return r;
  }, (e) => {
    r.errors.push('ndt7.test rejected: ' + errText(e)); r.workers = window.__workers; return r;
  });
};
</script></head>
<body><p>netpulse ndt7 browser test</p></body></html>
`;

function startPageServer(ndt7Src, requests) {
  const files = {
    '/ndt7.js': 'ndt7.js',
    '/ndt7-download-worker.js': 'ndt7-download-worker.js',
    '/ndt7-upload-worker.js': 'ndt7-upload-worker.js',
  };
  const server = http.createServer((req, res) => {
    const p = req.url.split('?')[0];
    requests.push(`${req.method} ${req.url}`);
    if (p === '/' || p === '/index.html') {
      res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store'});
      res.end(PAGE);
    } else if (files[p]) {
      fs.readFile(path.join(ndt7Src, files[p]), (err, body) => {
        if (err) {
          res.writeHead(500).end(String(err));
          return;
        }
        res.writeHead(200, {'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store'});
        res.end(body);
      });
    } else {
      res.writeHead(404, {'Content-Type': 'text/plain'}).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Relative paths of every file under <datadir>/ndt7 (missing dir = none).
function listData(datadir) {
  const out = new Set();
  const walk = (rel) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(datadir, rel), {withFileTypes: true});
    } catch (e) {
      if (e.code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else out.add(r);
    }
  };
  walk('ndt7');
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mbps = (bytes, elapsedUs) => (bytes > 0 && elapsedUs > 0 ? (8 * bytes) / elapsedUs : 0);
const fmt = (x) => (typeof x === 'number' ? x.toFixed(1) : 'n/a');

// Checks one new data file; returns a list of problems (empty = fine).
function checkDataFile(datadir, rel, direction) {
  const key = direction === 'download' ? 'Download' : 'Upload';
  let obj;
  try {
    obj = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(datadir, rel))).toString('utf8'));
  } catch (e) {
    return [`${rel}: not gzipped JSON (${e.message})`];
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return [`${rel}: not a JSON object`];
  const rec = obj[key];
  if (!rec || typeof rec !== 'object') return [`${rel}: no "${key}" object`];
  const md = rec.ClientMetadata;
  if (!Array.isArray(md)) return [`${rel}: ${key}.ClientMetadata is not an array`];
  const name = md.find((kv) => kv && kv.Name === 'client_name');
  if (!name || name.Value !== CLIENT_NAME) {
    return [`${rel}: ${key}.ClientMetadata lacks client_name=${CLIENT_NAME} (got ${JSON.stringify(md)})`];
  }
  return [];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const {chromium, ndt7Src} = loadDeps();
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) usage(`no Chromium at ${executablePath} (apt-get install chromium)`);

  const before = listData(opts.datadir);
  const runStart = new Date();
  const requests = [];
  const consoleLines = [];
  const failures = [];
  const wsErrors = {download: [], upload: []};
  let browser = null;
  let pageServer = null;
  let r = null;

  try {
    pageServer = await startPageServer(ndt7Src, requests);
    const origin = `http://127.0.0.1:${pageServer.address().port}`;
    const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
    if (opts.protocol === 'wss') args.push('--ignore-certificate-errors');
    browser = await chromium.launch({executablePath, headless: true, args, timeout: 30000});
    const page = await browser.newPage();
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (q) => consoleLines.push(`[requestfailed] ${q.url()} ${q.failure()?.errorText}`));
    page.on('websocket', (ws) => {
      ws.on('socketerror', (e) => {
        consoleLines.push(`[websocket] ${ws.url()}: ${e}`);
        const dir = ws.url().includes('/ndt/v7/download') ? 'download' : 'upload';
        wsErrors[dir].push(String(e));
      });
      ws.on('close', () => consoleLines.push(`[websocket] ${ws.url()} closed`));
    });
    page.on('worker', (w) => {
      consoleLines.push(`[worker] started ${w.url()}`);
      if (typeof w.on === 'function') {
        w.on('console', (m) => consoleLines.push(`[worker ${m.type()}] ${m.text()}`));
      }
    });

    await page.goto(`${origin}/`, {waitUntil: 'load', timeout: 15000});
    const hasNdt7 = await page.evaluate(() => typeof window.ndt7 === 'object' && typeof window.ndt7.test === 'function');
    if (!hasNdt7) throw new Error('the page loaded but window.ndt7 is missing');

    const config = {
      protocol: opts.protocol,
      userAcceptedDataPolicy: true,
      downloadworkerfile: `${origin}/ndt7-download-worker.js`,
      uploadworkerfile: `${origin}/ndt7-upload-worker.js`,
      metadata: {client_name: CLIENT_NAME},
    };
    if (opts.server) config.server = opts.server;
    else config.loadbalancer = opts.locate;
    log(`running ndt7 ${opts.protocol} against ${opts.server || opts.locate} (page ${origin}/)`);

    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within --timeout ${opts.timeout}s`)), opts.timeout * 1000);
    });
    r = await Promise.race([page.evaluate((cfg) => window.runNdt7(cfg), config), timeout]);
    clearTimeout(timer);
  } catch (e) {
    failures.push(e.message.split('\n')[0]);
  }

  // --- assertions on what the client saw ----------------------------------
  const summary = {};
  if (r) {
    if (opts.locate && !r.serverChosen) failures.push('serverChosen was not called');
    for (const dir of ['download', 'upload']) {
      const d = r[dir];
      const w = (r.workers || []).find((x) => x.url.includes(`ndt7-${dir}-worker`));
      const s = {client: null, server: null, clientMsgs: d.clientCount, serverMsgs: d.serverCount,
        seconds: w && w.startMs !== null && w.endMs !== null ? (w.endMs - w.startMs) / 1000 : null};
      summary[dir] = s;
      if (!d.complete) {
        const why = [w ? (w.end || 'worker still running') : 'no worker', ...wsErrors[dir]];
        failures.push(`${dir} did not complete (${why.join('; ')})`);
        continue;
      }
      if (!w || w.end !== 'socket-closed') failures.push(`${dir} ended by ${w ? w.end : '?'}, not by the socket closing`);
      const lc = d.complete.LastClientMeasurement;
      s.client = lc ? lc.MeanClientMbps : null;
      if (!(s.client > 0)) failures.push(`${dir}: no non-zero client throughput (last client measurement ${JSON.stringify(lc)})`);
      const ls = d.complete.LastServerMeasurement;
      if (ls) {
        const ti = ls.TCPInfo || {};
        s.server = mbps(dir === 'download' ? ti.BytesAcked : ti.BytesReceived, ti.ElapsedTime);
        if (!(s.server > 0)) {
          failures.push(`${dir}: server measurement gives no throughput (TCPInfo ${JSON.stringify(ti).slice(0, 300)})`);
        }
      } else {
        log(`note: no server measurement received during ${dir}`);
      }
    }
    if (r.errors.length) failures.push(`error callback: ${r.errors.join('; ')}`);
    if (r.rc !== 0 && !failures.length) failures.push(`ndt7.test returned ${r.rc}`);
  }

  const cpu = process.cpuUsage();
  log(`harness (node) CPU: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
  if (browser) await browser.close().catch(() => {});
  if (pageServer) pageServer.close();

  // --- the data files -------------------------------------------------------
  let newFiles = [];
  if (r && !failures.length) {
    const deadline = Date.now() + opts.dataWait * 1000;
    const fresh = () => [...listData(opts.datadir)].filter((f) => !before.has(f) && !path.basename(f).startsWith('.'));
    for (;;) {
      newFiles = fresh();
      const dirs = newFiles.map((f) => (FILE_RE.exec(f) || [])[4]);
      if ((dirs.includes('download') && dirs.includes('upload')) || Date.now() >= deadline) break;
      await sleep(100);
    }
    await sleep(300); // let a stray third file show up before counting
    newFiles = fresh();
    const dl = newFiles.filter((f) => (FILE_RE.exec(f) || [])[4] === 'download');
    const ul = newFiles.filter((f) => (FILE_RE.exec(f) || [])[4] === 'upload');
    const other = newFiles.filter((f) => !FILE_RE.test(f));
    if (dl.length !== 1 || ul.length !== 1 || other.length) {
      failures.push(`expected exactly 2 new files under ${opts.datadir}/ndt7 (1 download, 1 upload) within ` +
        `${opts.dataWait}s, found ${newFiles.length}: ${JSON.stringify(newFiles)}`);
    } else {
      const days = new Set([runStart, new Date()].map((t) => t.toISOString().slice(0, 10).replaceAll('-', '/')));
      for (const [f, dir] of [[dl[0], 'download'], [ul[0], 'upload']]) {
        const m = FILE_RE.exec(f);
        if (!days.has(`${m[1]}/${m[2]}/${m[3]}`)) failures.push(`${f}: day directory is not today's UTC date`);
        failures.push(...checkDataFile(opts.datadir, f, dir));
      }
    }
  }

  // --- report ----------------------------------------------------------------
  if (r) {
    for (const dir of ['download', 'upload']) {
      const s = summary[dir];
      if (!s) continue;
      process.stdout.write(`${dir}: client ${fmt(s.client)} Mbit/s, server ${fmt(s.server)} Mbit/s ` +
        `(${s.clientMsgs} client / ${s.serverMsgs} server measurements, ${fmt(s.seconds)} s)\n`);
    }
  }
  for (const f of newFiles) process.stdout.write(`data: ${f}\n`);
  if (failures.length) {
    process.stdout.write(`FAIL: ${failures[0]}\n`);
    for (const f of failures) log(`FAIL: ${f}`);
    if (r && r.workers) log(`workers: ${JSON.stringify(r.workers)}`);
    log(`page server requests: ${requests.join(', ') || 'none'}`);
    const interesting = consoleLines.filter((l) => !l.startsWith('[log]') && !l.startsWith('[info]'));
    log(`browser console (${interesting.length} lines):`);
    for (const l of interesting.slice(0, 50)) log(`  ${l}`);
    process.exit(1);
  }
  process.stdout.write('PASS: ndt7 browser client (download + upload) and 2 data files\n');
  process.exit(0);
}

main().catch((e) => {
  log(`internal error: ${e.stack || e}`);
  process.exit(2);
});
