import type { Command } from 'commander';
import { phiForTarget } from '../../scaling/phi.js';
import { UsageError } from '../run.js';
import {
  architectureSummary,
  baselineOptions,
  formatBytes,
  formatCount,
  formatFactor,
  limitOptions,
  loadBaseline,
  parseLimits,
  parseNumber,
  parseRule,
  printArchitecture,
  table,
  type BaselineFlags,
  type LimitFlags,
} from './scaling-io.js';

interface PhiFlags extends BaselineFlags, LimitFlags {
  alpha?: string;
  beta?: string;
  gamma?: string;
  rule?: string;
  precision?: string;
  maxPhi?: string;
  minPhi?: string;
  json?: boolean;
}

export function registerPhi(program: Command): void {
  limitOptions(
    baselineOptions(
      program
        .command('phi')
        .description('the largest phi whose scaled architecture fits the target resources, and the binding limit')
        .addHelpText(
          'after',
          `
Examples:
  effscale phi --preset efficientnet-b0 --alpha 1.2 --beta 1.1 --gamma 1.15 --max-macs 4G --json
  effscale phi --preset micro-28 --alpha 1.2 --beta 1.1 --gamma 1.15 --max-param-bytes 2MB --precision 0.01`,
        ),
    ),
  )
    .requiredOption('--alpha <a>', 'depth coefficient α')
    .requiredOption('--beta <b>', 'width coefficient β')
    .requiredOption('--gamma <g>', 'resolution coefficient γ')
    .option('--rule <rule>', 'exponential (equation 3) or linear (equation 4)', 'exponential')
    .option('--precision <step>', 'step of phi: 1 for the largest integer phi, 0.01 for two decimals', '1')
    .option('--max-phi <phi>', 'stop the search here', '16')
    .option('--min-phi <phi>', 'start here (negative scales the baseline down)', '0')
    .option('--json', 'print JSON')
    .action(async (flags: PhiFlags) => {
      const baseline = await loadBaseline(flags);
      const limits = parseLimits(flags);
      if (Object.keys(limits).length === 0) {
        throw new UsageError('give at least one target: --max-macs, --max-param-bytes or --max-activation-bytes');
      }
      const coefficients = {
        alpha: parseNumber(flags.alpha, '--alpha') as number,
        beta: parseNumber(flags.beta, '--beta') as number,
        gamma: parseNumber(flags.gamma, '--gamma') as number,
      };
      const rule = parseRule(flags.rule);
      const result = phiForTarget(baseline, coefficients, rule, limits, {
        precision: parseNumber(flags.precision, '--precision') as number,
        maxPhi: parseNumber(flags.maxPhi, '--max-phi') as number,
        minPhi: parseNumber(flags.minPhi, '--min-phi') as number,
      });
      const arch = { ...result.architecture, name: `${baseline.name}-phi${formatFactor(result.phi)}` };
      if (flags.json) {
        const { architecture: _a, cost: _c, ...rest } = result;
        console.log(
          JSON.stringify(
            { ...rest, rule, coefficients, ...architectureSummary(arch, result.cost), architecture: arch },
            null,
            2,
          ),
        );
        return;
      }
      console.log(
        `phi = ${formatFactor(result.phi)} (${rule} rule): depth ${formatFactor(result.factors.depth)}, width ${formatFactor(result.factors.width)}, resolution ${formatFactor(result.factors.resolution)}`,
      );
      console.log(
        result.next
          ? `binding limit: ${result.binding} (phi=${formatFactor(result.next.phi)} breaks it: ${result.next.reason})`
          : `reached --max-phi; most used limit: ${result.binding}`,
      );
      console.log(
        table(
          ['limit', 'max', 'used', 'use'],
          result.limits.map((u) => [
            u.limit,
            u.limit === 'maxMacs' ? formatCount(u.max) : formatBytes(u.max),
            u.limit === 'maxMacs' ? formatCount(u.value) : formatBytes(u.value),
            `${(u.ratio * 100).toFixed(1)} %`,
          ]),
        ),
      );
      console.log('');
      printArchitecture(arch, result.cost);
    });
}
