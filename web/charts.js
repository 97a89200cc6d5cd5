// The page's two charts, drawn as SVG with the DOM (no library): throughput
// over time per direction, and latency idle vs loaded as strips with boxes
// over the RPM bands. Colours come from style.css classes, so the charts
// follow the page's contrast and dark-mode rules.
import {BANDS, quantile} from './stats.js';

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// Round axis maximum and step: 1, 2 or 5 times a power of ten.
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return {max: 1, step: 0.25};
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw);
  return {max: Math.ceil(max / step) * step, step};
}

const fmtNum = (v) => (v === 0 ? '0' : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));

// Drawn at the size it is shown, so text stays legible at phone width.
const widthOf = (svg) => Math.max(300, Math.round(svg.clientWidth || svg.parentElement.clientWidth || 640));

function frame(svg, w, h) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
}

// series: [{name, cls, points: [{t, mbps}]}]; tMax in seconds.
export function drawThroughput(svg, series, tMax = 10) {
  const W = widthOf(svg);
  const H = W < 480 ? 220 : 260;
  const m = {l: 52, r: 14, t: 28, b: 40};
  frame(svg, W, H);
  const all = series.flatMap((s) => s.points);
  const tEnd = Math.max(tMax, ...all.map((p) => p.t));
  const y = niceScale(Math.max(0, ...all.map((p) => p.mbps)) * 1.05);
  const px = (t) => m.l + (t / tEnd) * (W - m.l - m.r);
  const py = (v) => H - m.b - (v / y.max) * (H - m.t - m.b);
  const g = el('g', {class: 'axis'});
  for (let v = 0; v <= y.max + 1e-9; v += y.step) {
    g.append(el('line', {x1: m.l, x2: W - m.r, y1: py(v), y2: py(v), class: 'grid'}));
    g.append(el('text', {x: m.l - 6, y: py(v) + 4, 'text-anchor': 'end'}, fmtNum(v)));
  }
  const tStep = tEnd > 12 || W < 480 ? (tEnd > 12 ? 5 : 2.5) : 2;
  for (let t = 0; t <= tEnd + 1e-9; t += tStep) {
    g.append(el('text', {x: px(t), y: H - m.b + 18, 'text-anchor': 'middle'}, `${t} s`));
  }
  g.append(el('text', {x: 8, y: 16}, 'Mbit/s'));
  g.append(el('line', {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'baseline'}));
  svg.append(g);
  let lx = m.l + 40;
  for (const s of series) {
    if (s.points.length) {
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p.t).toFixed(1)},${py(p.mbps).toFixed(1)}`).join('');
      svg.append(el('path', {d, class: `line ${s.cls}`}));
    }
    // Legend: a line sample and the name, so colour is never the only cue.
    svg.append(el('line', {x1: lx, x2: lx + 22, y1: 12, y2: 12, class: `line ${s.cls}`}));
    svg.append(el('text', {x: lx + 28, y: 16, class: 'legend'}, s.name));
    lx += 130;
  }
}

// Latency scale: logarithmic, so 5 ms and 500 ms both stay readable.
function logScale(lo, hi, a, b) {
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  return (v) => a + ((Math.log10(Math.min(hi, Math.max(lo, v))) - l0) / (l1 - l0)) * (b - a);
}

// groups: [{name, values: [ms]}]. Bands behind: Excellent < 10 ms, Good
// < 60 ms, Fair < 200 ms, Poor beyond (RPM 6000, 1000, 300).
export function drawLatency(svg, groups) {
  const W = widthOf(svg);
  const rowH = 46;
  const m = {l: W < 480 ? 96 : 128, r: 14, t: 40, b: 36};
  const H = m.t + m.b + rowH * Math.max(1, groups.length);
  frame(svg, W, H);
  const values = groups.flatMap((g) => g.values);
  const lo = Math.min(1, ...values.filter((v) => v > 0).map((v) => v * 0.8));
  const hi = Math.max(1000, ...values.map((v) => v * 1.2));
  const px = logScale(lo, hi, m.l, W - m.r);
  for (const b of BANDS) {
    const x0 = px(Math.max(lo, b.minMs));
    const x1 = px(Math.min(hi, b.maxMs));
    if (x1 <= x0) continue;
    svg.append(el('rect', {x: x0, y: m.t - 22, width: x1 - x0, height: H - m.t - m.b + 22,
      class: `band band-${b.name.toLowerCase()}`}));
    svg.append(el('text', {x: (x0 + x1) / 2, y: m.t - 8, 'text-anchor': 'middle', class: 'band-label'}, b.name));
  }
  const axis = el('g', {class: 'axis'});
  const ticks = W < 480 ? [1, 10, 60, 200, 1000, 10000] : [1, 3, 10, 30, 60, 100, 200, 1000, 3000, 10000];
  for (const t of ticks) {
    if (t < lo || t > hi) continue;
    axis.append(el('line', {x1: px(t), x2: px(t), y1: m.t, y2: H - m.b, class: 'grid'}));
    axis.append(el('text', {x: px(t), y: H - m.b + 16, 'text-anchor': 'middle'}, `${t}`));
  }
  axis.append(el('text', {x: W - m.r, y: H - 6, 'text-anchor': 'end'}, 'round-trip time, ms (log scale)'));
  svg.append(axis);
  groups.forEach((g, i) => {
    const cy = m.t + rowH * i + rowH / 2;
    svg.append(el('text', {x: m.l - 8, y: cy + 4, 'text-anchor': 'end', class: 'row-label'}, g.name));
    const s = [...g.values].sort((a, b) => a - b);
    if (!s.length) return;
    // Box: quartiles and median; whiskers: 5th to 95th percentile.
    const [p5, q1, med, q3, p95] = [0.05, 0.25, 0.5, 0.75, 0.95].map((q) => quantile(s, q));
    svg.append(el('line', {x1: px(p5), x2: px(p95), y1: cy, y2: cy, class: 'whisker'}));
    svg.append(el('rect', {x: px(q1), y: cy - 12, width: Math.max(1, px(q3) - px(q1)), height: 24, class: 'box'}));
    svg.append(el('line', {x1: px(med), x2: px(med), y1: cy - 12, y2: cy + 12, class: 'median'}));
    // The individual probes, spread vertically by a fixed pattern.
    s.forEach((v, j) => {
      svg.append(el('circle', {cx: px(v).toFixed(1), cy: (cy - 9 + ((j * 7) % 19)).toFixed(1), r: 2, class: 'dot'}));
    });
  });
}
