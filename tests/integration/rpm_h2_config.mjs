// The config asked for again on one HTTP/2 connection, with Node's own
// http2 client (an HTTP/2 stack independent of nghttp2), in an order curl
// and nghttp cannot make: config; a large download left running; config
// again (the same measurement); the summary; config while the download
// still runs (409 conn_busy: its records belong to the old measurement);
// the download cancelled; config (a new measurement, or the server closed
// the idle connection of a measurement that has its summary).
//
// Usage: node rpm_h2_config.mjs http://127.0.0.1:PORT   (h2c; https:// for h2)
// stdout: one JSON line of what it saw; exit 0 pass, 1 fail.
import http2 from 'node:http2';

const base = process.argv[2];
const session = http2.connect(base, {rejectUnauthorized: false});
session.on('error', () => {});
let goaway = false;
session.on('goaway', () => { goaway = true; });

function request(path, {method = 'GET', body = null} = {}) {
  return new Promise((resolve, reject) => {
    const s = session.request({':method': method, ':path': path});
    let status = 0;
    const chunks = [];
    s.on('response', (h) => { status = h[':status']; });
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve({status, body: Buffer.concat(chunks).toString()}));
    s.on('error', reject);
    s.end(body);
  });
}

const midOf = (doc) => new URL(JSON.parse(doc).urls.small_download_url).searchParams.get('mid');
const out = {};
const fails = [];
const check = (cond, what) => { if (!cond) fails.push(what); };
try {
  const c1 = await request('/.well-known/nq');
  const mid = midOf(c1.body);
  const q = `?mid=${encodeURIComponent(mid)}`;
  const large = session.request({':method': 'GET', ':path': `/rpm/v1/large${q}`});
  let largeBytes = 0;
  large.on('data', (c) => { largeBytes += c.length; });
  large.on('error', () => {});
  large.end();
  await new Promise((r) => large.once('response', r));
  const c2 = await request('/.well-known/nq');
  out.again = {status: c2.status, same: c2.status === 200 && midOf(c2.body) === mid};
  check(out.again.same, 'config again while it runs: the same measurement');
  const res = await request(`/rpm/v1/result${q}`, {method: 'POST', body: '{"RPM": 42}'});
  out.result = res.status;
  check(res.status === 200, 'result');
  const c3 = await request('/.well-known/nq');
  out.busy = {status: c3.status, body: c3.body.trim()};
  check(c3.status === 409 && /conn_busy/.test(c3.body), 'config with the download still open: 409');
  out.largeBytes = largeBytes;
  check(largeBytes > 0, 'the download ran');
  large.close(http2.constants.NGHTTP2_CANCEL);
  await new Promise((r) => large.once('close', r));
  if (!goaway && !session.closed) {
    try {
      const c4 = await request('/.well-known/nq');
      out.next = {status: c4.status, newMeasurement: c4.status === 200 && midOf(c4.body) !== mid};
      check(out.next.newMeasurement, 'config after the result: a new measurement');
    } catch (e) {
      out.next = {closed: String(e)}; // the server closed the idle connection first
    }
  } else {
    out.next = {closed: 'goaway'};
  }
} catch (e) {
  fails.push(String(e));
}
out.fails = fails;
process.stdout.write(`${JSON.stringify(out)}\n`);
session.close();
process.exit(fails.length ? 1 : 0);
