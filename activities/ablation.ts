import { ABLATION_DIMENSIONS, scaleOneDimension } from '../scaling/ablation.js';
import type { Architecture } from '../scaling/architecture.js';
import { architectureTotals } from '../scaling/cost.js';
import { round } from './family.js';
import { baselineOf, readSearchSpec, searchPaths, writeJsonAtomic } from '../store/search-dir.js';
import type { AblationArm, AblationInput } from '../search/types.js';

/**
 * The ablation's arms (`final.ablation`): the baseline itself, and the baseline scaled along depth only, width
 * only and resolution only to the real multiply-adds of the compound member they are compared with. Their
 * architectures go to the family folder, like the members'; the finals step trains them with the final budget.
 */
export async function ablationArms(searchDir: string, input: AblationInput): Promise<AblationArm[]> {
  const baseline = baselineOf(await readSearchSpec(searchDir));
  const baselineMacs = architectureTotals(baseline).macs;
  const arms: { name: string; factors: AblationArm['factors']; architecture: Architecture }[] = [
    { name: 'baseline', factors: { depth: 1, width: 1, resolution: 1 }, architecture: baseline },
    ...ABLATION_DIMENSIONS.map((dimension) => {
      const scaled = scaleOneDimension(baseline, dimension, input.member.macs);
      return { name: `${dimension}-only`, factors: scaled.factors, architecture: scaled.architecture };
    }),
  ];
  const out: AblationArm[] = [];
  for (const arm of arms) {
    const file = searchPaths(searchDir).family(`ablation-${arm.name}`);
    await writeJsonAtomic(file, arm.architecture);
    const totals = architectureTotals(arm.architecture);
    out.push({
      name: arm.name,
      factors: {
        depth: round(arm.factors.depth),
        width: round(arm.factors.width),
        resolution: round(arm.factors.resolution),
      },
      macs: totals.macs,
      params: totals.params.total,
      multiplier: round(totals.macs / baselineMacs),
      resolution: arm.architecture.resolution,
      architectureUri: file,
    });
  }
  return out;
}
