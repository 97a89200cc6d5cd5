// The RPM endpoints used with fetch() by a page of another origin (a
// speed-test site that is not the server's own page), in headless
// Chromium: the browser's own CORS checks decide, not ours.
//
// Usage (under with_server.sh):
//   node browser_cors.mjs --server 127.0.0.1:PORT --scheme http|https
//
// A plain http server on another port of 127.0.0.1 (another origin) serves
// a blank page; in it, fetch():
//  1. the config (a simple GET), its URLs with the server's origin;
//  2. small (GET, then HEAD: content-length 1, no body) and its Resource
//     Timing entry with the detailed times (Timing-Allow-Origin);
//  3. upload, a POST of application/octet-stream: a preflight first (not a
//     simple request), then 200 with the JSON answer readable;
//  4. a forged ID: the 403 and its JSON readable (errors carry CORS too);
//  5. the config again: over https, where Chromium keeps one HTTP/2
//     connection per origin, the same measurement (not 409);
//  6. the summary (POST application/json, preflighted), then the config
//     once more: a new measurement.
// A POST that got through had its preflight answered (the page does not
// see OPTIONS requests). stdout: what the page saw; exit 0 pass, 1 fail,
// 2 bad usage/setup.
import fs from 'node:fs';
import http from 'node:http';
import {createRequire} from 'node:module';

const log = (msg) => process.stderr.write(`browser_cors: ${msg}\n`);
const failures = [];
const check = (cond, msg) => {
  if (!cond) {
    failures.push(msg);
    log(`FAIL: ${msg}`);
  }
  return cond;
};

function usage(msg) {
  process.stderr.write(`browser_cors: ${msg}\nUsage: node browser_cors.mjs --server HOST:PORT ` +
    '--scheme http|https\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {server: null, scheme: null};
  for (let i = 0; i < argv.length; i++) {
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
    if (argv[i] === '--server') o.server = val();
    else if (argv[i] === '--scheme') o.scheme = val();
    else usage(`unknown argument: ${argv[i]}`);
  }
  if (!o.server || !/^[^/\s]+:\d+$/.test(o.server)) usage('--server HOST:PORT is required');
  if (!['http', 'https'].includes(o.scheme)) usage('--scheme must be http or https');
  return o;
}

// Runs in the page: everything a cross-origin RPM client does, reported
// back as plain data (an exception becomes {error}).
async function inPage(origin) {
  const out = {};
  const mid = (u) => new URL(u).searchParams.get('mid');
  const noStore = {cache: 'no-store'};
  try {
    let r = await fetch(`${origin}/.well-known/nq`, noStore);
    const cfg = await r.json();
    out.config = {status: r.status, urls: cfg.urls, endpoint: cfg.test_endpoint};
    const u = cfg.urls;
    r = await fetch(u.small_download_url, noStore);
    out.small = {status: r.status, bytes: (await r.arrayBuffer()).byteLength};
    const e = performance.getEntriesByName(u.small_download_url).pop();
    out.timing = e ? {requestStart: e.requestStart, responseStart: e.responseStart,
      connectStart: e.connectStart, transferSize: e.transferSize} : null;
    r = await fetch(u.small_download_url, {...noStore, method: 'HEAD'});
    out.head = {status: r.status, length: r.headers.get('content-length'),
      bytes: (await r.arrayBuffer()).byteLength};
    r = await fetch(u.upload_url, {...noStore, method: 'POST', body: new Uint8Array(1 << 20),
      headers: {'content-type': 'application/octet-stream'}});
    out.upload = {status: r.status, body: await r.json()};
    const forged = u.small_download_url.replace(/mid=[^&]*/, 'mid=forged');
    r = await fetch(forged, noStore);
    out.forged = {status: r.status, body: await r.json()};
    r = await fetch(`${origin}/.well-known/nq`, noStore);
    out.again = {status: r.status, mid: r.ok ? mid((await r.json()).urls.small_download_url) : null,
      first: mid(u.small_download_url)};
    r = await fetch(u.result_url, {...noStore, method: 'POST',
      headers: {'content-type': 'application/json'}, body: JSON.stringify({RPM: 1234})});
    out.result = {status: r.status, body: await r.json()};
    r = await fetch(`${origin}/.well-known/nq`, noStore);
    out.next = {status: r.status, mid: r.ok ? mid((await r.json()).urls.small_download_url) : null};
  } catch (err) {
    out.error = String(err);
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const peersRequire = createRequire(new URL('../peers/package.json', import.meta.url));
  let chromium;
  try {
    ({chromium} = peersRequire('playwright-core'));
  } catch (e) {
    usage(`npm peers missing (${e.message.split('\n')[0]}); run scripts/install-deps.sh`);
  }
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) usage(`no Chromium at ${executablePath}`);
  const target = `${opts.scheme}://${opts.server}`;
  const site = http.createServer((req, res) => {
    res.writeHead(200, {'content-type': 'text/html'});
    res.end('<!doctype html><title>another origin</title>');
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  const siteOrigin = `http://127.0.0.1:${site.address().port}`;
  const browser = await chromium.launch({executablePath, headless: true, timeout: 30000, args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--ignore-certificate-errors',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1']});
  try {
    const ctx = await browser.newContext({ignoreHTTPSErrors: true});
    const page = await ctx.newPage();
    const consoleErrors = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${siteOrigin}/`);
    check(new URL(page.url()).origin !== target, 'the page is on another origin');
    const out = await page.evaluate(inPage, target);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    check(!out.error, `fetch failed in the page: ${out.error}; console: ${consoleErrors.join(' | ')}`);
    check(out.config?.status === 200 && out.config.urls.small_download_url.startsWith(`${target}/`),
      `config: ${JSON.stringify(out.config)}`);
    check(out.config?.endpoint === '127.0.0.1', `test_endpoint ${out.config?.endpoint}`);
    const tls = opts.scheme === 'https';
    check(('small_https_download_url' in (out.config?.urls || {})) === tls,
      `the *_https_* keys only over https: ${Object.keys(out.config?.urls || {})}`);
    check(out.small?.status === 200 && out.small.bytes === 1, `small: ${JSON.stringify(out.small)}`);
    check(out.timing && out.timing.requestStart > 0 && out.timing.responseStart > 0,
      `Resource Timing of a cross-origin probe has its details: ${JSON.stringify(out.timing)}`);
    check(out.head?.status === 200 && out.head.length === '1' && out.head.bytes === 0,
      `HEAD small: ${JSON.stringify(out.head)}`);
    check(out.upload?.status === 200 && out.upload.body?.status === 200,
      `upload: ${JSON.stringify(out.upload)}`);
    check(out.forged?.status === 403 && /^mid_/.test(out.forged.body?.error),
      `forged ID: ${JSON.stringify(out.forged)}`);
    check(out.again?.status === 200, `config again: ${JSON.stringify(out.again)}`);
    if (tls) {
      check(out.again?.mid === out.again?.first,
        `config again on the page's one HTTP/2 connection: the same measurement: ${JSON.stringify(out.again)}`);
    }
    check(out.result?.status === 200 && out.result.body?.status === 200,
      `result: ${JSON.stringify(out.result)}`);
    check(out.next?.status === 200 && out.next.mid && out.next.mid !== out.again?.mid,
      `config after the result: a new measurement: ${JSON.stringify(out.next)}`);
    await ctx.close();
  } finally {
    await browser.close();
    site.close();
  }
  if (failures.length) {
    log(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  log('all checks passed');
}

main().catch((e) => {
  log(`error: ${e.stack || e}`);
  process.exit(2);
});
