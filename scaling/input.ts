import { z } from 'zod';
import { Architecture } from './architecture.js';
import { parseBlockString } from './blocks.js';
import { getPreset } from './presets.js';
import { parseSpec, SpecError } from './validate.js';

/**
 * What a user may give as a baseline (CLI file, search spec): a preset name, or an architecture object whose
 * `stages` may be block strings, optionally starting from `preset:` and overriding some fields.
 */
export const BaselineInput = z.union([z.string().min(1), z.record(z.string(), z.unknown())]);
export type BaselineInput = z.infer<typeof BaselineInput>;

const nested = ['stem', 'head', 'batchNorm', 'rounding'] as const;

export function resolveBaseline(value: unknown, source: string): Architecture {
  const input = parseSpec(BaselineInput, value, source);
  if (typeof input === 'string') return getPreset(input);
  const { preset, ...fields } = input;
  let merged: Record<string, unknown> = fields;
  if (preset !== undefined) {
    if (typeof preset !== 'string') throw new SpecError(`invalid ${source}:\n  preset: expected a preset name`);
    const base: Record<string, unknown> = { ...getPreset(preset) };
    merged = { ...base, ...fields };
    for (const key of nested) {
      if (isObject(fields[key]) && isObject(base[key])) merged[key] = { ...base[key], ...fields[key] };
    }
  }
  if (Array.isArray(merged.stages)) {
    merged.stages = merged.stages.map((stage: unknown, i: number) => {
      if (typeof stage !== 'string') return stage;
      try {
        return parseBlockString(stage);
      } catch (err) {
        if (err instanceof SpecError) throw new SpecError(`invalid ${source}:\n  stages[${i}]: ${err.message}`);
        throw err;
      }
    });
  }
  return parseSpec(Architecture, merged, source);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
