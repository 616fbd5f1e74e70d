import { z } from 'zod';
import type { CostTotals } from './cost.js';

/** Target resources: a scaled candidate must stay at or under every limit given. */
export const ResourceLimits = z
  .object({
    maxMacs: z.number().positive().optional().describe('multiply-adds for one image'),
    maxParamBytes: z.number().positive().optional().describe('float32 bytes of all parameters'),
    maxActivationBytes: z.number().positive().optional().describe('peak activation bytes for one image'),
  })
  .strict();
export type ResourceLimits = z.infer<typeof ResourceLimits>;
export type ResourceLimit = keyof ResourceLimits;

export const limitNames: readonly ResourceLimit[] = ['maxMacs', 'maxParamBytes', 'maxActivationBytes'];

const measures: Record<ResourceLimit, { of: (c: CostTotals) => number; label: string }> = {
  maxMacs: { of: (c) => c.macs, label: 'macs' },
  maxParamBytes: { of: (c) => c.paramBytes, label: 'paramBytes' },
  maxActivationBytes: { of: (c) => c.peakActivationBytes, label: 'peakActivationBytes' },
};

export interface LimitUse {
  limit: ResourceLimit;
  value: number;
  max: number;
  /** value / max: above 1 breaks the limit. */
  ratio: number;
}

/** How much of each given limit the cost uses, most used first. */
export function limitUse(cost: CostTotals, limits: ResourceLimits): LimitUse[] {
  const uses: LimitUse[] = [];
  for (const limit of limitNames) {
    const max = limits[limit];
    if (max === undefined) continue;
    const value = measures[limit].of(cost);
    uses.push({ limit, value, max, ratio: value / max });
  }
  return uses.sort((a, b) => b.ratio - a.ratio);
}

export function violations(cost: CostTotals, limits: ResourceLimits): LimitUse[] {
  return limitUse(cost, limits).filter((u) => u.value > u.max);
}

/** One readable reason, e.g. "macs 1,234,567 > maxMacs 1,000,000". */
export function describeViolations(broken: readonly LimitUse[]): string {
  return broken
    .map(
      (u) =>
        `${measures[u.limit].label} ${u.value.toLocaleString('en-US')} > ${u.limit} ${u.max.toLocaleString('en-US')}`,
    )
    .join('; ');
}
