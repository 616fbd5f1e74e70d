import { z } from 'zod';
import type { Architecture } from './architecture.js';
import { architectureTotals, type CostTotals } from './cost.js';
import { describeViolations, ResourceLimits, violations } from './limits.js';
import { seededRandom } from './random.js';
import {
  costMultiplier,
  scaleArchitecture,
  scalingKey,
  scalingFactors,
  ScalingRule,
  type Coefficients,
  type ScalingFactors,
} from './scale.js';
import { parseSpec, SpecError } from './validate.js';

const CoefficientRange = z
  .object({
    min: z.number().min(0),
    max: z.number().min(0),
    step: z.number().positive().describe('grid spacing (ignored by random sampling)'),
  })
  .strict()
  .refine((r) => r.min <= r.max, { message: 'min must be <= max' });
export type CoefficientRange = z.infer<typeof CoefficientRange>;

const defaultRange = { min: 1, max: 2, step: 0.05 };

/** The coefficient search: a grid (or seeded random set) of α, β, γ under the compound constraint at φ. */
export const GridOptions = z
  .object({
    phi: z.number().positive().default(1).describe('the small φ of the coefficient search'),
    rule: ScalingRule.default('exponential'),
    alpha: CoefficientRange.default(defaultRange),
    beta: CoefficientRange.default(defaultRange),
    gamma: CoefficientRange.default(defaultRange),
    tolerance: z.number().min(0).default(0.05).describe('allowed |d·w²·r² − 2^φ| as a fraction of 2^φ'),
    constraint: z
      .enum(['nominal', 'measured'])
      .default('nominal')
      .describe(
        "nominal: d·w²·r² within tolerance of 2^φ (the method as written); measured: the rounded architecture's " +
          "real multiply-adds within tolerance of 2^φ × the baseline's",
      ),
    random: z
      .object({ count: z.number().int().min(1).max(1_000_000), seed: z.number().int().default(0) })
      .strict()
      .optional(),
    limits: ResourceLimits.optional(),
    maxPoints: z.number().int().positive().default(5_000_000).describe('guard against a step too fine'),
  })
  .strict()
  .superRefine((o, ctx) => {
    const floor = o.rule === 'exponential' ? 1 : 0;
    for (const name of ['alpha', 'beta', 'gamma'] as const) {
      if (o[name].min < floor) {
        ctx.addIssue({
          code: 'custom',
          path: [name, 'min'],
          message: `the ${o.rule} rule needs ${name} >= ${floor} (got ${o[name].min})`,
        });
      }
    }
  });
export type GridOptions = z.infer<typeof GridOptions>;
export type GridOptionsInput = z.input<typeof GridOptions>;

export interface GridCandidate {
  index: number;
  alpha: number;
  beta: number;
  gamma: number;
  factors: ScalingFactors;
  /** d·w²·r², the cost multiplier the method assumes. */
  costMultiplier: number;
  /** The rounded architecture's real multiply-adds over the baseline's. */
  measuredMultiplier: number;
  architecture: Architecture;
  cost: CostTotals;
  /** Candidates with the same rounded architecture share a group (and one architecture object, not to be mutated) and are trained once. */
  dedupGroup: number;
  /** Why the candidate must not be trained (over the target resources). */
  excluded?: string;
}

export interface GridPlan {
  candidates: GridCandidate[];
  /** Distinct rounded architectures among the candidates (excluded ones included). */
  groupCount: number;
  /** Distinct architectures that are within the limits: the trainings the search needs. */
  trainCount: number;
  /** Grid points (or random draws) examined before the constraint. */
  pointsEvaluated: number;
  /** 2^φ, the multiplier the constraint aims at. */
  target: number;
  /** Present when nothing can be trained, saying why. */
  emptyReason?: string;
}

interface Closest {
  coefficients: Coefficients;
  multiplier: number;
  error: number;
}

export function planGrid(baseline: Architecture, input: GridOptionsInput): GridPlan {
  const options = parseSpec(GridOptions, input, 'grid options');
  const target = 2 ** options.phi;
  const baselineMacs = architectureTotals(baseline).macs;

  const groups = new Map<string, Group>();
  const groupOf = (factors: ScalingFactors): Group => {
    const key = scalingKey(baseline, factors);
    let group = groups.get(key);
    if (!group) {
      const architecture = scaleArchitecture(baseline, factors);
      const cost = architectureTotals(architecture);
      const broken = options.limits ? violations(cost, options.limits) : [];
      group = {
        id: groups.size,
        architecture,
        cost,
        ...(broken.length ? { excluded: describeViolations(broken) } : {}),
      };
      groups.set(key, group);
    }
    return group;
  };
  // The measured constraint judges a point by its rounded architecture (cached per dedup group).
  const multiplierOf: Multiplier =
    options.constraint === 'measured' ? (f) => groupOf(f).cost.macs / baselineMacs : costMultiplier;
  const sampled = options.random
    ? randomPoints(options, target, multiplierOf)
    : options.constraint === 'measured'
      ? everyGridPoint(options, target, multiplierOf)
      : gridPoints(options, target);
  const { points: accepted, closest, evaluated } = sampled;

  const candidates = accepted.map(({ c, factors }, index): GridCandidate => {
    const group = groupOf(factors);
    return {
      index,
      ...c,
      factors,
      costMultiplier: costMultiplier(factors),
      measuredMultiplier: group.cost.macs / baselineMacs,
      architecture: group.architecture,
      cost: group.cost,
      dedupGroup: group.id,
      ...(group.excluded ? { excluded: group.excluded } : {}),
    };
  });

  // Only the accepted points' groups: the measured constraint also costs architectures it then rejects.
  const used = new Map(candidates.map((c) => [c.dedupGroup, c.excluded]));
  const trainCount = [...used.values()].filter((excluded) => excluded === undefined).length;
  const plan: GridPlan = { candidates, groupCount: used.size, trainCount, pointsEvaluated: evaluated, target };
  const emptyReason = explainEmpty(options, plan, closest);
  return emptyReason ? { ...plan, emptyReason } : plan;
}

interface Group {
  id: number;
  architecture: Architecture;
  cost: CostTotals;
  excluded?: string;
}

/** A point's cost multiplier under the constraint in force: nominal d·w²·r², or measured from its architecture. */
type Multiplier = (factors: ScalingFactors) => number;

function explainEmpty(options: GridOptions, plan: GridPlan, closest: Closest | undefined): string | undefined {
  const constraint =
    options.constraint === 'measured'
      ? `|real MACs / baseline MACs − 2^${options.phi}| <= ${options.tolerance} · ${round(plan.target)}`
      : `|d·w²·r² − 2^${options.phi}| <= ${options.tolerance} · ${round(plan.target)}`;
  if (plan.candidates.length === 0) {
    if (!closest) return `the grid has no points`;
    const { alpha, beta, gamma } = closest.coefficients;
    const how = options.random
      ? 'widen the coefficient ranges or the tolerance'
      : `raise the tolerance to at least ${ceil4(closest.error)} or use a finer step`;
    return (
      `no ${options.random ? 'random sample' : 'grid point'} of ${plan.pointsEvaluated} satisfies ${constraint}; ` +
      `the closest multiplier is ${round(closest.multiplier)} at alpha=${alpha}, beta=${beta}, gamma=${gamma} ` +
      `(off by ${round(closest.error * 100)} %); ${how}`
    );
  }
  if (plan.trainCount === 0) {
    const smallest = plan.candidates.reduce((a, b) => (b.cost.macs < a.cost.macs ? b : a));
    return (
      `all ${plan.candidates.length} candidates (${plan.groupCount} distinct architectures) exceed the resource ` +
      `limits; the smallest breaks them with ${smallest.excluded}`
    );
  }
  return undefined;
}

function values(range: CoefficientRange): number[] {
  const count = Math.floor((range.max - range.min) / range.step + 1e-9) + 1;
  return Array.from({ length: count }, (_, i) => Number((range.min + i * range.step).toFixed(10)));
}

interface Sampled {
  points: Accepted[];
  closest?: Closest;
  evaluated: number;
}

interface Accepted {
  c: Coefficients;
  factors: ScalingFactors;
}

/**
 * Every (α, β) of the grid with the γ values that meet the constraint. The multiplier grows with γ, so the
 * admissible γ form one index interval found analytically; its edges (±1) are checked exactly, which also finds
 * the closest point when none is admissible. A fine grid thus costs O(|α|·|β|), not O(|α|·|β|·|γ|).
 */
function gridPoints(options: GridOptions, target: number): Sampled {
  const [alphas, betas, gammas] = gridValues(options);
  const total = alphas.length * betas.length * gammas.length;
  const { phi, rule, tolerance } = options;
  const { min, step } = options.gamma;
  const admission = new Admission(options, target, costMultiplier);
  for (const alpha of alphas) {
    for (const beta of betas) {
      // γ = 1 (equation 3) or 0 (equation 4) gives r = 1, leaving a = d·w².
      const base = scalingFactors(rule, { alpha, beta, gamma: rule === 'exponential' ? 1 : 0 }, phi);
      const a = base.depth * base.width * base.width;
      const gammaAt = (m: number) => invertResolution(rule, phi, Math.sqrt(m / a));
      const lo = Math.max(0, Math.ceil((gammaAt(target * (1 - tolerance)) - min) / step) - 1);
      const hi = Math.min(gammas.length - 1, Math.floor((gammaAt(target * (1 + tolerance)) - min) / step) + 1);
      for (let i = Math.min(lo, gammas.length - 1); i <= Math.max(hi, 0); i++)
        admission.consider({ alpha, beta, gamma: gammas[i] as number });
    }
  }
  return admission.sampled(total);
}

function gridValues(options: GridOptions): [number[], number[], number[]] {
  const axes: [number[], number[], number[]] = [values(options.alpha), values(options.beta), values(options.gamma)];
  const total = axes[0].length * axes[1].length * axes[2].length;
  if (total > options.maxPoints) {
    throw new SpecError(
      `invalid grid options: alpha, beta, gamma ranges with their steps give ${total} points, more than ` +
        `maxPoints ${options.maxPoints}; use a coarser step or narrower ranges`,
    );
  }
  return axes;
}

/**
 * Every grid point judged by its measured multiplier: rounding moves real costs off the smooth d·w²·r², so no
 * interval of γ can be solved for; each point's architecture is costed once per distinct rounding.
 */
function everyGridPoint(options: GridOptions, target: number, multiplierOf: Multiplier): Sampled {
  const [alphas, betas, gammas] = gridValues(options);
  const admission = new Admission(options, target, multiplierOf);
  for (const alpha of alphas)
    for (const beta of betas) for (const gamma of gammas) admission.consider({ alpha, beta, gamma });
  return admission.sampled(alphas.length * betas.length * gammas.length);
}

/** γ whose resolution factor is r: r = γ^φ (equation 3) or r = 1 + γ·φ (equation 4); NaN-safe for r <= 0. */
function invertResolution(rule: ScalingRule, phi: number, r: number): number {
  if (!(r > 0)) return -Infinity;
  return rule === 'exponential' ? r ** (1 / phi) : (r - 1) / phi;
}

/**
 * Seeded random draws of α and β in their ranges; γ is solved from the constraint (d·w²·r² = 2^φ exactly),
 * clamped to its range, and the draw kept when it still meets the tolerance. Values are rounded to 4 decimals so
 * they read well and replay identically. Draws stop after `count` kept or 100·count tries.
 */
function randomPoints(options: GridOptions, target: number, multiplierOf: Multiplier): Sampled {
  const { count, seed } = options.random as { count: number; seed: number };
  const next = seededRandom(seed);
  const draw = (r: CoefficientRange) => round4(r.min + next() * (r.max - r.min));
  const admission = new Admission(options, target, multiplierOf);
  let attempt = 0;
  for (; admission.points.length < count && attempt < count * 100; attempt++) {
    const alpha = draw(options.alpha);
    const beta = draw(options.beta);
    const solved = solveGamma(options, alpha, beta, target);
    const gamma = round4(Math.min(options.gamma.max, Math.max(options.gamma.min, solved)));
    admission.consider({ alpha, beta, gamma });
  }
  return admission.sampled(attempt);
}

/** Judges points by the constraint in force: keeps those within tolerance, and the closest for `explainEmpty`. */
class Admission {
  readonly points: Accepted[] = [];
  private closest: Closest | undefined;

  constructor(
    private readonly options: GridOptions,
    private readonly target: number,
    private readonly multiplierOf: Multiplier,
  ) {}

  consider(c: Coefficients): void {
    const factors = scalingFactors(this.options.rule, c, this.options.phi);
    const multiplier = this.multiplierOf(factors);
    const error = Math.abs(multiplier - this.target) / this.target;
    if (!this.closest || error < this.closest.error) this.closest = { coefficients: c, multiplier, error };
    if (error <= this.options.tolerance + 1e-12) this.points.push({ c, factors });
  }

  sampled(evaluated: number): Sampled {
    return { points: this.points, evaluated, ...(this.closest ? { closest: this.closest } : {}) };
  }
}

function solveGamma(options: GridOptions, alpha: number, beta: number, target: number): number {
  const { phi } = options;
  if (options.rule === 'exponential') {
    // (α·β²·γ²)^φ = 2^φ  ⇔  γ = sqrt(2 / (α·β²))
    return Math.sqrt(2 / (alpha * beta * beta));
  }
  const d = 1 + alpha * phi;
  const w = 1 + beta * phi;
  const r = Math.sqrt(target / (d * w * w));
  return (r - 1) / phi;
}

const round = (x: number) => Number(x.toPrecision(6));
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
const ceil4 = (x: number) => Math.ceil(x * 1e4) / 1e4;
