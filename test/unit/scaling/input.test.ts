import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBaseline } from '../../../scaling/input.js';
import { getPreset, presetNames } from '../../../scaling/presets.js';
import { SpecError } from '../../../scaling/validate.js';

const named = (pattern: RegExp) => (e: unknown) => e instanceof SpecError && pattern.test(e.message);

test('a preset name, or a preset with overrides', () => {
  assert.deepEqual(resolveBaseline('micro-28', 'x'), getPreset('micro-28'));
  const five = resolveBaseline({ preset: 'micro-28', classes: 5, stem: { filters: 24 } }, 'x');
  assert.equal(five.classes, 5);
  assert.deepEqual(five.stem, { filters: 24, kernel: 3, stride: 1 });
});

test('an architecture with block-string stages', () => {
  const arch = resolveBaseline(
    {
      resolution: 32,
      stem: { filters: 16 },
      stages: [
        'r1_k3_s11_e1_o16_se0.25',
        { op: 'mbconv', repeats: 2, kernel: 3, stride: 2, expandRatio: 4, filters: 24 },
      ],
      head: { filters: 128 },
      classes: 10,
    },
    'x',
  );
  assert.equal(arch.stages[0]?.seRatio, 0.25);
  assert.equal(arch.stages[1]?.filters, 24);
  assert.equal(arch.activation, 'swish');
});

test('errors name the source, the path and what is allowed', () => {
  assert.throws(
    () => resolveBaseline('b9', 'spec.yaml'),
    named(new RegExp(`unknown preset 'b9'; allowed presets: ${presetNames.join(', ')}`)),
  );
  assert.throws(
    () => resolveBaseline({ preset: 'micro-28', stages: ['r1_k3_o16', 'r1_k3_q2_o8'] }, 'arch.yaml'),
    named(/invalid arch.yaml:\n {2}stages\[1\]: .*unknown option 'q2'/),
  );
  assert.throws(
    () => resolveBaseline({ preset: 'micro-28', activation: 'tanh', stem: { filters: -1 } }, 'arch.yaml'),
    (e: unknown) =>
      e instanceof SpecError &&
      e.issues.some((i) => i.startsWith('activation:')) &&
      e.issues.some((i) => i.startsWith('stem.filters:')),
  );
  assert.throws(() => resolveBaseline({ preset: 'micro-28', depth: 2 }, 'arch.yaml'), named(/depth/));
  assert.throws(() => resolveBaseline(42, 'arch.yaml'), named(/invalid arch.yaml/));
});
