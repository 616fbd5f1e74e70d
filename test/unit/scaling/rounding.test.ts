import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roundFilters, roundRepeats, roundResolution } from '../../../scaling/rounding.js';

const reference = { divisor: 8, minFraction: 0.9, resolutionMultiple: 1 };
const v2 = { divisor: 8, minFraction: 0, resolutionMultiple: 1 };

test('filters round to the nearest multiple of the divisor', () => {
  assert.equal(roundFilters(32, 1.1, reference), 32); // 35.2 → 32 (within 10 %)
  assert.equal(roundFilters(40, 1.1, reference), 48); // 44 → 48 (ties go up: floor(48/8)·8)
  assert.equal(roundFilters(1280, 1.1, reference), 1408);
  assert.equal(roundFilters(320, 2.0, reference), 640);
  assert.equal(roundFilters(112, 1.4, reference), 160); // 156.8 → 160
});

test('the 10 % rule adds one divisor when rounding lost too much; minFraction 0 disables it', () => {
  // 7 · 1.7 = 11.9 → nearest multiple 8, which is below 0.9 · 11.9 = 10.71
  assert.equal(roundFilters(7, 1.7, reference), 16);
  assert.equal(roundFilters(7, 1.7, v2), 8);
});

test('filters never go below one divisor, and the divisor is configurable', () => {
  assert.equal(roundFilters(2, 1, reference), 8);
  assert.equal(roundFilters(24, 1.25, { ...reference, divisor: 16 }), 32); // 30 → 32
  assert.equal(roundFilters(20, 1, { ...reference, divisor: 1 }), 20);
});

test('repeats are ceil(repeats · depth) in double precision, exactly as written', () => {
  assert.equal(1.2 * 3, 3.5999999999999996);
  assert.equal(roundRepeats(3, 1.2), 4);
  assert.equal(roundRepeats(2, 1.1), 3); // 2.2
  assert.equal(roundRepeats(1, 3.1), 4);
  assert.equal(roundRepeats(4, 1.0), 4);
  assert.equal(3 * 1.1, 3.3000000000000003);
  assert.equal(roundRepeats(3, 1.1), 4);
  assert.equal(roundRepeats(25, 1.2 ** 2), 36, '25 · 1.2² → 36');
  assert.equal(roundRepeats(1, 0.1), 1, 'a stage keeps at least one layer');
});

test('resolution rounds to the configured multiple', () => {
  assert.equal(224 * 1.15, 257.59999999999997);
  assert.equal(roundResolution(224, 1.15, reference), 258);
  assert.equal(roundResolution(224, 1.15, { ...reference, resolutionMultiple: 8 }), 256);
  assert.equal(roundResolution(224, 1.15, { ...reference, resolutionMultiple: 32 }), 256);
  assert.equal(roundResolution(224, 260 / 224, reference), 260);
  assert.equal(roundResolution(28, 0.1, { ...reference, resolutionMultiple: 4 }), 4, 'never below one multiple');
});
