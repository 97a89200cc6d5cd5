// Scripted WebSocket client (Node `ws`): a real peer for netpulse's WebSocket server tests.
//
// Usage: node ws_client.mjs --url ws[s]://HOST:PORT/PATH [steps...] [options]
//
// Steps run in command-line order:
//   --text NxSIZE      send N text messages of SIZE bytes (UTF-8 mixing 1- to
//                      4-byte characters), then expect N echoes, byte-exact
//   --binary NxSIZE    same with N binary messages of SIZE random bytes
//   --ping             send a ping with a payload, expect a pong with it
//   --server-close C   send the text "close:C" (the echo peers' convention) and
//                      expect the server to close with code C ("none" = 1005)
//   --oversize SIZE    send one binary message of SIZE bytes that the server
//                      must refuse: expect it to close (default code 1009)
//   --close C          close with code C and wait for the server's close
//                      (added as the last step, with 1000, when no close step
//                      is given)
// Options:
//   --fragment SIZE    send each data message as fragments of SIZE bytes
//   --expect-close C   the close code the server must send (default: the
//                      code of the close step; "any" = do not check)
//   --expect-status S  expect the handshake to be refused with HTTP status S
//                      (then no step runs)
//   --no-subprotocol   do not request net.measurementlab.ndt.v7 (by default it
//                      is requested and the 101 must echo it)
//   --no-deflate       do not offer permessage-deflate (by default it is
//                      offered, as browsers do, and must be declined)
//   --timeout SECONDS  whole-run limit (default 20)
//
// Prints one JSON line on stdout ({"ok":true|false,...}); logs on stderr.
// Exit code 0 when every expectation held, 1 otherwise, 2 on bad usage.
// Certificates are not verified (self-signed test servers).
import crypto from 'node:crypto';
import WebSocket from 'ws';

const SUBPROTOCOL = 'net.measurementlab.ndt.v7';
const MAX_MESSAGE = 1 << 24;

function usage(msg) {
  process.stderr.write(`ws_client: ${msg}\n(see the top of ws_client.mjs for usage)\n`);
  process.exit(2);
}

function parseCount(spec, flag) {
  const m = /^(\d+)x(\d+)$/.exec(spec || '');
  if (!m) usage(`${flag} wants NxSIZE, got ${JSON.stringify(spec)}`);
  const n = Number(m[1]);
  const size = Number(m[2]);
  if (size > MAX_MESSAGE) usage(`${flag}: size above ${MAX_MESSAGE}`);
  return {n, size};
}

function parseCode(spec, flag) {
  if (spec === 'none') return 1005;
  if (!/^\d{1,4}$/.test(spec || '')) usage(`${flag} wants a close code`);
  return Number(spec);
}

function parseArgs(argv) {
  const o = {
    url: null, steps: [], fragment: 0, expectClose: undefined,
    expectStatus: 0, subprotocol: true, deflate: true, timeout: 20,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    switch (a) {
      case '--url': o.url = val(); break;
      case '--text': o.steps.push({kind: 'text', ...parseCount(val(), a)}); break;
      case '--binary': o.steps.push({kind: 'binary', ...parseCount(val(), a)}); break;
      case '--ping': o.steps.push({kind: 'ping'}); break;
      case '--server-close': o.steps.push({kind: 'server-close', code: parseCode(val(), a)}); break;
      case '--oversize': o.steps.push({kind: 'oversize', size: Number(val())}); break;
      case '--close': o.steps.push({kind: 'close', code: parseCode(val(), a)}); break;
      case '--fragment': o.fragment = Number(val()); break;
      case '--expect-close': {
        const v = val();
        o.expectClose = v === 'any' ? null : parseCode(v, a);
        break;
      }
      case '--expect-status': o.expectStatus = Number(val()); break;
      case '--no-subprotocol': o.subprotocol = false; break;
      case '--no-deflate': o.deflate = false; break;
      case '--timeout': o.timeout = Number(val()); break;
      default: usage(`unknown argument: ${a}`);
    }
  }
  if (!o.url || !/^wss?:\/\//.test(o.url)) usage('--url ws://... or wss://... is required');
  if (!(o.timeout > 0)) usage('--timeout must be > 0');
  if (!Number.isInteger(o.fragment) || o.fragment < 0) usage('--fragment wants a size');
  const closeIdx = o.steps.findIndex((s) => ['close', 'server-close', 'oversize'].includes(s.kind));
  if (closeIdx >= 0 && closeIdx !== o.steps.length - 1) usage('a close step must be the last');
  if (closeIdx < 0) o.steps.push({kind: 'close', code: 1000});
  return o;
}

// Exactly `size` bytes of valid UTF-8 with 1-, 2-, 3- and 4-byte characters,
// so that fragment and read boundaries fall inside characters.
function makeText(size) {
  const chars = ['a', 'Z', '0', ' ', '{', '\u00e9', '\u20ac', '\u{1F600}'];
  const rnd = crypto.randomBytes(size);
  let out = '';
  let left = size;
  for (let i = 0; left > 0; i++) {
    let c = chars[rnd[i] % chars.length];
    if (Buffer.byteLength(c) > left) c = 'x';
    out += c;
    left -= Buffer.byteLength(c);
  }
  return Buffer.from(out, 'utf8');
}

const opts = parseArgs(process.argv.slice(2));
const log = (msg) => process.stderr.write(`ws_client: ${msg}\n`);
const result = {ok: false, url: opts.url, protocol: null, extensions: null,
  steps: [], close: null, error: null};

function finish(ok, error) {
  result.ok = ok && !error;
  if (error) result.error = error;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}

const deadline = setTimeout(() => finish(false,
    `timeout after ${opts.timeout}s (step ${result.steps.length + 1} of ${opts.steps.length})`),
opts.timeout * 1000);
deadline.unref();

const ws = new WebSocket(opts.url, opts.subprotocol ? [SUBPROTOCOL] : [], {
  rejectUnauthorized: false,
  perMessageDeflate: opts.deflate ? {} : false,
  maxPayload: MAX_MESSAGE,
  handshakeTimeout: opts.timeout * 1000,
});

// Incoming messages and pongs are queued; steps wait on them in order.
const inbox = [];
const pongs = [];
let waiter = null;
let closeInfo = null;
const wake = () => {
  if (waiter) {
    const w = waiter;
    waiter = null;
    w();
  }
};
const waitFor = (pred) => new Promise((resolve, reject) => {
  const check = () => {
    if (pred()) return resolve();
    if (closeInfo) return reject(new Error(`connection closed (code ${closeInfo.code}) while waiting`));
    waiter = check;
  };
  check();
});

ws.on('message', (data, isBinary) => {
  inbox.push({data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary});
  wake();
});
ws.on('pong', (data) => {
  pongs.push(Buffer.from(data));
  wake();
});
ws.on('close', (code, reason) => {
  closeInfo = {code, reason: reason.toString()};
  wake();
});
ws.on('error', (err) => {
  if (!closeInfo) finish(false, `socket error: ${err.message}`);
});
ws.on('unexpected-response', (req, res) => {
  result.status = res.statusCode;
  res.resume();
  if (opts.expectStatus === res.statusCode) finish(true);
  finish(false, `handshake refused with HTTP ${res.statusCode}` +
      (opts.expectStatus ? ` (expected ${opts.expectStatus})` : ''));
});

function sendMessage(buf, binary) {
  if (!opts.fragment || buf.length <= opts.fragment) {
    ws.send(buf, {binary, compress: false});
    return;
  }
  for (let off = 0; off < buf.length; off += opts.fragment) {
    const end = Math.min(off + opts.fragment, buf.length);
    ws.send(buf.subarray(off, end), {binary, compress: false, fin: end === buf.length});
  }
}

async function runSteps() {
  for (const step of opts.steps) {
    const t0 = process.hrtime.bigint();
    const rec = {step: step.kind};
    if (step.kind === 'text' || step.kind === 'binary') {
      const binary = step.kind === 'binary';
      const sent = [];
      for (let i = 0; i < step.n; i++) {
        const buf = binary ? crypto.randomBytes(step.size) : makeText(step.size);
        sent.push(buf);
        sendMessage(buf, binary);
      }
      for (let i = 0; i < step.n; i++) {
        await waitFor(() => inbox.length > 0);
        const got = inbox.shift();
        if (got.isBinary !== binary) {
          throw new Error(`${step.kind} message ${i}: echoed as ${got.isBinary ? 'binary' : 'text'}`);
        }
        if (!got.data.equals(sent[i])) {
          throw new Error(`${step.kind} message ${i}: echo differs (sent ${sent[i].length} bytes, got ${got.data.length})`);
        }
      }
      Object.assign(rec, {count: step.n, size: step.size, bytes: step.n * step.size});
    } else if (step.kind === 'ping') {
      const payload = Buffer.from(`np-ping-${crypto.randomBytes(4).toString('hex')}`);
      ws.ping(payload);
      await waitFor(() => pongs.some((p) => p.equals(payload)));
      rec.payload = payload.toString();
    } else if (step.kind === 'server-close') {
      ws.send(`close:${step.code === 1005 ? 'none' : step.code}`);
      await waitFor(() => closeInfo !== null).catch(() => {});
      rec.requested = step.code;
      if (opts.expectClose === undefined) opts.expectClose = step.code;
    } else if (step.kind === 'oversize') {
      sendMessage(crypto.randomBytes(step.size), true);
      await waitFor(() => closeInfo !== null);
      rec.size = step.size;
      if (opts.expectClose === undefined) opts.expectClose = 1009;
    } else if (step.kind === 'close') {
      if (step.code === 1005) ws.close();
      else ws.close(step.code, 'done');
      await waitFor(() => closeInfo !== null).catch(() => {});
      rec.sent = step.code;
      if (opts.expectClose === undefined) opts.expectClose = step.code;
    }
    rec.ms = Number(process.hrtime.bigint() - t0) / 1e6;
    result.steps.push(rec);
    log(`${step.kind} ok (${rec.ms.toFixed(1)} ms)`);
  }
  result.close = closeInfo;
  if (inbox.length) throw new Error(`${inbox.length} unexpected message(s) left`);
  if (opts.expectClose !== null && closeInfo.code !== opts.expectClose) {
    throw new Error(`server close code ${closeInfo.code}, expected ${opts.expectClose}`);
  }
}

ws.on('open', () => {
  result.protocol = ws.protocol || null;
  result.extensions = ws.extensions || null;
  if (opts.expectStatus) return finish(false, `handshake succeeded, expected HTTP ${opts.expectStatus}`);
  if (opts.subprotocol && ws.protocol !== SUBPROTOCOL) {
    return finish(false, `server chose subprotocol ${JSON.stringify(ws.protocol)}, expected ${SUBPROTOCOL}`);
  }
  if (ws.extensions) return finish(false, `server accepted extensions ${JSON.stringify(ws.extensions)}`);
  runSteps().then(() => finish(true), (err) => {
    result.close = closeInfo;
    finish(false, err.message);
  });
});
