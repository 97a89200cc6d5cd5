// ndt7 upload in a Web Worker: keeps the socket's send queue full for 10 s
// with growing binary messages, then closes; forwards the server's
// measurements (they carry the rate the page shows: bytes the server
// received over its elapsed time).
'use strict';

const SUBPROTOCOL = 'net.measurementlab.ndt.v7';
const DURATION_MS = 10000;
const REPORT_MS = 250;
const FIRST_SIZE = 1 << 13;
const MAX_SIZE = 1 << 20; // the largest message ndt7 peers must accept
// Queue this many messages ahead: enough that the browser never waits for
// script, little enough that closing at 10 s does not strand seconds of data.
const QUEUE_MESSAGES = 16;

self.onmessage = (ev) => {
  const ws = new WebSocket(ev.data.url, SUBPROTOCOL);
  ws.binaryType = 'arraybuffer';
  let start = 0;
  let queued = 0; // bytes handed to send()
  let lastReport = 0;
  let failed = false;
  let closing = false;
  let payload = randomBytes(FIRST_SIZE);

  const sentBytes = () => queued - ws.bufferedAmount;
  const report = (now) => {
    const m = {
      AppInfo: {NumBytes: sentBytes(), ElapsedTime: Math.round((now - start) * 1000)},
      Origin: 'client',
      Test: 'upload',
    };
    if (ws.readyState === WebSocket.OPEN && !closing) ws.send(JSON.stringify(m));
    self.postMessage({type: 'client', appInfo: m.AppInfo});
  };

  // One pass: top the queue up, grow the message as the spec suggests
  // (double while below 1 MiB and below 1/16 of what was sent), report.
  const pump = () => {
    if (ws.readyState !== WebSocket.OPEN || closing) return;
    const now = performance.now();
    if (now - start >= DURATION_MS) {
      report(now);
      closing = true;
      ws.close(1000);
      return;
    }
    if (payload.length < MAX_SIZE && payload.length <= sentBytes() / 16) {
      payload = randomBytes(payload.length * 2);
    }
    const high = QUEUE_MESSAGES * payload.length;
    while (ws.bufferedAmount < high) {
      ws.send(payload);
      queued += payload.length;
    }
    if (now - lastReport >= REPORT_MS) {
      lastReport = now;
      report(now);
    }
    // A macrotask, not a loop: lets the socket drain and messages arrive.
    setTimeout(pump, 0);
  };

  ws.onopen = () => {
    start = performance.now();
    lastReport = start;
    self.postMessage({type: 'start'});
    pump();
  };
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') self.postMessage({type: 'server', text: m.data});
  };
  ws.onerror = () => {
    failed = true;
  };
  ws.onclose = (e) => {
    self.postMessage({
      type: 'done',
      ok: !failed && start > 0 && (e.code === 1000 || e.code === 1005),
      code: e.code,
      bytes: sentBytes(),
      elapsedUs: start > 0 ? Math.round((performance.now() - start) * 1000) : 0,
    });
  };
};

// Random, so no compression anywhere on the path can shrink it.
function randomBytes(n) {
  const b = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(n, off + 65536)));
  return b;
}
