// netpulse-data's report page: draws the binned figures netpulse-data wrote
// into #np-data. Inlined after web/stats.js and web/charts.js, whose helpers
// (el, frame, widthOf, niceScale, fmtNum, logScale, drawLatency) it uses:
// one chart code for the test page and the report.
const DATA = JSON.parse(document.getElementById('np-data').textContent);

function noData(svg, what) {
  frame(svg, widthOf(svg), 60);
  svg.append(el('text', {x: 12, y: 34, class: 'empty'}, `No ${what} in these records.`));
}

// series: [{name, cls, values (sorted ascending)}]: empirical distribution
// functions on a log x axis.
function drawCdf(svg, series, unit) {
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  if (!all.length) return noData(svg, unit);
  const W = widthOf(svg);
  const H = W < 480 ? 240 : 280;
  const cols = W < 520 ? 2 : 3;
  const m = {l: 52, r: 14, t: 34 + 18 * Math.ceil(series.length / cols), b: 40};
  frame(svg, W, H);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all) * 1.0001));
  const px = logScale(lo, hi === lo ? lo * 10 : hi, m.l, W - m.r);
  const py = (f) => H - m.b - f * (H - m.t - m.b);
  const g = el('g', {class: 'axis'});
  for (let f = 0; f <= 1.0001; f += 0.25) {
    g.append(el('line', {x1: m.l, x2: W - m.r, y1: py(f), y2: py(f), class: 'grid'}));
    g.append(el('text', {x: m.l - 6, y: py(f) + 4, 'text-anchor': 'end'}, `${Math.round(f * 100)}%`));
  }
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    g.append(el('line', {x1: px(v), x2: px(v), y1: m.t, y2: H - m.b, class: 'grid'}));
    g.append(el('text', {x: px(v), y: H - m.b + 18, 'text-anchor': 'middle'}, fmtNum(v)));
  }
  g.append(el('text', {x: W - m.r, y: H - 4, 'text-anchor': 'end'}, `${unit} (log scale)`));
  svg.append(g);
  series.forEach((s, i) => {
    const n = s.values.length;
    if (n) {
      const d = s.values.map((v, j) => `${j ? 'L' : 'M'}${px(v).toFixed(1)},${py((j + 0.5) / n).toFixed(1)}`).join('');
      svg.append(el('path', {d, class: `line ${s.cls}`}));
    }
    const lx = m.l + (i % cols) * ((W - m.l) / cols);
    const ly = 14 + 18 * Math.floor(i / cols);
    svg.append(el('line', {x1: lx, x2: lx + 22, y1: ly - 4, y2: ly - 4, class: `line ${s.cls}`}));
    svg.append(el('text', {x: lx + 28, y: ly, class: 'legend'}, `${s.name} (${s.n})`));
  });
}

// counts per bar; label(i) names bar i on the axis (every few bars).
function drawBars(svg, counts, label, every, what) {
  if (!counts.some((c) => c > 0)) return noData(svg, what);
  const W = widthOf(svg);
  const H = 220;
  const m = {l: 52, r: 14, t: 28, b: 40};
  frame(svg, W, H);
  const y = niceScale(Math.max(...counts));
  const bw = (W - m.l - m.r) / counts.length;
  const py = (v) => H - m.b - (v / y.max) * (H - m.t - m.b);
  const g = el('g', {class: 'axis'});
  for (let v = 0; v <= y.max + 1e-9; v += y.step) {
    g.append(el('line', {x1: m.l, x2: W - m.r, y1: py(v), y2: py(v), class: 'grid'}));
    g.append(el('text', {x: m.l - 6, y: py(v) + 4, 'text-anchor': 'end'}, fmtNum(v)));
  }
  counts.forEach((c, i) => {
    if (c > 0) svg.append(el('rect', {x: m.l + i * bw + bw * 0.1, y: py(c), width: Math.max(1, bw * 0.8), height: H - m.b - py(c), class: 'bar'}));
    if (i % every === 0) g.append(el('text', {x: m.l + i * bw + bw / 2, y: H - m.b + 16, 'text-anchor': 'middle'}, label(i)));
  });
  g.append(el('text', {x: 8, y: 12}, what));
  svg.prepend(g);
}

const groups = DATA.groups.filter((g) => g.rows > 0);
const f1 = (v) => (v === undefined ? '–' : fmtNum(v));

function summary() {
  const t = document.getElementById('summary');
  const head = ['', 'tests', 'throughput, Mbit/s (median)', 'min RTT, ms', 'server RTT under load, ms', 'client RPM', 'retrans., %'];
  t.append(el2('tr', head.map((h) => el2('th', h))));
  for (const g of groups) {
    t.append(el2('tr', [g.name, g.rows, f1(g.throughput_mbps.median), f1(g.min_rtt_ms.median),
      f1(g.server_loaded_rtt_ms.median), f1(g.client_rpm.median), f1(g.retrans_pct.median)].map((v) => el2('td', String(v)))));
  }
}

function el2(tag, content) {
  const e = document.createElement(tag);
  if (Array.isArray(content)) e.append(...content);
  else e.textContent = content;
  return e;
}

function render() {
  document.getElementById('about').textContent =
    `${DATA.files} files, ${DATA.records} records` +
    (DATA.badFiles ? `, ${DATA.badFiles} files unreadable` : '') +
    (DATA.notRecords ? `, ${DATA.notRecords} documents not records` : '') +
    `. Made by netpulse-data at ${DATA.generated}.`;
  summary();
  const cls = ['c0', 'c1', 'c2', 'c3', 'c4'];
  drawCdf(document.getElementById('throughput'), groups.map((g, i) => ({
    name: g.name, cls: cls[DATA.groups.indexOf(g)] || cls[i % 5], values: g.throughput_mbps.values, n: g.throughput_mbps.n,
  })).filter((s) => s.n > 0), 'Mbit/s');
  const lat = (metric, conv = (v) => v) => groups.filter((g) => g[metric].n > 0)
    .map((g) => ({name: g.name, values: g[metric].values.map(conv)}));
  const rpm = lat('client_rpm', (v) => 60000 / v);
  if (rpm.length) drawLatency(document.getElementById('rpm'), rpm); else noData(document.getElementById('rpm'), 'RPM');
  const loaded = lat('server_loaded_rtt_ms');
  if (loaded.length) drawLatency(document.getElementById('loaded'), loaded); else noData(document.getElementById('loaded'), 'server RTT under load');
  // Short row names: drawLatency's label column is narrow.
  const short = (g) => g.name.replace('download', 'down').replace('upload', 'up').replace('parallel', 'par.');
  const il = [];
  for (const g of groups) {
    if (g.min_rtt_ms.n) il.push({name: `${short(g)} idle`, values: g.min_rtt_ms.values});
    if (g.server_loaded_rtt_ms.n) il.push({name: `${short(g)} server`, values: g.server_loaded_rtt_ms.values});
    if (g.client_loaded_latency_ms.n) il.push({name: `${short(g)} client`, values: g.client_loaded_latency_ms.values});
  }
  if (il.length) drawLatency(document.getElementById('idleloaded'), il); else noData(document.getElementById('idleloaded'), 'latency');
  // Tests per hour; past two weeks of span, per day.
  const hours = DATA.hours;
  const perDay = hours.length > 24 * 14;
  const counts = perDay ? Array.from({length: Math.ceil(hours.length / 24)}, (_, d) => hours.slice(d * 24, d * 24 + 24).reduce((a, b) => a + b, 0)) : hours;
  const stepH = perDay ? 24 : 1;
  const at = (i) => new Date((DATA.hourStart + i * stepH) * 3600 * 1000).toISOString();
  document.getElementById('hours-desc').textContent = counts.length
    ? `Tests (rows) per ${perDay ? 'day' : 'hour'} from ${at(0).slice(0, 13)}:00 UTC, then per hour of the day (UTC) over the whole archive.`
    : 'No dated tests.';
  drawBars(document.getElementById('hours'), counts, (i) => (perDay ? at(i).slice(5, 10) : at(i).slice(11, 13) + 'h'),
    Math.max(1, Math.ceil(counts.length / 8)), perDay ? 'tests per day' : 'tests per hour');
  drawBars(document.getElementById('hourofday'), DATA.hourOfDay, (i) => `${i}h`, 3, 'tests by hour of day (UTC)');
  document.body.dataset.ready = '1';
}

render();
