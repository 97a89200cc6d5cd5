// The test page: consent first, then ndt7 download and upload, then the
// browser's responsiveness measurement; live charts, figures as text, a
// verdict, and the result as JSON. Nothing is sent before consent.
import {drawLatency, drawThroughput} from './charts.js';
import {runNdt7} from './ndt7.js';
import {compact, DEFAULTS, fetchConfig, idlePhase, loadPhase, parameters, postSummary} from './rpm.js';
import {band, round, rpmFromMs, verdict} from './stats.js';

const VERSION = '0.1.0';
const $ = (id) => document.getElementById(id);

// Shorter phases for tests and slow days: ?rpm_ms=3000&idle_ms=1000
// (bounded, so a link cannot make the page load a line for long).
function options() {
  const q = new URLSearchParams(location.search);
  const num = (k, lo, hi, dflt) => {
    const v = Number(q.get(k));
    return q.has(k) && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : dflt;
  };
  return {...DEFAULTS, maxPhaseMs: num('rpm_ms', 2000, 30000, DEFAULTS.maxPhaseMs),
    idleMs: num('idle_ms', 500, 10000, DEFAULTS.idleMs)};
}

function setPhase(name, state) {
  const li = document.querySelector(`#phases li[data-phase="${name}"]`);
  if (li) li.dataset.state = state;
}

function setText(id, v, digits = 1) {
  const e = $(id);
  const r = round(v, digits);
  e.textContent = r === null ? '–' : r.toFixed(digits);
  if (r !== null) e.dataset.value = String(r);
}

const status = (t) => {
  $('status').textContent = t;
};

// Live state the charts redraw from.
const live = {down: [], up: [], idle: [], loadedDown: [], loadedUp: []};
let pending = 0;
function redraw() {
  if (pending) return;
  pending = requestAnimationFrame(() => {
    pending = 0;
    drawThroughput($('tp-chart'), [
      {name: 'Download', cls: 'down', points: live.down},
      {name: 'Upload', cls: 'up', points: live.up},
    ]);
    drawLatency($('lat-chart'), [
      {name: 'Idle', values: live.idle},
      {name: 'Downloading', values: live.loadedDown},
      {name: 'Uploading', values: live.loadedUp},
    ]);
  });
}

function showRpm(prefix, rpm) {
  setText(`${prefix}-rpm`, rpm, 0);
  $(`${prefix}-band`).textContent = rpm ? band(rpm) : '–';
}

async function ndt7Phase(direction, out, points) {
  setPhase(direction, 'running');
  status(`Measuring ${direction} speed (10 seconds)…`);
  const r = await runNdt7(direction, (s) => {
    points.push({t: s.t, mbps: s.mbps});
    setText(direction === 'download' ? 'dl-mbps' : 'ul-mbps', s.mbps);
    redraw();
  });
  if (!r.ok) throw new Error(`${direction}: ${r.error}`);
  setText(direction === 'download' ? 'dl-mbps' : 'ul-mbps', r.mbps);
  out[direction === 'download' ? 'Download' : 'Upload'] = {
    ThroughputMbps: round(r.mbps, 3),
    Source: r.source,
    Bytes: r.bytes,
    ElapsedTimeUs: r.elapsedUs,
    MinRTTMs: round(r.minRttMs, 3),
  };
  setPhase(direction, 'done');
  return r;
}

async function rpmPhases(p, result) {
  setPhase('idle', 'running');
  status('Measuring latency while the line is idle…');
  const cfg = await fetchConfig();
  if (!cfg) {
    for (const ph of ['idle', 'loaded-download', 'loaded-upload', 'send']) setPhase(ph, 'skipped');
    $('verdict-note').textContent = 'This server does not offer the responsiveness test; speed only.';
    return;
  }
  const idle = await idlePhase(cfg, p, (ms) => {
    live.idle.push(ms);
    redraw();
  });
  setText('idle-ms', idle.summary.LatencyMs);
  setText('idle-ms-2', idle.summary.LatencyMs);
  showRpm('idle', rpmFromMs(idle.summary.LatencyMs));
  setPhase('idle', 'done');

  const phases = {};
  for (const [dir, key, sink, prefix] of [['download', 'Download', live.loadedDown, 'dl'],
    ['upload', 'Upload', live.loadedUp, 'ul']]) {
    setPhase(`loaded-${dir}`, 'running');
    status(`Measuring latency while ${dir === 'download' ? 'downloading' : 'uploading'}…`);
    const r = await loadPhase(cfg, dir, p, {onProbe: (ms) => {
      sink.push(ms);
      redraw();
    }});
    phases[key] = r.summary;
    setText(`${prefix}-loaded-ms`, r.summary.LoadedLatencyMs);
    showRpm(prefix, r.summary.RPM);
    setPhase(`loaded-${dir}`, 'done');
  }
  // Overall: the worse direction, since that is what a call would feel.
  const both = [phases.Download, phases.Upload];
  const rated = both.filter((x) => typeof x.RPM === 'number');
  const levels = ['Low', 'Medium', 'High'];
  const summary = compact({
    SchemaVersion: 1,
    Variant: 'browser',
    Direction: 'sequential',
    Protocol: cfg.protocol,
    RPM: rated.length ? Math.min(...rated.map((x) => x.RPM)) : null,
    Confidence: levels[Math.min(...both.map((x) => levels.indexOf(x.Confidence)))],
    Download: phases.Download,
    Upload: phases.Upload,
    Idle: idle.summary,
    Parameters: parameters(p, cfg.protocol),
  });
  setText('rpm', summary.RPM, 0);
  $('rpm-band').textContent = summary.RPM ? band(summary.RPM) : '';
  setPhase('send', 'running');
  status('Saving the result on the server…');
  const sent = await postSummary(cfg, summary);
  setPhase('send', 'done');
  result.Responsiveness = summary;
  result.MeasurementID = cfg.mid;
  result.SummaryDropped = sent.dropped;
}

function finish(result) {
  const r = result.Responsiveness;
  result.Verdict = verdict({
    downloadMbps: result.ndt7.Download && result.ndt7.Download.ThroughputMbps,
    uploadMbps: result.ndt7.Upload && result.ndt7.Upload.ThroughputMbps,
    idleMs: r && r.Idle.LatencyMs,
    download: r && {rpm: r.Download.RPM, ms: r.Download.LoadedLatencyMs},
    upload: r && {rpm: r.Upload.RPM, ms: r.Upload.LoadedLatencyMs},
  });
  $('verdict').textContent = result.Verdict;
  const text = JSON.stringify(result, null, 2);
  $('json').textContent = text;
  window.netpulseResult = result;
  for (const id of ['copy', 'download', 'again']) $(id).disabled = false;
  // A fresh page: consent is asked again and nothing is left over.
  $('again').onclick = () => location.reload();
  $('copy').onclick = async () => {
    try {
      await navigator.clipboard.writeText(text);
      $('copy-status').textContent = 'Copied.';
    } catch {
      $('copy-status').textContent = 'Copying is not allowed here: use Download, or select the JSON below.';
    }
  };
  $('download').onclick = () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
    a.download = `netpulse-${result.Time.replace(/[:.]/g, '-')}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
}

async function run() {
  const p = options();
  document.body.dataset.state = 'running';
  $('consent').hidden = true;
  $('run').hidden = false;
  $('results').hidden = false;
  redraw();
  const result = {
    SchemaVersion: 1,
    Client: `netpulse-web ${VERSION}`,
    Server: location.host,
    Time: new Date().toISOString(),
    ndt7: {},
  };
  try {
    await ndt7Phase('download', result.ndt7, live.down);
    await ndt7Phase('upload', result.ndt7, live.up);
    await rpmPhases(p, result);
    status('Done.');
    finish(result);
    $('run').hidden = true; // the results now lead the page
    document.body.dataset.state = 'done';
    $('results-h').focus();
  } catch (e) {
    console.error(e);
    $('error').hidden = false;
    $('error-text').textContent = `${e.message}. Results so far are shown below.`;
    status('Stopped.');
    finish(result);
    document.body.dataset.state = 'error';
  }
}

function init() {
  addEventListener('resize', redraw);
  $('server-name').textContent = location.host;
  const agree = $('agree');
  const start = $('start');
  const sync = () => {
    start.disabled = !agree.checked;
    $('consent-hint').hidden = agree.checked;
  };
  agree.addEventListener('change', sync);
  sync();
  start.addEventListener('click', () => {
    if (agree.checked) run();
  });
}

init();
