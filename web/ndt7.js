// ndt7 from the page: runs the download or upload worker against this
// page's own server and turns what it reports into rates.

const CLIENT = 'client_name=netpulse-web&client_version=0.1.0&client_library_name=netpulse-web';
const HARD_STOP_MS = 20000; // the server stops a test at 15 s; this is for a dead peer

export function ndt7Url(direction, loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ndt/v7/${direction}?${CLIENT}`;
}

export const mbps = (bytes, us) => (us > 0 ? (8 * bytes) / us : 0);

// The server's rate in one of its measurements (ndt-server's definition).
export function serverRate(direction, m) {
  const ti = m && m.TCPInfo;
  if (!ti || !(ti.ElapsedTime > 0)) return null;
  const bytes = direction === 'download' ? ti.BytesAcked : ti.BytesReceived;
  return typeof bytes === 'number' ? {mbps: mbps(bytes, ti.ElapsedTime), elapsedUs: ti.ElapsedTime, bytes} : null;
}

// Runs one direction (url: the test's, by default on this page's origin). onSample({t, mbps, source}) is called as figures
// arrive (t in seconds since the test started). Resolves with
// {direction, ok, mbps, source, bytes, elapsedUs, minRttMs, samples, error}.
export function runNdt7(direction, onSample = () => {}, url = ndt7Url(direction)) {
  const worker = new Worker(`ndt7-${direction}-worker.js`);
  const samples = [];
  let lastServer = null;
  let minRttUs = 0;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(stop);
      worker.terminate();
      resolve(r);
    };
    const stop = setTimeout(() => finish({direction, ok: false, error: 'no answer from the server in time'}),
      HARD_STOP_MS);
    const sample = (s) => {
      samples.push(s);
      onSample(s);
    };
    worker.onerror = (e) => finish({direction, ok: false, error: `worker failed: ${e.message}`});
    worker.onmessage = (ev) => {
      const d = ev.data;
      if (d.type === 'client' && direction === 'download') {
        const t = d.appInfo.ElapsedTime / 1e6;
        if (t > 0) sample({t, mbps: mbps(d.appInfo.NumBytes, d.appInfo.ElapsedTime), source: 'client'});
      } else if (d.type === 'server') {
        let m;
        try {
          m = JSON.parse(d.text);
        } catch {
          return; // not a measurement: ignore, as ndt7 clients do
        }
        const r = serverRate(direction, m);
        if (m.TCPInfo && m.TCPInfo.MinRTT > 0) minRttUs = m.TCPInfo.MinRTT;
        if (!r) return;
        lastServer = r;
        if (direction === 'upload') sample({t: r.elapsedUs / 1e6, mbps: r.mbps, source: 'server'});
      } else if (d.type === 'done') {
        const base = {direction, samples, minRttMs: minRttUs / 1000, code: d.code};
        if (!d.ok) {
          finish({...base, ok: false, error: `the connection ended with code ${d.code}`});
        } else if (direction === 'download' && d.result) {
          // What the page shows is the last measurement the server stored.
          finish({...base, ok: true, source: 'client', mbps: mbps(d.result.NumBytes, d.result.ElapsedTime),
            bytes: d.result.NumBytes, elapsedUs: d.result.ElapsedTime});
        } else if (direction === 'upload' && lastServer) {
          finish({...base, ok: true, source: 'server', ...lastServer});
        } else {
          finish({...base, ok: false, error: 'the test ended before any measurement'});
        }
      }
    };
    worker.postMessage({url});
  });
}
