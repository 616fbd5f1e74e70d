import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FamilyMember, PlannedCandidate, RegisteredModel } from '../../../search/types.js';
import { architectureCost, architectureTotals } from '../../../scaling/cost.js';
import { getPreset } from '../../../scaling/presets.js';
import { architectureKey, scaleArchitecture, scalingFactors } from '../../../scaling/scale.js';
import type { EpochMetrics, TrainResult } from '../../../schemas/candidate.js';
import { rungEpochs, SearchSpec } from '../../../schemas/search.js';
import { writeOutcomes, writePlan } from '../../../store/candidate-table.js';
import type { TrainingRecord } from '../../../search/types.js';
import { initialState, type SearchResult } from '../../../search/state.js';

/**
 * Per-epoch metrics whose validation accuracy ends each rung at its score (`rungs[k]` epochs, `scores[k]`),
 * rising linearly in between from 0.1 below the first.
 */
function epochMetrics(rungs: number[], scores: number[]): EpochMetrics[] {
  const points = [{ epoch: 0, score: scores[0] - 0.1 }, ...scores.map((score, k) => ({ epoch: rungs[k], score }))];
  return Array.from({ length: rungs[scores.length - 1] }, (_, i) => {
    const epoch = i + 1;
    const to = points.findIndex((p) => p.epoch >= epoch);
    const [a, b] = [points[to - 1], points[to]];
    const valAccuracy = a.score + ((b.score - a.score) * (epoch - a.epoch)) / (b.epoch - a.epoch);
    return {
      epoch,
      trainLoss: 1 / epoch,
      trainAccuracy: valAccuracy + 0.02,
      valLoss: 1.1 / epoch,
      valAccuracy,
      imagesPerSecond: 900,
      elapsedSeconds: 4 * epoch,
    };
  });
}

/**
 * Rewrites the scored records as successive halving left them, best final score first: the best ninth (at least
 * one) finished rung 3, the rest of the best third rung 2, each rung a little more below the next the lower the
 * rank (so the lines fan out). The first of the rung-2 ones was promoted to rung 3 when the compute budget stopped
 * it: cancelled with two finished rungs.
 */
function halvingRecords(records: Record<string, TrainingRecord>): void {
  const ranked = Object.entries(records)
    .filter(([, r]) => r.score !== undefined)
    .sort(([, a], [, b]) => (b.score ?? 0) - (a.score ?? 0));
  const third = Math.floor(ranked.length / 3);
  const ninth = Math.max(1, Math.floor(ranked.length / 9));
  ranked.forEach(([group, r], rank) => {
    const finished = rank < ninth ? 3 : rank < third ? 2 : 1;
    const top = r.score ?? 0;
    const scores = Array.from({ length: finished }, (_, k) =>
      Number((top - (0.04 + 0.005 * rank) * (2 - k)).toFixed(4)),
    );
    const stopped = rank === ninth;
    records[group] = {
      ...r,
      state: stopped ? 'cancelled' : 'succeeded',
      rung: stopped ? 2 : finished - 1,
      scores,
      score: scores[scores.length - 1],
    };
  });
}

/**
 * A finished search directory built from the shared types and the real scaling core: a small α/β/γ grid of
 * micro-28 under the compound constraint, dedup groups from the rounded architectures, one excluded and one failed
 * candidate, each training's per-epoch metrics, a two-member family and a finalist's per-epoch metrics. Scores are
 * a smooth function of the factors. With `strategy: 'halving'` the grid trained over rungs of 1/3/9 epochs and a
 * compute budget stopped it (see halvingRecords).
 */
export async function searchDirFixture(
  stateDir?: string,
  registered: RegisteredModel[] = [
    { name: 'fixture-phi2', version: 'v1', uri: '/tmp/registry/fixture-phi2/v1', member: 'phi2' },
  ],
  strategy: 'exhaustive' | 'halving' = 'exhaustive',
): Promise<{ searchDir: string; result: SearchResult }> {
  const searchDir = stateDir
    ? join(stateDir, 'searches', 'effscale-fixture-0123456789')
    : await mkdtemp(join(tmpdir(), 'effscale-report-'));
  await mkdir(searchDir, { recursive: true });
  const halving = strategy === 'halving';
  const spec = SearchSpec.parse({
    name: 'fixture',
    baseline: { preset: 'micro-28' },
    task: { dataset: { format: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' } },
    training: { epochs: halving ? 9 : 3 },
    ...(halving && {
      scaling: { grid: { strategy, halving: { eta: 3, minEpochs: 1 } } },
      execution: { budget: { gpuHours: 0.05 } },
    }),
  });
  const rungs = rungEpochs(spec);
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
  if (halving) halvingRecords(groups);
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
      target: 2 ** phi,
      multiplier: t.macs / architectureTotals(baseline).macs,
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
    { epochsPerTraining: rungs[rungs.length - 1], imagesPerEpoch: 1 },
  );
  await writeOutcomes(searchDir, 0, groups);
  // Every training's spend and result.json: the epochs of the rungs it finished.
  const spend = { seconds: 0, work: 0 };
  const macs = new Map(candidates.map((c) => [c.group, c.macs]));
  for (const [group, record] of Object.entries(groups)) {
    spend.seconds += record.seconds ?? 0;
    if (record.score === undefined) continue;
    const scores = record.scores ?? [record.score];
    spend.work += (macs.get(group) ?? 0) * rungs[scores.length - 1];
    await writeTrainResult(join(searchDir, 'candidates', group), group, epochMetrics(rungs, scores));
  }
  const chosen = {
    ...bestCoefficients,
    score: bestScore,
    ...(halving && { rung: rungs.length - 1 }),
    macs: best.macs,
    index: best.index,
    group: best.group,
  };
  const result: SearchResult = {
    searchId: 'effscale-fixture-0123456789',
    name: 'fixture',
    specHash: '0123456789abcdef',
    status: 'completed',
    best: chosen,
    spend,
    state: {
      ...initialState(2, 0),
      stage: 'done',
      ...(halving && { stoppedBy: 'budget' as const }),
      work: planned.work,
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
  await writeTrainResult(join(searchDir, 'final', 'final-phi2'), 'final-phi2', epochMetrics([3], [0.85]));
  return { searchDir, result };
}

async function writeTrainResult(dir: string, candidateId: string, epochs: EpochMetrics[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'result.json'), JSON.stringify({ candidateId, epochs } satisfies Partial<TrainResult>));
}
