// Unit test of web/stats.js (the page's RPM arithmetic) under Node: the
// draft's trimmed mean and stability, the RPM bands at their edges, the
// rounding shared by the page and the stored summary, and the verdict.
import assert from 'node:assert/strict';
import {band, BANDS, quantile, round, rpmFromMs, stable, trimmedMean, verdict} from '../../web/stats.js';

let n = 0;
const test = (name, fn) => {
  fn();
  n++;
  process.stdout.write(`ok ${n} - ${name}\n`);
};

test('trimmed mean drops the slowest 5 % (floor), keeps at least one', () => {
  const v = Array.from({length: 20}, (_, i) => i + 1); // 1..20: 19 kept
  assert.equal(trimmedMean(v), (19 * 20) / 2 / 19);
  assert.equal(trimmedMean([5, 1, 1000]), 3); // 3 * 0.95 -> 2 kept: 1 and 5
  assert.equal(trimmedMean([7]), 7);
  assert.equal(trimmedMean([]), null);
  assert.equal(trimmedMean([4, 2], 1), 3);
});

test('stability: std-dev of the last MAD values under SDT of the newest', () => {
  assert.equal(stable([100, 100, 100], 4, 0.05), false); // fewer than MAD
  assert.equal(stable([1, 100, 101, 99, 100], 4, 0.05), true); // only the last 4 count
  assert.equal(stable([80, 100, 120, 100], 4, 0.05), false);
  assert.equal(stable([0, 0, 0, 0], 4, 0.05), false); // nothing measured is not stable
});

test('RPM bands at the draft edges, and RPM from milliseconds', () => {
  assert.equal(band(299.9), 'Poor');
  assert.equal(band(300), 'Fair');
  assert.equal(band(999), 'Fair');
  assert.equal(band(1000), 'Good');
  assert.equal(band(6000), 'Excellent');
  assert.equal(rpmFromMs(200), 300);
  assert.equal(rpmFromMs(10), 6000);
  assert.equal(rpmFromMs(0), null);
  assert.deepEqual(BANDS.map((b) => b.name), ['Poor', 'Fair', 'Good', 'Excellent']);
});

test('round: what the page shows and what it stores agree; no NaN', () => {
  assert.equal(round(12.345, 1), 12.3);
  assert.equal(round(6000 / 7, 0), 857);
  assert.equal(round(NaN), null);
  assert.equal(round(Infinity), null);
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
});

test('verdict names the direction that hurts, in plain words', () => {
  const bad = verdict({downloadMbps: 80, uploadMbps: 8, download: {rpm: 2000, ms: 30}, upload: {rpm: 200, ms: 300}});
  assert.match(bad, /3 4K video streams/);
  assert.match(bad, /stutter while someone uploads/);
  assert.match(bad, /about 300 ms/);
  assert.doesNotMatch(bad, /while someone downloads/);
  const good = verdict({downloadMbps: 3, uploadMbps: 0.5, download: {rpm: 7000, ms: 8}, upload: {rpm: 6500, ms: 9}});
  assert.match(good, /stays responsive under load/);
  assert.match(good, /standard-definition/);
  assert.match(good, /video calls may struggle/);
  assert.equal(verdict({}), '');
});

process.stdout.write(`1..${n}\n`);
