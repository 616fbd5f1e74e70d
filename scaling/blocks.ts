import { Stage, type StageOp } from './architecture.js';
import { parseSpec, SpecError } from './validate.js';

/**
 * Block strings as the tensorflow/tpu and timm builders write a stage: `r2_k3_s22_e6_i16_o24_se0.25`.
 * Options: r repeats, k kernel, s stride (`s2` or `s22`), e expand ratio, i input filters, o output filters,
 * se squeeze-excite ratio, `c1` fused-MBConv (tpu conv_type 1), `noskip`. An optional timm-style op prefix
 * (`ir_` MBConv, `er_` fused-MBConv, `cn_` plain conv) may lead.
 */
const prefixOps: Record<string, StageOp> = { ir: 'mbconv', er: 'fused_mbconv', cn: 'conv' };

const optionPattern = /^(se|r|k|s|e|i|o|c|f)(\d+(?:\.\d+)?)$/;

export const blockStringHelp =
  "expected options joined by '_': r<repeats> k<kernel> s<stride>[<stride>] e<expand> [i<in>] o<out> [se<ratio>] [c1] [noskip], e.g. 'r2_k3_s22_e6_i16_o24_se0.25'";

export function parseBlockString(block: string): Stage {
  const source = `block string '${block}'`;
  const tokens = block.trim().split('_').filter(Boolean);
  const fields: Record<string, unknown> = { op: 'mbconv', stride: 1 };
  let explicitOp = false;
  if (tokens.length > 0 && tokens[0] in prefixOps) {
    fields.op = prefixOps[tokens.shift() as string];
    explicitOp = true;
  }
  for (const token of tokens) {
    if (token === 'noskip') {
      fields.skip = false;
      continue;
    }
    const match = optionPattern.exec(token);
    if (!match) throw new SpecError(`invalid ${source}: unknown option '${token}'; ${blockStringHelp}`);
    const [, key, text] = match as unknown as [string, string, string];
    const value = Number(text);
    switch (key) {
      case 'r':
        fields.repeats = value;
        break;
      case 'k':
        fields.kernel = value;
        break;
      case 's':
        fields.stride = parseStride(text, source);
        break;
      case 'e':
        fields.expandRatio = value;
        break;
      case 'i':
        fields.inputFilters = value;
        break;
      case 'o':
        fields.filters = value;
        break;
      case 'se':
        fields.seRatio = value;
        break;
      case 'c':
      case 'f':
        if (value !== 0 && value !== 1) {
          throw new SpecError(`invalid ${source}: '${token}' must be ${key}0 or ${key}1`);
        }
        if (value === 1 && !explicitOp) fields.op = 'fused_mbconv';
        break;
    }
  }
  for (const required of ['repeats', 'kernel', 'filters'] as const) {
    if (fields[required] === undefined) {
      const letter = { repeats: 'r', kernel: 'k', filters: 'o' }[required];
      throw new SpecError(`invalid ${source}: missing '${letter}<${required}>'; ${blockStringHelp}`);
    }
  }
  return parseSpec(Stage, fields, source);
}

function parseStride(text: string, source: string): number {
  if (text.length === 2 && text[0] !== text[1]) {
    throw new SpecError(`invalid ${source}: stride 's${text}' must be square (s11, s22, …)`);
  }
  return Number(text.length === 2 ? text[0] : text);
}

/** The inverse of parseBlockString: tpu style, with a `cn_` prefix for plain conv stages. */
export function formatBlockString(stage: Stage): string {
  const parts = [`r${stage.repeats}`, `k${stage.kernel}`, `s${stage.stride}${stage.stride}`];
  if (stage.op !== 'conv' || stage.expandRatio !== 1) parts.push(`e${stage.expandRatio}`);
  if (stage.inputFilters !== undefined) parts.push(`i${stage.inputFilters}`);
  parts.push(`o${stage.filters}`);
  if (stage.seRatio > 0) parts.push(`se${stage.seRatio}`);
  if (stage.op === 'fused_mbconv') parts.push('c1');
  if (!stage.skip) parts.push('noskip');
  return (stage.op === 'conv' ? 'cn_' : '') + parts.join('_');
}
