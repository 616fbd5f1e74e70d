import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Stage } from '../../../scaling/architecture.js';
import { formatBlockString, parseBlockString } from '../../../scaling/blocks.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';
import { SpecError } from '../../../scaling/validate.js';

test('parses a tpu block string', () => {
  assert.deepEqual(parseBlockString('r2_k3_s22_e6_i16_o24_se0.25'), {
    op: 'mbconv',
    repeats: 2,
    kernel: 3,
    stride: 2,
    expandRatio: 6,
    inputFilters: 16,
    filters: 24,
    seRatio: 0.25,
    skip: true,
  });
});

test('c1 makes a fused block, noskip turns the residual off, timm-style s2 and prefixes are accepted', () => {
  const fused = parseBlockString('r1_k3_s11_e4_i24_o24_c1_noskip');
  assert.equal(fused.op, 'fused_mbconv');
  assert.equal(fused.skip, false);
  assert.equal(fused.stride, 1);
  assert.equal(parseBlockString('r1_k3_s2_e1_o16').stride, 2);
  assert.equal(parseBlockString('er_r1_k3_s1_e4_o24').op, 'fused_mbconv');
  assert.equal(parseBlockString('cn_r1_k3_s1_o24').op, 'conv');
  assert.equal(parseBlockString('r1_k3_s11_e6_o24_c0').op, 'mbconv');
});

test('every preset stage survives format → parse', () => {
  for (const name of presetNames) {
    for (const stage of getPreset(name).stages) {
      assert.deepEqual(parseBlockString(formatBlockString(stage)), stage, `${name}: ${formatBlockString(stage)}`);
    }
  }
  assert.equal(formatBlockString(parseBlockString('r2_k3_s22_e6_i16_o24_se0.25')), 'r2_k3_s22_e6_i16_o24_se0.25');
});

test('any valid stage survives format → parse (property)', () => {
  const stage = fc.record({
    op: fc.constantFrom('conv', 'fused_mbconv', 'mbconv'),
    repeats: fc.integer({ min: 1, max: 20 }),
    kernel: fc.integer({ min: 1, max: 11 }),
    stride: fc.integer({ min: 1, max: 4 }),
    expandRatio: fc.constantFrom(1, 2, 3, 4, 6, 8, 1.5),
    inputFilters: fc.option(fc.integer({ min: 1, max: 2048 }), { nil: undefined }),
    filters: fc.integer({ min: 1, max: 2048 }),
    seRatio: fc.constantFrom(0, 0.25, 0.125, 0.5),
    skip: fc.boolean(),
  });
  fc.assert(
    fc.property(stage, (raw) => {
      const parsed = Stage.parse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
      assert.deepEqual(parseBlockString(formatBlockString(parsed)), parsed);
    }),
  );
});

test('bad block strings name the option and what is expected', () => {
  assert.throws(
    () => parseBlockString('r2_k3_x5_o24'),
    (e: unknown) => e instanceof SpecError && /unknown option 'x5'/.test(e.message),
  );
  assert.throws(
    () => parseBlockString('r2_k3_s22'),
    (e: unknown) => e instanceof SpecError && /missing 'o<filters>'/.test(e.message),
  );
  assert.throws(
    () => parseBlockString('r2_k3_s12_o8'),
    (e: unknown) => e instanceof SpecError && /square/.test(e.message),
  );
  assert.throws(
    () => parseBlockString('r0_k3_o8'),
    (e: unknown) => e instanceof SpecError && /repeats/.test(e.message),
  );
  assert.throws(
    () => parseBlockString('r1_k3_o8_c2'),
    (e: unknown) => e instanceof SpecError && /c0 or c1/.test(e.message),
  );
});
