import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FamilyMember, PlannedCandidate, RegisteredModel } from '../../../activities/types.js';
import { architectureCost, architectureTotals } from '../../../scaling/cost.js';
import { getPreset } from '../../../scaling/presets.js';
import { architectureKey, scaleArchitecture, scalingFactors } from '../../../scaling/scale.js';
import type { TrainResult } from '../../../spec/candidate.js';
import { SearchSpec } from '../../../spec/search.js';
import { writeOutcomes, writePlan } from '../../../activities/candidate-table.js';
import type { TrainingRecord } from '../../../activities/types.js';
import { initialState, type SearchResult } from '../../../workflows/state.js';

/**
 * A finished search directory built from the shared types and the real scaling core: a small α/β/γ grid of
 * micro-28 under the compound constraint, dedup groups from the rounded architectures, one excluded and one failed
 * candidate, a two-member family and a finalist's per-epoch metrics. Scores are a smooth function of the factors.
 */
export async function searchDirFixture(
  stateDir?: string,
  registered: RegisteredModel[] = [
    { name: 'fixture-phi2', version: 'v1', uri: '/tmp/registry/fixture-phi2/v1', member: 'phi2' },
  ],
): Promise<{ searchDir: string; result: SearchResult }> {
  const searchDir = stateDir
    ? join(stateDir, 'searches', 'effscale-fixture-0123456789')
    : await mkdtemp(join(tmpdir(), 'effscale-report-'));
  await mkdir(searchDir, { recursive: true });
  const spec = SearchSpec.parse({
    name: 'fixture',
    baseline: { preset: 'micro-28' },
    task: { dataset: { format: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' } },
  });
  const baseline = getPreset('micro-28');
  const candidates: PlannedCandidate[] = [];
  const groups: Record<string, TrainingRecord> = {};
  const keys = new Map<string, string>();
  const steps = [1, 1.1, 1.2, 1.3, 1.4];
  for (const alpha of steps)
    for (const beta of steps)
      for (const gamma of steps) {
        const cost = alpha * beta ** 2 * gamma ** 2;
        if (Math.abs(cost - 2) / 2 > 0.12) continue;
        const factors = scalingFactors('exponential', { alpha, beta, gamma }, 1);
        const arch = scaleArchitecture(baseline, factors);
        const totals = architectureTotals(arch);
        const key = architectureKey(arch);
        const group = keys.get(key) ?? `g${keys.size}`;
        keys.set(key, group);
        const index = candidates.length;
        const excluded = index === 3 ? 'multiply-adds above the limit' : undefined;
        candidates.push({
          index,
          alpha,
          beta,
          gamma,
          group,
          macs: totals.macs,
          params: totals.params.total,
          ...(excluded && { excluded }),
        });
        if (excluded || groups[group]) continue;
        groups[group] =
          index === 5
            ? { state: 'failed', error: 'trainer exited with code 1' }
            : {
                state: 'succeeded',
                score: Number((0.7 + 0.05 * alpha + 0.04 * beta + 0.03 * gamma - 0.02 * (alpha - 1.2) ** 2).toFixed(4)),
                seconds: 10 + index,
              };
      }
  let best = candidates[0];
  for (const c of candidates) {
    const s = groups[c.group];
    if (c.excluded || s?.score === undefined) continue;
    const b = best && groups[best.group]?.score;
    if (b === undefined || s.score > b) best = c;
  }
  if (!best) throw new Error('fixture grid is empty');
  const bestCoefficients = { alpha: best.alpha, beta: best.beta, gamma: best.gamma };
  const family: FamilyMember[] = [1, 2].map((phi) => {
    const factors = scalingFactors('exponential', bestCoefficients, phi);
    const arch = scaleArchitecture(baseline, factors);
    const t = architectureTotals(arch);
    return {
      name: `phi${phi}`,
      phi,
      source: `phi ${phi}`,
      factors,
      macs: t.macs,
      params: t.params.total,
      paramBytes: t.paramBytes,
      peakActivationBytes: t.peakActivationBytes,
      resolution: arch.resolution,
      architectureUri: join(searchDir, 'family', `phi${phi}.json`),
    };
  });
  const bestScore = groups[best.group]?.score ?? 0;
  const planned = await writePlan(
    searchDir,
    0,
    500,
    { points: candidates },
    { epochsPerTraining: 1, imagesPerEpoch: 1 },
  );
  await writeOutcomes(searchDir, 0, groups);
  const chosen = { ...bestCoefficients, score: bestScore, macs: best.macs, index: best.index, group: best.group };
  const result: SearchResult = {
    searchId: 'effscale-fixture-0123456789',
    name: 'fixture',
    specHash: '0123456789abcdef',
    status: 'completed',
    best: chosen,
    spend: { seconds: 0, work: 0 },
    state: {
      ...initialState(2, 0),
      stage: 'done',
      plans: 1,
      points: planned.points,
      excluded: planned.excluded,
      trainings: planned.trainings,
      chunks: [{ state: 'done' }],
      leaders: [chosen],
      family,
      finals: [
        { member: 'phi2', state: 'succeeded', score: 0.86, modelUri: join(searchDir, 'final', 'final-phi2', 'model') },
      ],
      registered,
    },
  };
  await mkdir(join(searchDir, 'family'), { recursive: true });
  for (const member of family) {
    const arch = scaleArchitecture(baseline, member.factors);
    await writeFile(member.architectureUri, JSON.stringify(arch));
    const cost = {
      phi: member.phi,
      factors: member.factors,
      coefficients: bestCoefficients,
      rule: 'exponential',
      cost: architectureCost(arch),
    };
    await writeFile(member.architectureUri.replace(/\.json$/, '.cost.json'), JSON.stringify(cost));
  }
  await writeFile(join(searchDir, 'spec.json'), JSON.stringify(spec));
  await writeFile(join(searchDir, 'summary.json'), JSON.stringify(result));
  const final = join(searchDir, 'final', 'final-phi2');
  await mkdir(final, { recursive: true });
  const epochs = [1, 2, 3].map((epoch) => ({
    epoch,
    trainLoss: 1 / epoch,
    trainAccuracy: 0.6 + 0.08 * epoch,
    valLoss: 1.1 / epoch,
    valAccuracy: 0.58 + 0.09 * epoch,
    imagesPerSecond: 900,
    elapsedSeconds: 4 * epoch,
  }));
  await writeFile(
    join(final, 'result.json'),
    JSON.stringify({ candidateId: 'final-phi2', epochs } satisfies Partial<TrainResult>),
  );
  return { searchDir, result };
}
