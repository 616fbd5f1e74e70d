import type { Architecture } from './architecture.js';
import { architectureTotals, type CostTotals } from './cost.js';
import { limitNames, limitUse, ResourceLimits, violations, describeViolations, type LimitUse } from './limits.js';
import { Coefficients, scaleArchitecture, scalingFactors, type ScalingFactors, type ScalingRule } from './scale.js';
import { parseSpec, SpecError } from './validate.js';

export { ResourceLimits, type ResourceLimit } from './limits.js';

/** φ for "make it N times bigger": the cost multiplier 2^φ equals N. */
export function phiFromMultiplier(n: number): number {
  if (!Number.isFinite(n) || n <= 0) {
    throw new SpecError(`invalid multiplier: ${n}; expected a positive number (phi = log2 N)`);
  }
  return Math.log2(n);
}

export interface FamilyMember {
  phi: number;
  factors: ScalingFactors;
  architecture: Architecture;
  cost: CostTotals;
}

export interface PhiTarget extends FamilyMember {
  /** The limit that the next step of φ breaks (or, when maxPhi was reached, the most used one). */
  binding: keyof ResourceLimits;
  /** Use of every given limit at the chosen φ, most used first. */
  limits: LimitUse[];
  /** The first φ that does not fit and why; absent when the search stopped at maxPhi. */
  next?: { phi: number; reason: string };
  reachedMaxPhi: boolean;
}

export interface PhiSearchOptions {
  /** Step of φ: 1 finds the largest integer φ, 0.01 the largest φ to two decimals. */
  precision?: number;
  maxPhi?: number;
  /** Lowest φ tried; negative values scale the baseline down. */
  minPhi?: number;
}

const maxSteps = 100_000;

function member(baseline: Architecture, coeffs: Coefficients, rule: ScalingRule, phi: number): FamilyMember {
  const factors = scalingFactors(rule, coeffs, phi);
  const architecture = scaleArchitecture(baseline, factors);
  return { phi, factors, architecture, cost: architectureTotals(architecture) };
}

/**
 * The largest φ (a multiple of `precision`) whose scaled architecture stays within every given limit. Costs grow
 * with φ when the factors do, so the search walks up from minPhi and stops at the first φ that breaks a limit.
 */
export function phiForTarget(
  baseline: Architecture,
  coeffs: Coefficients,
  rule: ScalingRule,
  limitsInput: ResourceLimits,
  opts: PhiSearchOptions = {},
): PhiTarget {
  const limits = parseSpec(ResourceLimits, limitsInput, 'resource limits');
  if (!limitNames.some((l) => limits[l] !== undefined)) {
    throw new SpecError(`invalid resource limits: give at least one of ${limitNames.join(', ')}`);
  }
  parseSpec(Coefficients, coeffs, 'coefficients');
  const floor = rule === 'exponential' ? 1 : 0;
  for (const [name, value] of Object.entries(coeffs)) {
    if (value < floor) {
      throw new SpecError(
        `invalid coefficients: ${name}=${value}; the ${rule} rule needs ${name} >= ${floor} to grow with phi`,
      );
    }
  }
  const { precision = 1, maxPhi = 16, minPhi = 0 } = opts;
  if (!(precision > 0)) throw new SpecError(`invalid precision: ${precision}; expected a positive step of phi`);
  if (!(maxPhi >= minPhi)) throw new SpecError(`invalid maxPhi: ${maxPhi}; expected >= minPhi (${minPhi})`);
  const first = Math.ceil(minPhi / precision - 1e-9);
  const last = Math.floor(maxPhi / precision + 1e-9);
  if (last - first > maxSteps) {
    throw new SpecError(
      `invalid precision: ${precision} needs ${last - first} steps from ${minPhi} to ${maxPhi}; max ${maxSteps}`,
    );
  }
  const phiAt = (k: number) => Number((k * precision).toFixed(12));

  let best = member(baseline, coeffs, rule, phiAt(first));
  const broken = violations(best.cost, limits);
  if (broken.length > 0) {
    throw new SpecError(
      `no phi fits the resource limits: even phi=${best.phi} (${first === 0 ? 'the baseline' : 'minPhi'}) breaks them: ${describeViolations(broken)}`,
    );
  }
  for (let k = first + 1; k <= last; k++) {
    const candidate = member(baseline, coeffs, rule, phiAt(k));
    const over = violations(candidate.cost, limits);
    if (over.length > 0) {
      return {
        ...best,
        binding: (over[0] as LimitUse).limit,
        limits: limitUse(best.cost, limits),
        next: { phi: candidate.phi, reason: describeViolations(over) },
        reachedMaxPhi: false,
      };
    }
    best = candidate;
  }
  const uses = limitUse(best.cost, limits);
  return { ...best, binding: (uses[0] as LimitUse).limit, limits: uses, reachedMaxPhi: true };
}

/**
 * The member whose rounded architecture's real multiply-adds are closest to 2^φ × the baseline's, over φ' within
 * ±1 of φ in steps of `precision`: rounding layer counts up and widths to the divisor moves a member's true cost
 * away from the nominal 2^φ, most of all on small baselines.
 */
export function memberForRealCost(
  baseline: Architecture,
  coeffs: Coefficients,
  rule: ScalingRule,
  phi: number,
  precision = 0.01,
): FamilyMember {
  parseSpec(Coefficients, coeffs, 'coefficients');
  const target = 2 ** phi * architectureTotals(baseline).macs;
  let best: FamilyMember | undefined;
  const last = Math.round((phi + 1) / precision);
  for (let k = Math.max(0, Math.round((phi - 1) / precision)); k <= last; k++) {
    const m = member(baseline, coeffs, rule, Number((k * precision).toFixed(12)));
    if (!best || Math.abs(m.cost.macs - target) < Math.abs(best.cost.macs - target)) best = m;
  }
  return best as FamilyMember;
}

/** The scaled family (B1…Bn style) for a list of φ. */
export function scaleFamily(
  baseline: Architecture,
  coeffs: Coefficients,
  rule: ScalingRule,
  phis: readonly number[],
): FamilyMember[] {
  parseSpec(Coefficients, coeffs, 'coefficients');
  return phis.map((phi) => member(baseline, coeffs, rule, phi));
}
