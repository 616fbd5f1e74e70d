import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { Architecture } from '../../scaling/architecture.js';
import { formatBlockString } from '../../scaling/blocks.js';
import type { CostTotals, LayerCost } from '../../scaling/cost.js';
import { resolveBaseline } from '../../scaling/input.js';
import type { ResourceLimits } from '../../scaling/limits.js';
import { getPreset, isPresetName, presetNames } from '../../scaling/presets.js';
import { ScalingRule } from '../../scaling/scale.js';
import { parseSpec } from '../../scaling/validate.js';
import { UsageError } from '../run.js';

/** Shared flags and output of the scaling commands (scale, grid, phi, inspect). */
export interface BaselineFlags {
  preset?: string;
  file?: string;
  classes?: string;
}

export function baselineOptions(command: Command): Command {
  return command
    .option('--preset <name>', `baseline preset: ${presetNames.join(', ')}`)
    .option('--file <path>', 'baseline architecture file (YAML or JSON; stages may be block strings)')
    .option('--classes <n>', 'replace the number of output classes');
}

export async function loadBaseline(flags: BaselineFlags): Promise<Architecture> {
  if (flags.preset !== undefined && flags.file !== undefined) throw new UsageError('give --preset or --file, not both');
  if (flags.preset === undefined && flags.file === undefined) {
    throw new UsageError(`give a baseline: --preset <name> (${presetNames.join(', ')}) or --file <path>`);
  }
  const baseline =
    flags.file !== undefined ? await readArchitectureFile(flags.file) : getPreset(flags.preset as string);
  return withClasses(baseline, flags.classes);
}

export function withClasses(arch: Architecture, classes: string | undefined): Architecture {
  if (classes === undefined) return arch;
  const n = Number(classes);
  if (!Number.isInteger(n) || n < 2) throw new UsageError(`--classes: expected an integer >= 2, got '${classes}'`);
  return { ...arch, classes: n };
}

export async function readArchitectureFile(path: string): Promise<Architecture> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read architecture file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new UsageError(
      `architecture file ${path} is neither YAML nor JSON: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  return resolveBaseline(value, `architecture file ${path}`);
}

/** A file path when it exists, else a preset name. */
export async function loadTarget(target: string): Promise<Architecture> {
  try {
    return await readArchitectureFile(target);
  } catch (err) {
    if (err instanceof UsageError && err.message.includes('ENOENT') && isPresetName(target)) return getPreset(target);
    if (err instanceof UsageError && err.message.includes('ENOENT')) {
      throw new UsageError(`${target}: no such file, and not a preset (${presetNames.join(', ')})`);
    }
    throw err;
  }
}

export function parseRule(value: string | undefined): ScalingRule {
  return parseSpec(ScalingRule, value ?? 'exponential', '--rule');
}

/** A plain number flag. */
export function parseNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag}: expected a number, got '${value}'`);
  return n;
}

const suffixes: Record<string, number> = {
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A resource amount: 400000000, 4e8, 400M, 1.5G, 20MiB. */
export function parseAmount(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*(k|K|M|G|T|Ki|Mi|Gi|Ti)?B?$/.exec(value.trim());
  const n = match ? Number(match[1]) * (match[2] ? (suffixes[match[2]] as number) : 1) : NaN;
  if (!(n > 0))
    throw new UsageError(`${flag}: expected a positive amount such as 4e8, 400M, 2G or 20MiB, got '${value}'`);
  return n;
}

export interface LimitFlags {
  maxMacs?: string;
  maxParamBytes?: string;
  maxActivationBytes?: string;
}

export function limitOptions(command: Command): Command {
  return command
    .option('--max-macs <n>', 'maximum multiply-adds for one image (e.g. 4e8, 400M)')
    .option('--max-param-bytes <n>', 'maximum float32 parameter bytes (e.g. 40MB, 32MiB)')
    .option('--max-activation-bytes <n>', 'maximum peak activation bytes for one image');
}

export function parseLimits(flags: LimitFlags): ResourceLimits {
  const limits: ResourceLimits = {};
  const maxMacs = parseAmount(flags.maxMacs, '--max-macs');
  const maxParamBytes = parseAmount(flags.maxParamBytes, '--max-param-bytes');
  const maxActivationBytes = parseAmount(flags.maxActivationBytes, '--max-activation-bytes');
  if (maxMacs !== undefined) limits.maxMacs = maxMacs;
  if (maxParamBytes !== undefined) limits.maxParamBytes = maxParamBytes;
  if (maxActivationBytes !== undefined) limits.maxActivationBytes = maxActivationBytes;
  return limits;
}

/** The JSON summary every scaling command prints for one architecture. */
export function architectureSummary(arch: Architecture, cost: CostTotals) {
  return {
    name: arch.name,
    resolution: arch.resolution,
    inputChannels: arch.inputChannels,
    classes: arch.classes,
    params: cost.params,
    macs: cost.macs,
    paramBytes: cost.paramBytes,
    peakActivationBytes: cost.peakActivationBytes,
    stem: arch.stem,
    stages: arch.stages.map((s) => ({ ...s, block: formatBlockString(s) })),
    head: arch.head,
  };
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(2)} ${units[unit]}`;
}

export function formatFactor(x: number): string {
  return Number(x.toFixed(4)).toString();
}

/** Left-aligned text, right-aligned numbers. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return cells
    .map((r) =>
      r
        .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The readable form: totals, then the stage table, then (optionally) every layer. */
export function printArchitecture(arch: Architecture, cost: CostTotals, layers?: LayerCost[]): void {
  console.log(`${arch.name}: ${arch.resolution}×${arch.resolution}×${arch.inputChannels} → ${arch.classes} classes`);
  console.log(
    table(
      ['cost', 'value'],
      [
        ['params (trainable)', formatCount(cost.params.trainable)],
        ['params (total)', formatCount(cost.params.total)],
        ['multiply-adds', formatCount(cost.macs)],
        ['param bytes', `${formatCount(cost.paramBytes)} (${formatBytes(cost.paramBytes)})`],
        [
          'peak activation bytes',
          `${formatCount(cost.peakActivationBytes)} (${formatBytes(cost.peakActivationBytes)})`,
        ],
      ],
    ),
  );
  console.log('');
  const rows: (string | number)[][] = [
    ['stem', 'conv', 1, arch.stem.kernel, arch.stem.stride, '', arch.stem.filters, ''],
    ...arch.stages.map((s, i) => [
      `stage ${i}`,
      s.op,
      s.repeats,
      s.kernel,
      s.stride,
      s.op === 'conv' ? '' : String(s.expandRatio),
      s.filters,
      formatBlockString(s),
    ]),
  ];
  if (arch.head.filters > 0) rows.push(['head', 'conv', 1, 1, 1, '', arch.head.filters, '']);
  console.log(table(['', 'op', 'repeats', 'kernel', 'stride', 'expand', 'filters', 'block'], rows));
  if (!layers) return;
  console.log('');
  console.log(
    table(
      ['layer', 'op', 'inputs', 'output', 'params', 'macs', 'activation bytes'],
      layers.map((l) => [
        l.name,
        l.op,
        l.inputs.join(','),
        l.outputShape.join('×'),
        l.params.total,
        l.macs,
        l.activationBytes,
      ]),
    ),
  );
}
