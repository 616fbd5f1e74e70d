import type { Command } from 'commander';
import { planGrid, type GridCandidate, type GridOptionsInput } from '../../scaling/grid.js';
import { UsageError } from '../run.js';
import {
  baselineOptions,
  formatFactor,
  limitOptions,
  loadBaseline,
  parseLimits,
  parseNumber,
  parseRule,
  table,
  type BaselineFlags,
  type LimitFlags,
} from './scaling-io.js';

interface GridFlags extends BaselineFlags, LimitFlags {
  phi?: string;
  rule?: string;
  step?: string;
  range?: string;
  alphaRange?: string;
  betaRange?: string;
  gammaRange?: string;
  tolerance?: string;
  constraint?: string;
  random?: string;
  seed?: string;
  architectures?: boolean;
  json?: boolean;
}

export function registerGrid(program: Command): void {
  limitOptions(
    baselineOptions(
      program
        .command('grid')
        .description(
          'plan the coefficient search: alpha, beta, gamma under the compound constraint, with costs and dedup',
        )
        .addHelpText(
          'after',
          `
Examples:
  effscale grid --preset efficientnet-b0 --phi 1 --step 0.05 --tolerance 0.05 --max-macs 800M --json
  effscale grid --preset micro-28 --random 50 --seed 7 --tolerance 0.02
  effscale grid --preset micro-28 --rule linear --range 0:1 --step 0.1`,
        ),
    ),
  )
    .option('--phi <phi>', 'compound coefficient of the search', '1')
    .option('--rule <rule>', 'exponential (equation 3) or linear (equation 4)', 'exponential')
    .option('--step <s>', 'grid step of alpha, beta, gamma', '0.05')
    .option('--range <min:max>', 'range of alpha, beta, gamma (default 1:2, linear rule 0:1)')
    .option('--alpha-range <min:max>', 'range of alpha (overrides --range)')
    .option('--beta-range <min:max>', 'range of beta (overrides --range)')
    .option('--gamma-range <min:max>', 'range of gamma (overrides --range)')
    .option('--tolerance <t>', 'allowed |d·w²·r² − 2^phi| as a fraction of 2^phi', '0.05')
    .option('--random <count>', 'seeded random sampling of this many points instead of a grid')
    .option('--seed <n>', 'seed of the random sampling', '0')
    .option(
      '--constraint <kind>',
      "nominal (d·w²·r²) or measured (the rounded architecture's real MACs over the baseline's)",
      'nominal',
    )
    .option('--architectures', 'include each candidate architecture in the JSON')
    .option('--json', 'print JSON')
    .action(async (flags: GridFlags) => {
      const baseline = await loadBaseline(flags);
      const rule = parseRule(flags.rule);
      const step = parseNumber(flags.step, '--step') as number;
      const fallback = flags.range ?? (rule === 'linear' ? '0:1' : '1:2');
      const range = (value: string | undefined, flag: string) =>
        parseRange(value ?? fallback, value ? flag : '--range', step);
      const limits = parseLimits(flags);
      const randomCount = parseNumber(flags.random, '--random');
      const options: GridOptionsInput = {
        phi: parseNumber(flags.phi, '--phi') as number,
        rule,
        alpha: range(flags.alphaRange, '--alpha-range'),
        beta: range(flags.betaRange, '--beta-range'),
        gamma: range(flags.gammaRange, '--gamma-range'),
        tolerance: parseNumber(flags.tolerance, '--tolerance') as number,
        constraint: flags.constraint as GridOptionsInput['constraint'],
        ...(randomCount === undefined
          ? {}
          : { random: { count: randomCount, seed: parseNumber(flags.seed, '--seed') as number } }),
        ...(Object.keys(limits).length ? { limits } : {}),
      };
      const plan = planGrid(baseline, options);
      if (flags.json) {
        const doc = {
          baseline: baseline.name,
          phi: options.phi,
          rule,
          tolerance: options.tolerance,
          target: plan.target,
          pointsEvaluated: plan.pointsEvaluated,
          candidateCount: plan.candidates.length,
          groupCount: plan.groupCount,
          trainCount: plan.trainCount,
          ...(plan.emptyReason ? { emptyReason: plan.emptyReason } : {}),
          ...(Object.keys(limits).length ? { limits } : {}),
          candidates: plan.candidates.map((c) => candidateJson(c, flags.architectures === true)),
        };
        console.log(JSON.stringify(doc, null, 2));
        return;
      }
      console.log(
        `${plan.candidates.length} candidates of ${plan.pointsEvaluated} points (target multiplier ${formatFactor(plan.target)} ± ${options.tolerance}), ` +
          `${plan.groupCount} distinct architectures, ${plan.trainCount} to train`,
      );
      if (plan.emptyReason) console.log(`nothing to train: ${plan.emptyReason}`);
      if (plan.candidates.length === 0) return;
      console.log(
        table(
          [
            '#',
            'alpha',
            'beta',
            'gamma',
            'd',
            'w',
            'r',
            'd·w²·r²',
            'real',
            'res',
            'params',
            'macs',
            'group',
            'excluded',
          ],
          plan.candidates.map((c) => [
            c.index,
            formatFactor(c.alpha),
            formatFactor(c.beta),
            formatFactor(c.gamma),
            formatFactor(c.factors.depth),
            formatFactor(c.factors.width),
            formatFactor(c.factors.resolution),
            formatFactor(c.costMultiplier),
            formatFactor(c.measuredMultiplier),
            c.architecture.resolution,
            c.cost.params.total,
            c.cost.macs,
            c.dedupGroup,
            c.excluded ?? '',
          ]),
        ),
      );
    });
}

function candidateJson(c: GridCandidate, withArchitecture: boolean) {
  return {
    index: c.index,
    alpha: c.alpha,
    beta: c.beta,
    gamma: c.gamma,
    factors: c.factors,
    costMultiplier: c.costMultiplier,
    measuredMultiplier: c.measuredMultiplier,
    resolution: c.architecture.resolution,
    stages: c.architecture.stages.map((s) => ({ repeats: s.repeats, filters: s.filters })),
    params: c.cost.params,
    macs: c.cost.macs,
    paramBytes: c.cost.paramBytes,
    peakActivationBytes: c.cost.peakActivationBytes,
    dedupGroup: c.dedupGroup,
    ...(c.excluded ? { excluded: c.excluded } : {}),
    ...(withArchitecture ? { architecture: c.architecture } : {}),
  };
}

function parseRange(value: string, flag: string, step: number) {
  const parts = value.split(':');
  const [min, max] = parts.map(Number);
  if (parts.length !== 2 || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new UsageError(`${flag}: expected <min>:<max> such as 1:2, got '${value}'`);
  }
  return { min: min as number, max: max as number, step };
}
