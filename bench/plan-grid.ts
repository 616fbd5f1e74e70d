import { architectureCost } from '../scaling/cost.js';
import { planGrid, type GridOptionsInput } from '../scaling/grid.js';
import { violations } from '../scaling/limits.js';
import { getPreset } from '../scaling/presets.js';
import { architectureKey, costMultiplier, scaleArchitecture, scalingFactors } from '../scaling/scale.js';

/**
 * Plans a ~10,000-candidate grid on EfficientNet-B0 (α, β, γ ∈ [1, 2] by 0.01 = 1,030,301 points, tolerance 5 %,
 * a multiply-add limit) and times it against a naive planner measured in the same run: every grid point tested,
 * every candidate scaled and costed with the full layer list, dedup by the full architecture key.
 */
const baseline = getPreset('efficientnet-b0');
const range = { min: 1, max: 2, step: 0.01 };
const options: GridOptionsInput = {
  phi: 1,
  alpha: range,
  beta: range,
  gamma: range,
  tolerance: 0.05,
  limits: { maxMacs: 900e6 },
};
const targetMs = 1000;

const onGrid = (i: number) => Number((1 + i * 0.01).toFixed(10));

function naivePlan(): { candidates: number; groups: number } {
  const target = 2;
  const groups = new Set<string>();
  let candidates = 0;
  for (let i = 0; i <= 100; i++) {
    for (let j = 0; j <= 100; j++) {
      for (let k = 0; k <= 100; k++) {
        const c = { alpha: onGrid(i), beta: onGrid(j), gamma: onGrid(k) };
        const factors = scalingFactors('exponential', c, 1);
        if (Math.abs(costMultiplier(factors) - target) / target > 0.05 + 1e-12) continue;
        const architecture = scaleArchitecture(baseline, factors);
        const cost = architectureCost(architecture);
        violations(cost, { maxMacs: 900e6 });
        groups.add(architectureKey(architecture));
        candidates++;
      }
    }
  }
  return { candidates, groups: groups.size };
}

function time<T>(run: () => T): { ms: number; result: T } {
  const start = performance.now();
  const result = run();
  return { ms: performance.now() - start, result };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const cold = time(() => planGrid(baseline, options));
const warm = Array.from({ length: 5 }, () => time(() => planGrid(baseline, options)).ms);
const naive = time(naivePlan);
const naiveWarm = Array.from({ length: 2 }, () => time(naivePlan).ms);

const plan = cold.result;
const hotMs = median(warm);
const naiveMs = median([naive.ms, ...naiveWarm]);
console.log(`plan-grid: efficientnet-b0, ${plan.pointsEvaluated.toLocaleString('en-US')} grid points (step 0.01)`);
console.log(
  `  candidates ${plan.candidates.length.toLocaleString('en-US')}, dedup groups ${plan.groupCount}, ` +
    `to train ${plan.trainCount} (maxMacs 900M)`,
);
if (naive.result.candidates !== plan.candidates.length || naive.result.groups !== plan.groupCount) {
  console.error(`  MISMATCH: naive planner found ${naive.result.candidates} candidates, ${naive.result.groups} groups`);
  process.exitCode = 1;
}
console.log(`  planGrid: first run ${cold.ms.toFixed(0)} ms, median of 5 warm runs ${hotMs.toFixed(0)} ms`);
console.log(`  naive baseline (all points, full layer lists, no cost cache): median ${naiveMs.toFixed(0)} ms`);
console.log(`  speed-up vs naive: ${(naiveMs / hotMs).toFixed(1)}×`);
console.log(
  `  target < ${targetMs} ms: ${cold.ms < targetMs ? 'met' : 'MISSED'} (first run), ${hotMs < targetMs ? 'met' : 'MISSED'} (warm)`,
);
