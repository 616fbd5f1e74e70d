import { architectureCost } from '../scaling/cost.js';
import { phiForTarget, phiFromMultiplier, scaleFamily as scaledMembers } from '../scaling/phi.js';
import { baselineOf, readSearchSpec, searchPaths, writeJsonAtomic } from './search-dir.js';
import type { FamilyMember, ScaleInput } from './types.js';

const round = (x: number) => Number(x.toFixed(4));

/**
 * Derives the scaling factors from the best coefficients for every requested φ (given directly, as N×
 * multipliers, or as the largest φ under the resource limits), scales the baseline and writes each member's
 * architecture data (layers, shapes, costs) to the search directory.
 */
export async function scaleFamily(searchDir: string, input: ScaleInput): Promise<FamilyMember[]> {
  const spec = await readSearchSpec(searchDir);
  const baseline = baselineOf(spec);
  const { rule } = spec.scaling.grid;
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
  const members = scaledMembers(
    baseline,
    coeffs,
    rule,
    unique.map((r) => r.phi),
  );

  const family: FamilyMember[] = [];
  for (const [i, m] of members.entries()) {
    const name = `phi${round(m.phi)}`.replace('.', '_');
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
      source: unique[i].source,
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
