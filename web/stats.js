// Numbers behind the responsiveness figures: the draft's trimmed mean and
// stability test, RPM bands, and the plain-language verdict.

// Single-sided trimmed mean: the lowest `keep` share of the values
// (draft-ietf-ippm-responsiveness TMP = 0.95 drops the slowest 5 %).
export function trimmedMean(values, keep = 0.95) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const n = Math.max(1, Math.floor(s.length * keep));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return sum / n;
}

export function mean(values) {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

export function stdev(values) {
  const m = mean(values);
  if (m === null) return null;
  return Math.sqrt(values.reduce((a, v) => a + (v - m) * (v - m), 0) / values.length);
}

// The draft's stability: the last `mad` values deviate less than `sdt` of
// the newest one.
export function stable(series, mad, sdt) {
  if (series.length < mad) return false;
  const last = series.slice(-mad);
  const cur = last[last.length - 1];
  return cur > 0 && stdev(last) < sdt * cur;
}

export function quantile(sorted, q) {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

// RPM bands as the draft names them, with the round-trip time each bound means.
export const BANDS = [
  {name: 'Poor', minRpm: 0, maxMs: Infinity, minMs: 200},
  {name: 'Fair', minRpm: 300, maxMs: 200, minMs: 60},
  {name: 'Good', minRpm: 1000, maxMs: 60, minMs: 10},
  {name: 'Excellent', minRpm: 6000, maxMs: 10, minMs: 0},
];

export function band(rpm) {
  let b = BANDS[0];
  for (const x of BANDS) if (rpm >= x.minRpm) b = x;
  return b.name;
}

export const rpmFromMs = (ms) => (ms > 0 ? 60000 / ms : null);

// Rounds for display and for the stored summary alike, so both agree.
export function round(x, digits = 1) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function streams(mbps) {
  if (!(mbps > 0)) return 'nothing usable';
  if (mbps >= 25) return `${Math.floor(mbps / 25)} 4K video stream${mbps >= 50 ? 's' : ''}`;
  if (mbps >= 5) return `${Math.floor(mbps / 5)} HD video stream${mbps >= 10 ? 's' : ''}`;
  if (mbps >= 1.5) return 'one standard-definition video stream';
  return 'web pages and messages, but not smooth video';
}

// A few sentences a person can act on. r: {downloadMbps, uploadMbps,
// idleMs, download: {rpm, ms}, upload: {rpm, ms}} (any part may be null).
export function verdict(r) {
  const out = [];
  if (r.downloadMbps > 0) out.push(`Download speed is enough for ${streams(r.downloadMbps)} at once.`);
  if (r.uploadMbps > 0) {
    out.push(r.uploadMbps >= 3 ? 'Upload speed is enough for HD video calls.' :
      r.uploadMbps >= 1 ? 'Upload speed is enough for a standard video call.' :
        'Upload speed is low: video calls may struggle to send your picture.');
  }
  const phases = [['download', 'someone downloads or streams'], ['upload', 'someone uploads (photos, backups, a video call)']];
  const has = (k) => r[k] && r[k].rpm > 0 && r[k].ms > 0;
  const poor = phases.filter(([k]) => has(k) && band(r[k].rpm) === 'Poor');
  const fair = phases.filter(([k]) => has(k) && band(r[k].rpm) === 'Fair');
  for (const [k, what] of poor) {
    out.push(`Video calls and games will likely stutter while ${what}: a round trip then takes about ${Math.round(r[k].ms)} ms.`);
  }
  for (const [k, what] of fair) {
    out.push(`Calls may get choppy while ${what} (round trips of about ${Math.round(r[k].ms)} ms); browsing stays fine.`);
  }
  const measured = phases.filter(([k]) => has(k));
  if (measured.length && !poor.length && !fair.length) {
    out.push('Your connection stays responsive under load: calls and games should stay smooth while the line is busy.');
  }
  return out.join(' ');
}
