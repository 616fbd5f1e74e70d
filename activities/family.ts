import { architectureCost } from '../scaling/cost.js';
import { architectureTotals } from '../scaling/cost.js';
import {
  memberForRealCost,
  phiForTarget,
  phiFromMultiplier,
  scaleFamily as scaledMembers,
  type FamilyMember as ScaledMember,
} from '../scaling/phi.js';
import { baselineOf, readSearchSpec, searchPaths, writeJsonAtomic } from '../store/search-dir.js';
import type { FamilyMember, ScaleInput } from '../search/types.js';

/** Factors, multipliers and φ as the family reports them: 4 decimals. */
export const round = (x: number) => Number(x.toFixed(4));

/**
 * Derives the scaling factors from the best coefficients for every requested φ (given directly, as N×
 * multipliers, or as the largest φ under the resource limits), scales the baseline and writes each member's
 * architecture data (layers, shapes, costs) to the search directory.
 */
export async function scaleFamily(searchDir: string, input: ScaleInput): Promise<FamilyMember[]> {
  const spec = await readSearchSpec(searchDir);
  const baseline = baselineOf(spec);
  const { rule, tolerance } = spec.scaling.grid;
  const { targets } = spec.scaling;
  const coeffs = { alpha: input.best.alpha, beta: input.best.beta, gamma: input.best.gamma };

  const requests: { phi: number; source: string }[] = [];
  for (const phi of [...(targets.phis ?? []), ...input.extraPhis]) requests.push({ phi, source: `phi ${phi}` });
  for (const n of targets.multipliers ?? []) requests.push({ phi: phiFromMultiplier(n), source: `${n}x` });
  if (targets.limits) {
    const fit = phiForTarget(baseline, coeffs, rule, targets.limits, { precision: 0.01 });
    requests.push({ phi: fit.phi, source: `limits (binding ${fit.binding})` });
  }
  const seen = new Set<number>();
  const unique = requests.filter((r) => !seen.has(round(r.phi)) && seen.add(round(r.phi)));
  // The limits' φ already accounts for the real cost; the others are nominal unless asked to be measured.
  const measured = (r: { source: string }) => targets.cost === 'measured' && !r.source.startsWith('limits');
  const members: ScaledMember[] = unique.map((r) =>
    measured(r)
      ? memberForRealCost(baseline, coeffs, rule, r.phi)
      : (scaledMembers(baseline, coeffs, rule, [r.phi])[0] as ScaledMember),
  );
  const baselineMacs = architectureTotals(baseline).macs;

  const family: FamilyMember[] = [];
  for (const [i, m] of members.entries()) {
    const request = unique[i];
    const name = `phi${round(request.phi)}`.replace('.', '_');
    const target = 2 ** request.phi;
    const multiplier = m.cost.macs / baselineMacs;
    const off = Math.abs(multiplier - target) / target;
    const file = searchPaths(searchDir).family(name);
    const cost = architectureCost(m.architecture);
    await writeJsonAtomic(file, m.architecture);
    await writeJsonAtomic(file.replace(/\.json$/, '.cost.json'), {
      phi: m.phi,
      factors: m.factors,
      coefficients: coeffs,
      rule,
      cost,
    });
    family.push({
      name,
      phi: m.phi,
      source: measured(request) ? `${request.source}, measured cost (φ=${round(m.phi)})` : request.source,
      target: round(target),
      multiplier: round(multiplier),
      ...(off > tolerance && {
        costWarning:
          `real cost ×${multiplier.toFixed(2)} is ${(off * 100).toFixed(0)} % off the ×${round(target)} target ` +
          `(tolerance ${(tolerance * 100).toFixed(0)} %)` +
          (measured(request) ? '' : ': scaling.targets.cost: measured picks the φ that costs closest'),
      }),
      factors: {
        depth: round(m.factors.depth),
        width: round(m.factors.width),
        resolution: round(m.factors.resolution),
      },
      macs: m.cost.macs,
      params: m.cost.params.total,
      paramBytes: m.cost.paramBytes,
      peakActivationBytes: m.cost.peakActivationBytes,
      resolution: m.architecture.resolution,
      architectureUri: file,
    });
  }
  return family;
}
