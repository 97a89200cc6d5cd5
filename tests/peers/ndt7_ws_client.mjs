// A real ndt7 client built on Node `ws`: interop peer for netpulse-server's WebSocket server side.
//
// Usage: node ndt7_ws_client.mjs --url ws[s]://HOST:PORT [--test download|upload]...
//                                [--query k=v&...] [--timeout SECONDS]
//                                [--alpn PROTO]
//
// --alpn offers that TLS ALPN protocol (wss only); by default `ws` offers
// none, like Go clients (ndt7-client-go).
//
// Runs each selected test (default: download then upload) the way ndt7
// clients do: requests the subprotocol net.measurementlab.ndt.v7 (and offers
// permessage-deflate, as browsers do, which the server must decline),
// reads/sends binary messages, sends its own text measurements every 250 ms,
// lets `ws` answer the server's pings, and waits for the server's close 1000,
// which `ws` answers with 1000. Checks that every server text message parses
// as an ndt7 measurement with one UUID per test.
//
// Prints one JSON line on stdout:
//   {"ok":bool,"tests":[{"test","uuid","localPort","closeCode","binaryBytes",
//     "measurements","pings","clientMeasurementsSent","seconds"}],"error"}
// Exit 0 when every expectation held, 1 otherwise, 2 on bad usage.
import crypto from 'node:crypto';
import WebSocket from 'ws';

const SUBPROTOCOL = 'net.measurementlab.ndt.v7';
const payload = crypto.randomBytes(1 << 20);

function usage(msg) {
  process.stderr.write(`ndt7_ws_client: ${msg}\n(see the top of ndt7_ws_client.mjs)\n`);
  process.exit(2);
}

const opts = {url: null, tests: [], query: '', timeout: 30, alpn: null};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--url') opts.url = val();
    else if (a === '--test') opts.tests.push(val());
    else if (a === '--query') opts.query = val();
    else if (a === '--timeout') opts.timeout = Number(val());
    else if (a === '--alpn') opts.alpn = val();
    else usage(`unknown argument: ${a}`);
  }
  if (!opts.url || !/^wss?:\/\/[^/]+$/.test(opts.url)) usage('--url ws[s]://host:port');
  if (!opts.tests.length) opts.tests = ['download', 'upload'];
  for (const t of opts.tests) if (t !== 'download' && t !== 'upload') usage(`bad --test ${t}`);
}

const log = (msg) => process.stderr.write(`ndt7_ws_client: ${msg}\n`);

// The fields every server measurement must carry (ndt-server's names).
function checkMeasurement(m, test) {
  const need = (obj, path) => {
    let o = m;
    for (const k of path.split('.')) {
      if (o === null || typeof o !== 'object' || !(k in o)) {
        throw new Error(`${test}: measurement without ${path}: ${JSON.stringify(m).slice(0, 300)}`);
      }
      o = o[k];
    }
    return o;
  };
  for (const p of ['ConnectionInfo.Client', 'ConnectionInfo.Server', 'ConnectionInfo.UUID',
    'ConnectionInfo.StartTime', 'BBRInfo.BW', 'BBRInfo.MinRTT', 'TCPInfo.BytesAcked',
    'TCPInfo.BytesReceived', 'TCPInfo.BytesSent', 'TCPInfo.MinRTT', 'TCPInfo.RTT',
    'TCPInfo.ElapsedTime', 'AppInfo.NumBytes', 'AppInfo.ElapsedTime']) need(m, p);
  if (typeof m.ConnectionInfo.UUID !== 'string' || !m.ConnectionInfo.UUID) {
    throw new Error(`${test}: empty UUID`);
  }
  if (!Number.isFinite(m.TCPInfo.ElapsedTime) || !Number.isFinite(m.AppInfo.NumBytes)) {
    throw new Error(`${test}: non-numeric TCPInfo.ElapsedTime/AppInfo.NumBytes`);
  }
}

function runTest(test) {
  return new Promise((resolve, reject) => {
    const q = opts.query ? `?${opts.query}` : '';
    const url = `${opts.url}/ndt/v7/${test}${q}`;
    const rec = {test, uuid: null, localPort: null, closeCode: null, closeReason: null,
      binaryBytes: 0, binarySent: 0, measurements: 0, pings: 0, clientMeasurementsSent: 0,
      seconds: 0};
    const t0 = Date.now();
    let failed = null;
    const fail = (err) => {
      if (!failed) failed = err;
      ws.terminate();
    };
    const ws = new WebSocket(url, [SUBPROTOCOL], {
      rejectUnauthorized: false,
      perMessageDeflate: {}, // offered like browsers; must be declined
      maxPayload: 1 << 24,
      ...(opts.alpn ? {ALPNProtocols: [opts.alpn]} : {}),
    });
    ws.binaryType = 'nodebuffer';
    let ticker = null;
    const timer = setTimeout(() => fail(new Error(`${test}: no close within ${opts.timeout} s`)),
        opts.timeout * 1000);

    const sendClientMeasurement = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const n = test === 'download' ? rec.binaryBytes : rec.binarySent;
      ws.send(JSON.stringify({AppInfo: {NumBytes: n, ElapsedTime: (Date.now() - t0) * 1000},
        Origin: 'client', Test: test}));
      rec.clientMeasurementsSent++;
    };

    // Upload: keep about 1 MiB queued in ws; messages grow 8 KiB -> 1 MiB,
    // sliced from one random buffer. At most 8 sends per turn of the event
    // loop: the socket often takes writes synchronously, and a loop bounded
    // only by bufferedAmount would starve reading (the server's close).
    let size = 1 << 13;
    const pump = () => {
      for (let i = 0; i < 8 && ws.readyState === WebSocket.OPEN &&
           ws.bufferedAmount < (1 << 20); i++) {
        ws.send(payload.subarray(0, size), {binary: true});
        rec.binarySent += size;
        if (size < (1 << 20) && size <= rec.binarySent / 16) size *= 2;
      }
      if (ws.readyState === WebSocket.OPEN) setImmediate(pump);
    };

    ws.on('upgrade', (res) => {
      if (res.headers['sec-websocket-extensions']) {
        fail(new Error(`${test}: server negotiated ${res.headers['sec-websocket-extensions']}`));
      }
    });
    ws.on('open', () => {
      rec.localPort = ws._socket.localPort;
      if (ws.protocol !== SUBPROTOCOL) {
        return fail(new Error(`${test}: subprotocol ${JSON.stringify(ws.protocol)}`));
      }
      if (ws.extensions) return fail(new Error(`${test}: extensions ${ws.extensions}`));
      ticker = setInterval(sendClientMeasurement, 250);
      if (test === 'upload') pump();
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (test === 'upload') return fail(new Error('upload: server sent binary data'));
        rec.binaryBytes += data.length;
        return;
      }
      let m;
      try {
        m = JSON.parse(data.toString('utf8'));
        checkMeasurement(m, test);
      } catch (e) {
        return fail(e);
      }
      if (rec.uuid === null) rec.uuid = m.ConnectionInfo.UUID;
      else if (rec.uuid !== m.ConnectionInfo.UUID) {
        return fail(new Error(`${test}: UUID changed mid-test`));
      }
      rec.measurements++;
    });
    ws.on('ping', () => { rec.pings++; }); // ws answers with a pong itself
    ws.on('unexpected-response', (req, res) => {
      fail(new Error(`${test}: HTTP ${res.statusCode} instead of 101`));
    });
    ws.on('error', (err) => { if (!failed) failed = err; });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      rec.closeCode = code;
      rec.closeReason = reason.toString();
      rec.seconds = (Date.now() - t0) / 1000;
      log(`${test}: closed ${code} after ${rec.seconds} s, ${rec.measurements} measurements, ` +
          `${rec.pings} pings, ${rec.binaryBytes} bytes in, ${rec.binarySent} bytes out`);
      if (failed) return reject(Object.assign(failed, {rec}));
      if (code !== 1000) return reject(Object.assign(new Error(`${test}: close code ${code}`), {rec}));
      if (rec.measurements < 1) return reject(Object.assign(new Error(`${test}: no measurements`), {rec}));
      if (test === 'download' && rec.binaryBytes < (1 << 20)) {
        return reject(Object.assign(new Error(`download: only ${rec.binaryBytes} bytes`), {rec}));
      }
      if (rec.seconds < 9 || rec.seconds > 16) {
        return reject(Object.assign(new Error(`${test}: lasted ${rec.seconds} s`), {rec}));
      }
      resolve(rec);
    });
  });
}

const out = {ok: false, url: opts.url, tests: [], error: null};
try {
  for (const t of opts.tests) out.tests.push(await runTest(t));
  out.ok = true;
} catch (e) {
  if (e.rec) out.tests.push(e.rec);
  out.error = e.message;
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.ok ? 0 : 1);
