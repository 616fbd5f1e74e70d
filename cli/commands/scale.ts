import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { architectureCost } from '../../scaling/cost.js';
import { phiFromMultiplier } from '../../scaling/phi.js';
import { scaleArchitecture, scalingFactors, type Coefficients, type ScalingFactors } from '../../scaling/scale.js';
import { UsageError } from '../run.js';
import {
  architectureSummary,
  baselineOptions,
  formatFactor,
  loadBaseline,
  parseNumber,
  parseRule,
  printArchitecture,
  type BaselineFlags,
} from './scaling-io.js';

interface ScaleFlags extends BaselineFlags {
  width?: string;
  depth?: string;
  resolution?: string;
  alpha?: string;
  beta?: string;
  gamma?: string;
  phi?: string;
  multiplier?: string;
  rule?: string;
  dropout?: string;
  name?: string;
  layers?: boolean;
  save?: string;
  json?: boolean;
}

export function registerScale(program: Command): void {
  baselineOptions(
    program
      .command('scale')
      .description('scale a baseline by explicit factors or by alpha/beta/gamma and phi; print the exact costs')
      .addHelpText(
        'after',
        `
Examples:
  effscale scale --preset efficientnet-b0 --width 1.1 --depth 1.2 --resolution 260 --json
  effscale scale --preset efficientnet-b0 --alpha 1.2 --beta 1.1 --gamma 1.15 --phi 2
  effscale scale --preset micro-28 --alpha 1.2 --beta 1.1 --gamma 1.15 --multiplier 4 --rule exponential`,
      ),
  )
    .option('--width <w>', 'width factor (channels ×w, rounded to the divisor)')
    .option('--depth <d>', 'depth factor (repeats ×d, ceil)')
    .option('--resolution <px>', 'input resolution in pixels')
    .option('--alpha <a>', 'depth coefficient α (with --phi or --multiplier)')
    .option('--beta <b>', 'width coefficient β')
    .option('--gamma <g>', 'resolution coefficient γ')
    .option('--phi <phi>', 'compound coefficient φ')
    .option('--multiplier <n>', 'resource multiplier N (φ = log2 N)')
    .option('--rule <rule>', 'exponential (equation 3) or linear (equation 4)', 'exponential')
    .option('--dropout <rate>', 'replace the dropout rate of the classifier')
    .option('--name <name>', 'name of the scaled architecture')
    .option('--layers', 'include every layer (table or JSON)')
    .option('--save <file>', 'write the scaled architecture to a file (.json, else YAML) for inspect/search')
    .option('--json', 'print JSON')
    .action(async (flags: ScaleFlags) => {
      const baseline = await loadBaseline(flags);
      const { factors, method } = resolveFactors(flags, baseline.resolution);
      let arch = scaleArchitecture(baseline, factors);
      const dropout = parseNumber(flags.dropout, '--dropout');
      if (dropout !== undefined) {
        if (!(dropout >= 0 && dropout < 1))
          throw new UsageError(`--dropout: expected a rate in [0, 1), got ${dropout}`);
        arch = { ...arch, dropout };
      }
      arch = { ...arch, name: flags.name ?? scaledName(baseline.name, method, factors, arch.resolution) };
      const cost = architectureCost(arch);
      if (flags.save) {
        const text = flags.save.endsWith('.json') ? JSON.stringify(arch, null, 2) : toYaml(arch);
        await writeFile(flags.save, text);
      }
      if (flags.json) {
        const doc = {
          ...method,
          baseline: baseline.name,
          factors,
          ...architectureSummary(arch, cost),
          architecture: arch,
          ...(flags.layers ? { layers: cost.layers } : {}),
        };
        console.log(JSON.stringify(doc, null, 2));
        return;
      }
      const how = method.phi === undefined ? '' : ` (${method.rule} rule, phi=${formatFactor(method.phi)})`;
      console.log(
        `factors${how}: depth ${formatFactor(factors.depth)}, width ${formatFactor(factors.width)}, resolution ${formatFactor(factors.resolution)}`,
      );
      printArchitecture(arch, cost, flags.layers ? cost.layers : undefined);
    });
}

interface Method {
  rule?: string;
  phi?: number;
  coefficients?: Coefficients;
}

function resolveFactors(flags: ScaleFlags, baseResolution: number): { factors: ScalingFactors; method: Method } {
  const direct = flags.width !== undefined || flags.depth !== undefined || flags.resolution !== undefined;
  const compound = [flags.alpha, flags.beta, flags.gamma, flags.phi, flags.multiplier].some((v) => v !== undefined);
  if (direct && compound) {
    throw new UsageError('give either --width/--depth/--resolution or --alpha/--beta/--gamma with --phi, not both');
  }
  if (!compound) {
    const width = parseNumber(flags.width, '--width') ?? 1;
    const depth = parseNumber(flags.depth, '--depth') ?? 1;
    const resolution = parseNumber(flags.resolution, '--resolution') ?? baseResolution;
    for (const [flag, v] of [
      ['--width', width],
      ['--depth', depth],
      ['--resolution', resolution],
    ] as const) {
      if (!(v > 0)) throw new UsageError(`${flag}: expected a positive number, got ${v}`);
    }
    return { factors: { depth, width, resolution: resolution / baseResolution }, method: {} };
  }
  const missing = (['alpha', 'beta', 'gamma'] as const).filter((k) => flags[k] === undefined);
  if (missing.length > 0)
    throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(', ')} (the compound form needs all three)`);
  if ((flags.phi === undefined) === (flags.multiplier === undefined)) {
    throw new UsageError('give exactly one of --phi or --multiplier');
  }
  const coefficients = {
    alpha: parseNumber(flags.alpha, '--alpha') as number,
    beta: parseNumber(flags.beta, '--beta') as number,
    gamma: parseNumber(flags.gamma, '--gamma') as number,
  };
  const phi =
    parseNumber(flags.phi, '--phi') ?? phiFromMultiplier(parseNumber(flags.multiplier, '--multiplier') as number);
  const rule = parseRule(flags.rule);
  return { factors: scalingFactors(rule, coefficients, phi), method: { rule, phi, coefficients } };
}

function scaledName(base: string, method: Method, f: ScalingFactors, resolution: number): string {
  if (method.phi !== undefined) return `${base}-phi${formatFactor(method.phi)}`;
  return `${base}-w${formatFactor(f.width)}-d${formatFactor(f.depth)}-r${resolution}`;
}
