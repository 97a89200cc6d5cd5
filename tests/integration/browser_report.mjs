// netpulse-data's report page in headless Chromium, opened from file://:
// it must draw every chart from its own inlined data and code, make no
// request at all beyond its own file (no other origin, nothing fetched),
// log no error, and hold the figures netpulse-data computed.
//
// Usage: node browser_report.mjs --report FILE --out DIR [--groups N]
//   --groups: how many test groups (ndt7/RPM x direction) the data has.
// Screenshots: DIR/browser_report.png and DIR/browser_report-full.png.
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {pathToFileURL} from 'node:url';

const peersRequire = createRequire(new URL('../peers/package.json', import.meta.url));
const failures = [];
function check(cond, what) {
  process.stdout.write(`${cond ? 'ok' : 'FAIL'}: ${what}\n`);
  if (!cond) failures.push(what);
}

function parseArgs(argv) {
  const o = {groups: 4};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    o[k] = k === 'groups' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!o.report || !o.out) {
    process.stderr.write('usage: node browser_report.mjs --report FILE --out DIR [--groups N]\n');
    process.exit(2);
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const {chromium} = peersRequire('playwright-core');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  fs.mkdirSync(o.out, {recursive: true});
  const html = fs.readFileSync(o.report, 'utf8');
  check(!/(src|href)=["'](?!#|data:)/i.test(html), 'the page names no resource to load (src=, href=)');
  const data = JSON.parse(html.match(/<script type="application\/json" id="np-data">([^]*?)<\/script>/)[1]);
  const browser = await chromium.launch({executablePath, headless: true, timeout: 30000, args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--host-resolver-rules=MAP * ~NOTFOUND']});
  try {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 800}});
    const page = await ctx.newPage();
    const requests = [];
    const errors = [];
    ctx.on('request', (q) => requests.push(q.url()));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    const url = pathToFileURL(path.resolve(o.report)).href;
    await page.goto(url, {waitUntil: 'load', timeout: 30000});
    await page.waitForFunction(() => document.body.dataset.ready === '1', null, {timeout: 15000})
      .catch(() => {});
    check(await page.evaluate(() => document.body.dataset.ready === '1'), 'the page drew its charts');
    check(errors.length === 0, `no error or warning in the console: ${errors.join(' | ')}`);
    check(requests.length === 1 && requests[0] === url,
      `no request but the page itself: ${requests.join(', ')}`);
    const charts = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('svg.chart')]
      .map((s) => [s.id, {children: s.childElementCount, paths: s.querySelectorAll('path').length,
        boxes: s.querySelectorAll('rect.box').length, bars: s.querySelectorAll('rect.bar').length,
        empty: s.querySelectorAll('text.empty').length}])));
    for (const id of ['throughput', 'rpm', 'loaded', 'idleloaded', 'hours', 'hourofday']) {
      check(charts[id] && charts[id].children > 3 && charts[id].empty === 0, `chart #${id} drawn with data`);
    }
    const groups = data.groups.filter((g) => g.rows > 0);
    check(groups.length === o.groups, `${o.groups} test groups in the data (${groups.length})`);
    check(charts.throughput.paths === groups.filter((g) => g.throughput_mbps.n).length,
      'one throughput distribution per direction');
    check(charts.loaded.boxes === groups.filter((g) => g.server_loaded_rtt_ms.n).length,
      'one RTT-under-load box per direction');
    check(charts.rpm.boxes === groups.filter((g) => g.client_rpm.n).length, 'one RPM box per RPM phase');
    const rows = groups.reduce((a, g) => a + g.rows, 0);
    check(charts.hourofday.bars > 1 && data.hourOfDay.reduce((a, b) => a + b, 0) === rows,
      'tests per hour of day add up to the rows');
    const summaryRows = await page.evaluate(() => document.querySelectorAll('#summary tr').length);
    check(summaryRows === groups.length + 1, 'the summary table has a row per group');
    await page.screenshot({path: path.join(o.out, 'browser_report.png')});
    await page.screenshot({path: path.join(o.out, 'browser_report-full.png'), fullPage: true});
    const phone = await browser.newPage({viewport: {width: 390, height: 844}});
    await phone.goto(url, {waitUntil: 'load'});
    await phone.waitForFunction(() => document.body.dataset.ready === '1', null, {timeout: 15000});
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check(!overflow, 'no horizontal scrolling at phone width');
    await phone.screenshot({path: path.join(o.out, 'browser_report-phone.png'), fullPage: true});
  } finally {
    await browser.close();
  }
  process.stdout.write(failures.length ? `${failures.length} failure(s)\n` : `PASS: screenshots in ${o.out}\n`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
