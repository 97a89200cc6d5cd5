// An RPM load client on Node's built-in node:http2 (nghttp2 inside Node, its
// own flow-control policy: about one WINDOW_UPDATE per DATA frame), for the
// interop tests: the same phases and the same JSON summary line as
// tests/peers/h2load_go (large downloads read to the end of the phase,
// endless uploads, a foreign probe on a new connection and a self probe on a
// load connection every interval).
//
// Usage: node h2load_node.mjs --config URL [--conns 4] [--seconds 10]
//        [--probe-ms 10] [--mode sequential|download|upload]
// https:// is h2 over TLS (certificate not checked: the test server's is
// self-signed), http:// is h2c with prior knowledge.
import http2 from 'node:http2';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    config: { type: 'string' },
    conns: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'probe-ms': { type: 'string', default: '10' },
    mode: { type: 'string', default: 'sequential' },
  },
});
const cfgURL = new URL(opt.config);
const tlsOn = cfgURL.protocol === 'https:';
const out = { proto: tlsOn ? 'h2' : 'h2c', goaways: {}, errors: {}, statuses: {}, dials: 0 };
let afterResult = false;
const bump = (m, k) => { m[k] = (m[k] || 0) + 1; };
const codeName = (c) => {
  for (const [k, v] of Object.entries(http2.constants)) {
    if (k.startsWith('NGHTTP2_') && v === c && !k.startsWith('NGHTTP2_SETTINGS') &&
        !k.startsWith('NGHTTP2_FLAG') && !k.startsWith('NGHTTP2_SESSION') &&
        !k.startsWith('NGHTTP2_STREAM') && !k.startsWith('NGHTTP2_HCAT') &&
        !k.startsWith('NGHTTP2_NV') && !k.startsWith('NGHTTP2_ERR') &&
        !k.startsWith('NGHTTP2_DEFAULT') && !k.startsWith('NGHTTP2_DATA')) {
      return k.replace('NGHTTP2_', '');
    }
  }
  return String(c);
};

function connect(origin, kind) {
  out.dials++;
  const s = http2.connect(origin, tlsOn ? { rejectUnauthorized: false } : {});
  s.on('goaway', (code, _last, data) => {
    // after the summary the server closes idle connections (NO_ERROR)
    // "KIND CODE debug": the server closes idle probe connections with
    // NO_ERROR too
    bump(out.goaways, (afterResult ? 'after result: ' : '') +
      (kind + ' ' + codeName(code) + ' ' + (data ? data.toString() : '')).trim());
  });
  s.on('error', (e) => bump(out.errors, 'session: ' + (e.code || e.message)));
  return s;
}

// request resolves with {status, bytes} once the stream ends or fails.
function request(session, headers, { onData, body } = {}) {
  return new Promise((resolve) => {
    let status = 0;
    let bytes = 0;
    let req;
    try {
      req = session.request(headers, { endStream: !body });
    } catch (e) {
      bump(out.errors, 'request: ' + (e.code || e.message));
      resolve({ status, bytes, failed: true });
      return;
    }
    req.on('response', (h) => { status = h[':status']; });
    req.on('data', (d) => { bytes += d.length; if (onData) onData(d.length); });
    req.on('error', (e) => {
      bump(out.errors, headers[':path'].split('?')[0] + ': ' + (e.code || e.message));
    });
    req.on('close', () => {
      if (status && status !== 200) bump(out.statuses, status);
      resolve({ status, bytes, failed: status !== 200 || req.rstCode > 0, rst: req.rstCode });
    });
    if (body) body(req);
  });
}

const pathOf = (u) => { const x = new URL(u); return x.pathname + x.search; };

function probes() {
  return { attempted: 0, ok: 0, failed: 0, median_ms: 0, ms: [] };
}

async function probe(session, url, p) {
  const t0 = process.hrtime.bigint();
  const r = await request(session, { ':path': pathOf(url) });
  if (r.status === 200 && !r.failed) {
    p.ok++;
    p.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  } else {
    p.failed++;
  }
}

async function phase(cfg, dir, flows, seconds, probeMs) {
  const origin = new URL(cfg.urls.small_download_url).origin;
  const ph = { direction: dir, flows, bytes: 0, seconds: 0, mbps: 0, flows_ok: 0,
    foreign_probes: probes(), self_probes: probes() };
  const end = Date.now() + seconds * 1000;
  const sessions = [];
  const t0 = process.hrtime.bigint();
  const running = [];
  for (let i = 0; i < flows; i++) {
    const s = connect(origin, 'load');
    sessions.push(s);
    if (dir === 'download') {
      running.push(new Promise((resolve) => {
        const req = s.request({ ':path': pathOf(cfg.urls.large_download_url) });
        let status = 0;
        req.on('response', (h) => { status = h[':status']; });
        req.on('data', (d) => { ph.bytes += d.length; });
        req.on('error', (e) => bump(out.errors, 'download: ' + (e.code || e.message)));
        const timer = setTimeout(() => { ph.flows_ok += status === 200; req.close(); },
          end - Date.now());
        req.on('close', () => {
          clearTimeout(timer);
          if (status !== 200) bump(out.statuses, status);
          resolve();
        });
      }));
    } else {
      const chunk = Buffer.alloc(1 << 16);
      running.push(request(s, { ':method': 'POST', ':path': pathOf(cfg.urls.upload_url) }, {
        body: (req) => {
          // write until the phase ends, respecting the stream's backpressure
          const pump = () => {
            // bytes count once the stream has taken them (flow control
            // holds them back otherwise), not when queued
            const took = (err) => { if (!err) ph.bytes += chunk.length; };
            while (Date.now() < end) {
              if (!req.write(chunk, took)) { req.once('drain', pump); return; }
            }
            req.end();
          };
          pump();
        },
      }).then((r) => { ph.flows_ok += r.status === 200 && !r.failed; }));
    }
  }
  const inflight = [];
  let i = 0;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, probeMs));
    if (Date.now() >= end) break;
    ph.foreign_probes.attempted++;
    ph.self_probes.attempted++;
    const fs = connect(origin, 'probe');
    inflight.push(probe(fs, cfg.urls.small_download_url, ph.foreign_probes)
      .then(() => fs.close()));
    inflight.push(probe(sessions[i++ % flows], cfg.urls.small_download_url, ph.self_probes));
  }
  await Promise.all(running);
  ph.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(inflight);
  for (const s of sessions) s.close();
  ph.mbps = ph.bytes * 8 / ph.seconds / 1e6;
  for (const p of [ph.foreign_probes, ph.self_probes]) {
    p.ms.sort((a, b) => a - b);
    p.median_ms = p.ms.length ? p.ms[p.ms.length >> 1] : 0;
    delete p.ms;
  }
  return ph;
}

async function main() {
  const ctl = connect(cfgURL.origin, 'control');
  let cfgText = '';
  const cfg = await new Promise((resolve) => {
    const req = ctl.request({ ':path': cfgURL.pathname });
    req.setEncoding('utf8');
    req.on('response', (h) => { if (h[':status'] !== 200) bump(out.statuses, h[':status']); });
    req.on('data', (d) => { cfgText += d; });
    req.on('error', (e) => bump(out.errors, 'config: ' + (e.code || e.message)));
    req.on('close', () => { try { resolve(JSON.parse(cfgText)); } catch { resolve(null); } });
  });
  if (!cfg || !cfg.urls) {
    bump(out.errors, 'config');
  } else {
    out.test_endpoint = cfg.test_endpoint;
    const flows = Number(opt.conns);
    const secs = Number(opt.seconds);
    const pm = Number(opt['probe-ms']);
    const dirs = opt.mode === 'sequential' ? ['download', 'upload'] : [opt.mode];
    for (const d of dirs) out[d] = await phase(cfg, d, flows, secs, pm);
    if (cfg.urls.result_url) {
      afterResult = true;
      const dl = out.download || {};
      const sum = JSON.stringify({ SchemaVersion: 1, Download: { ThroughputMbps: dl.mbps || 0 } });
      const rr = await request(ctl, { ':method': 'POST', ':path': pathOf(cfg.urls.result_url),
        'content-type': 'application/json' }, { body: (req) => req.end(sum) });
      out.result_status = rr.status;
    }
  }
  ctl.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
