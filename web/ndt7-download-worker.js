// ndt7 download in a Web Worker: reads the server's stream, counts every
// byte, reports progress to the page and to the server (4 times a second).
'use strict';

const SUBPROTOCOL = 'net.measurementlab.ndt.v7';
const REPORT_MS = 250;
// The server ends the test 10 s after its handshake; a measurement sent
// later than this might cross its close and not be stored, and the page's
// figure must be one the server stored.
const LAST_REPORT_MS = 9500;

self.onmessage = (ev) => {
  const ws = new WebSocket(ev.data.url, SUBPROTOCOL);
  // ArrayBuffers stay in this process; Blobs would round-trip through the
  // browser's blob store for bytes we only count.
  ws.binaryType = 'arraybuffer';
  let start = 0;
  let bytes = 0;
  let timer = 0;
  let lastSent = null; // the last measurement the server got: the result
  let failed = false;

  // The figure the page shows is one the server also stores (as a
  // ClientMeasurement), so the page and the archive agree exactly.
  const report = () => {
    const ms = performance.now() - start;
    const m = {
      AppInfo: {NumBytes: bytes, ElapsedTime: Math.round(ms * 1000)},
      Origin: 'client',
      Test: 'download',
    };
    if (ws.readyState === WebSocket.OPEN && ms <= LAST_REPORT_MS) {
      ws.send(JSON.stringify(m));
      lastSent = m.AppInfo;
    }
    self.postMessage({type: 'client', appInfo: m.AppInfo});
  };

  ws.onopen = () => {
    start = performance.now();
    self.postMessage({type: 'start'});
    timer = setInterval(report, REPORT_MS);
  };
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') {
      bytes += m.data.length;
      self.postMessage({type: 'server', text: m.data});
    } else {
      bytes += m.data.byteLength;
    }
  };
  ws.onerror = () => {
    failed = true;
  };
  ws.onclose = (e) => {
    clearInterval(timer);
    self.postMessage({
      type: 'done',
      ok: !failed && start > 0 && (e.code === 1000 || e.code === 1005),
      code: e.code,
      result: lastSent,
      bytes,
      elapsedUs: start > 0 ? Math.round((performance.now() - start) * 1000) : 0,
    });
  };
};
