// Responsiveness from a browser: the closest a page gets to
// draft-ietf-ippm-responsiveness-09. Load is parallel fetch downloads of the
// large object (read and discarded) or XHR uploads of a large random Blob,
// added one flow per interval until goodput is stable; latency probes are
// cache-busted GETs of the small object, idle first, then under load.
// What a page cannot do (and the summary says so with Variant "browser"):
// open fresh connections on demand, so no foreign TCP/TLS handshake timing;
// on HTTP/2 the browser puts every request on one connection, so "flows" are
// streams of that connection; on HTTP/1.1 probes use the browser's other
// pooled connections rather than the loaded ones.
import {rpmFromMs, round, stable, trimmedMean, mean} from './stats.js';

export const DEFAULTS = {
  intervalMs: 1000, // the draft's ID (goresponsiveness' value; draft-09 says 5 s for now)
  mad: 4, // moving average distance, intervals
  tmp: 0.95, // trimmed mean keeps the fastest 95 %
  sdt: 0.05, // stability: std-dev below 5 % of the current value
  mps: 10, // probes per second at most (the draft allows 100; a page keeps it light)
  maxFlowsH2: 8, // streams per direction on the one HTTP/2 connection
  maxFlowsH1: 4, // connections per direction: browsers allow 6 per origin, 2 stay for probes
  maxPhaseMs: 12000,
  idleMs: 2000,
  uploadBlobBytes: 4 << 20,
};

const noStore = {cache: 'no-store', credentials: 'omit'};
// A dropped connection (a network error, not an HTTP status) costs a probe
// or restarts a flow, this many times per phase, before the phase fails.
const NETWORK_RETRIES = 5;

// The server answered, but not 200: retrying would not help.
class HttpError extends Error {}

const nonce = () => Math.random().toString(36).slice(2, 10);

// HTTP version of a finished request, from Resource Timing.
function protocolOf(url) {
  const e = performance.getEntriesByName(url).pop();
  const p = e && e.nextHopProtocol;
  if (p === 'h2') return new URL(url).protocol === 'https:' ? 'h2' : 'h2c';
  return 'h1';
}

const PROBE_TIMEOUT_MS = 10000;

// One probe: ms from the request leaving to its response's end, as the
// browser's Resource Timing saw it (without time queued in the page), or
// the whole fetch when the entry is missing. A probe still out when its
// phase ends (stop) or after PROBE_TIMEOUT_MS is abandoned: it rejects.
async function probe(smallUrl, stop) {
  const url = `${smallUrl}&r=${nonce()}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), PROBE_TIMEOUT_MS);
  const onStop = () => abort.abort();
  stop.addEventListener('abort', onStop, {once: true});
  try {
    const t0 = performance.now();
    const resp = await fetch(url, {...noStore, signal: abort.signal});
    await resp.arrayBuffer();
    const t1 = performance.now();
    if (!resp.ok) throw new HttpError(`probe answered ${resp.status}`);
    const e = performance.getEntriesByName(url).pop();
    const ms = e && e.requestStart > 0 && e.responseEnd >= e.requestStart ? e.responseEnd - e.requestStart : t1 - t0;
    return {at: t0, ms};
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop);
    performance.clearResourceTimings();
  }
}

// Whether a failure may be retried (spending one of budget.left).
const retryable = (e, budget) => !(e instanceof HttpError) && budget.left-- > 0;

// Probes, spaced by 1/mps, until isDone() (checked between probes) or
// stop aborts (which abandons the probe in flight).
function probeLoop(smallUrl, mps, sink, isDone, stop, budget) {
  const gap = 1000 / mps;
  return (async () => {
    while (!isDone() && !stop.aborted) {
      const t0 = performance.now();
      try {
        sink(await probe(smallUrl, stop));
      } catch (e) {
        if (!stop.aborted && !retryable(e, budget)) throw e;
      }
      const wait = gap - (performance.now() - t0);
      if (wait > 0 && !isDone()) await new Promise((r) => setTimeout(r, wait));
    }
  })();
}

async function downloadFlow(largeUrl, signal, counter) {
  try {
    const resp = await fetch(`${largeUrl}&r=${nonce()}`, {...noStore, signal});
    if (!resp.ok) throw new HttpError(`large answered ${resp.status}`);
    const reader = resp.body.getReader();
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      counter.bytes += value.byteLength;
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}

// XHR, not fetch: it reports upload progress, so goodput is known each
// interval rather than once per body.
function uploadOnce(url, blob, signal, counter) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    let seen = 0;
    x.open('POST', url);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.upload.onprogress = (e) => {
      counter.bytes += e.loaded - seen;
      seen = e.loaded;
    };
    x.onload = () => {
      counter.bytes += blob.size - seen;
      if (x.status === 200) resolve();
      else reject(x.status ? new HttpError(`upload answered ${x.status}`) : new Error('upload failed'));
    };
    x.onerror = () => (signal.aborted ? resolve() : reject(new Error('upload failed')));
    x.onabort = () => resolve();
    signal.addEventListener('abort', () => x.abort(), {once: true});
    x.send(blob);
  });
}

async function uploadFlow(uploadUrl, blob, signal, counter) {
  while (!signal.aborted) await uploadOnce(`${uploadUrl}&r=${nonce()}`, blob, signal, counter);
}

function randomBlob(n) {
  const b = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(n, off + 65536)));
  return new Blob([b], {type: 'application/octet-stream'});
}

// The measurement's URLs, or null when the server offers no RPM test.
export async function fetchConfig() {
  const resp = await fetch('/.well-known/nq', noStore);
  if (resp.status === 404) return null; // a server run with --no-rpm
  if (resp.status === 409) throw new Error('the server allows one measurement per connection: reload the page to test again');
  if (!resp.ok) {
    const retry = resp.headers.get('Retry-After');
    throw new Error(`the server is busy (HTTP ${resp.status})${retry ? `; try again in ${retry} s` : ''}`);
  }
  const doc = await resp.json();
  const u = doc && doc.urls;
  if (!u || !u.small_download_url || !u.large_download_url || !u.upload_url) throw new Error('the server sent no RPM URLs');
  // Same origin only: the page never follows a config to another host.
  for (const k of ['small_download_url', 'large_download_url', 'upload_url', 'result_url']) {
    if (u[k] && new URL(u[k], location.href).origin !== location.origin) throw new Error('the RPM URLs point to another host');
  }
  const mid = new URL(u.small_download_url).searchParams.get('mid');
  return {small: u.small_download_url, large: u.large_download_url, upload: u.upload_url,
    result: u.result_url || `/rpm/v1/result?mid=${encodeURIComponent(mid)}`, mid,
    protocol: protocolOf(new URL('/.well-known/nq', location.href).href)};
}

export async function idlePhase(cfg, p, onProbe) {
  const probes = [];
  const start = performance.now();
  const done = () => performance.now() - start >= p.idleMs;
  await probeLoop(cfg.small, p.mps, (x) => {
    probes.push(x.ms);
    onProbe(x.ms);
  }, done, new AbortController().signal, {left: NETWORK_RETRIES});
  const ms = trimmedMean(probes, p.tmp);
  return {probes, summary: compact({LatencyMs: round(ms, 3), Probes: probes.length,
    DurationMs: round(performance.now() - start, 0)})};
}

// One loaded phase ('download' or 'upload'). onTick({t, mbps, flows}) each
// interval, onProbe(ms) each probe.
export async function loadPhase(cfg, dir, p, {onTick = () => {}, onProbe = () => {}} = {}) {
  const maxFlows = cfg.protocol === 'h1' ? p.maxFlowsH1 : p.maxFlowsH2;
  const abort = new AbortController();
  const counter = {bytes: 0};
  const flows = [];
  const blob = dir === 'upload' ? randomBlob(p.uploadBlobBytes) : null;
  const budget = {left: NETWORK_RETRIES};
  const flow = async () => {
    for (;;) {
      try {
        return await (dir === 'download' ? downloadFlow(cfg.large, abort.signal, counter) :
          uploadFlow(cfg.upload, blob, abort.signal, counter));
      } catch (e) {
        if (abort.signal.aborted) return undefined;
        if (!retryable(e, budget)) throw e;
      }
    }
  };
  const addFlow = () => {
    flows.push(flow().catch((e) => {
      failure = failure || e;
    }));
  };
  const start = performance.now();
  const probesByInterval = [[]];
  let finished = false;
  let failure = null;
  const prober = probeLoop(cfg.small, p.mps, (x) => {
    probesByInterval[probesByInterval.length - 1].push(x.ms);
    onProbe(x.ms);
  }, () => finished, abort.signal, budget).catch((e) => {
    failure = failure || e;
  });
  addFlow();

  const goodput = []; // Mbit/s per interval
  const goodputMA = [];
  const latencyTM = [];
  let goodputStable = false;
  let rStable = false;
  let lastBytes = 0;
  while (!failure) {
    await new Promise((r) => setTimeout(r, p.intervalMs));
    const elapsed = performance.now() - start;
    const bytes = counter.bytes;
    goodput.push((8 * (bytes - lastBytes)) / (p.intervalMs * 1000));
    lastBytes = bytes;
    goodputMA.push(mean(goodput.slice(-p.mad)));
    const recent = probesByInterval.slice(-p.mad).flat();
    const tm = trimmedMean(recent, p.tmp);
    if (tm !== null) latencyTM.push(tm);
    goodputStable = stable(goodputMA, p.mad, p.sdt);
    rStable = goodputStable && stable(latencyTM, p.mad, p.sdt);
    onTick({t: elapsed / 1000, mbps: goodput[goodput.length - 1], flows: flows.length});
    if ((goodputStable && rStable) || elapsed + p.intervalMs > p.maxPhaseMs) break;
    // Saturate first: one more flow each interval until goodput is stable.
    if (!goodputStable && flows.length < maxFlows) {
      addFlow();
    }
    probesByInterval.push([]);
  }
  finished = true;
  abort.abort();
  await Promise.allSettled([prober, ...flows]);
  if (failure) throw failure;

  const all = probesByInterval.flat();
  // Probes slower than MAD intervals leave none there: then use them all.
  let used = probesByInterval.slice(-p.mad).flat();
  if (!used.length) used = all;
  const tm = trimmedMean(used, p.tmp);
  const intervals = goodput.length;
  const confidence = intervals < p.mad || !used.length ? 'Low' : goodputStable && rStable ? 'High' : 'Medium';
  const rpm = rpmFromMs(tm);
  const summary = {
    RPM: round(rpm, 1),
    RPMLoaded: round(rpm, 1),
    Confidence: confidence,
    LoadedLatencyMs: round(tm, 3),
    ThroughputMbps: round(goodputMA[goodputMA.length - 1] || 0, 3),
    Flows: flows.length,
    DurationMs: round(performance.now() - start, 0),
    GoodputStable: goodputStable ? 1 : 0,
    ResponsivenessStable: rStable ? 1 : 0,
  };
  // On HTTP/2 a probe shares the loaded connection: the draft's self probe.
  // On HTTP/1.1 it runs on another pooled connection that carries no load.
  if (cfg.protocol === 'h1') {
    summary.ProbesForeign = all.length;
    summary.TrimmedHTTPForeignMs = round(tm, 3);
  } else {
    summary.ProbesSelf = all.length;
    summary.TrimmedHTTPSelfMs = round(tm, 3);
  }
  return {probes: all, used, summary: compact(summary)};
}

// Members without a value are left out (the server accepts only numbers).
export function compact(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
}

export function parameters(p, protocol) {
  return {IntervalMs: p.intervalMs, MAD: p.mad, TMP: p.tmp, SDT: p.sdt, MPS: p.mps,
    MaxFlows: protocol === 'h1' ? p.maxFlowsH1 : p.maxFlowsH2, MaxDurationMs: p.maxPhaseMs};
}

export async function postSummary(cfg, summary) {
  const resp = await fetch(cfg.result, {...noStore, method: 'POST', body: JSON.stringify(summary),
    headers: {'Content-Type': 'application/json'}});
  if (!resp.ok) throw new Error(`the server refused the summary (HTTP ${resp.status})`);
  const body = await resp.json().catch(() => ({}));
  return {dropped: typeof body.dropped === 'number' ? body.dropped : null};
}
