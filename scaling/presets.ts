import { Architecture, type ArchitectureInput } from './architecture.js';
import { parseBlockString } from './blocks.js';
import { parseSpec, SpecError } from './validate.js';

/**
 * Baselines shipped with effscale. The published ones transcribe the reference builders' block strings
 * (tensorflow/tpu efficientnet_builder.py and efficientnet_edgetpu_builder.py, google/automl
 * effnetv2_configs.py); the micro ones are small enough to train in seconds per epoch on a CPU.
 */
interface PresetDefinition extends Omit<ArchitectureInput, 'stages'> {
  blocks: string[];
}

const definitions = {
  'efficientnet-b0': {
    resolution: 224,
    stem: { filters: 32, kernel: 3, stride: 2 },
    blocks: [
      'r1_k3_s11_e1_o16_se0.25',
      'r2_k3_s22_e6_o24_se0.25',
      'r2_k5_s22_e6_o40_se0.25',
      'r3_k3_s22_e6_o80_se0.25',
      'r3_k5_s11_e6_o112_se0.25',
      'r4_k5_s22_e6_o192_se0.25',
      'r1_k3_s11_e6_o320_se0.25',
    ],
    head: { filters: 1280 },
    classes: 1000,
    dropout: 0.2,
    dropConnect: 0.2,
    activation: 'swish',
  },
  'efficientnet-edgetpu-s': {
    resolution: 224,
    stem: { filters: 32, kernel: 3, stride: 2 },
    // The first block expands from i24 although the stem gives 32 channels: the reference builder does so.
    blocks: [
      'r1_k3_s11_e4_i24_o24_c1_noskip',
      'r2_k3_s22_e8_o32_c1',
      'r4_k3_s22_e8_o48_c1',
      'r5_k5_s22_e8_o96',
      'r4_k5_s11_e8_o144',
      'r2_k5_s22_e8_o192',
    ],
    head: { filters: 1280 },
    classes: 1000,
    dropout: 0.2,
    dropConnect: 0.2,
    activation: 'relu',
  },
  'efficientnetv2-s': {
    resolution: 384,
    stem: { filters: 24, kernel: 3, stride: 2 },
    blocks: [
      'r2_k3_s11_e1_o24_c1',
      'r4_k3_s22_e4_o48_c1',
      'r4_k3_s22_e4_o64_c1',
      'r6_k3_s22_e4_o128_se0.25',
      'r9_k3_s11_e6_o160_se0.25',
      'r15_k3_s22_e6_o256_se0.25',
    ],
    head: { filters: 1280 },
    classes: 1000,
    dropout: 0.2,
    dropConnect: 0.2,
    activation: 'swish',
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
    rounding: { divisor: 8, minFraction: 0, resolutionMultiple: 1 },
  },
  'micro-28': {
    resolution: 28,
    inputChannels: 1,
    stem: { filters: 16, kernel: 3, stride: 1 },
    blocks: [
      'r1_k3_s11_e1_o16_se0.25',
      'r2_k3_s22_e4_o24_se0.25',
      'r2_k5_s22_e4_o40_se0.25',
      'r1_k3_s11_e4_o64_se0.25',
    ],
    head: { filters: 256 },
    classes: 10,
    dropout: 0.2,
    dropConnect: 0.1,
    activation: 'swish',
    // Short searches train for an epoch or two: with 0.99 the moving statistics barely leave their initial values
    // and validation accuracy sits at chance even when training accuracy does not.
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
  },
  'micro-32': {
    resolution: 32,
    inputChannels: 3,
    stem: { filters: 16, kernel: 3, stride: 1 },
    blocks: [
      'r1_k3_s11_e1_o16_se0.25',
      'r2_k3_s22_e4_o24_se0.25',
      'r2_k5_s22_e4_o40_se0.25',
      'r2_k3_s22_e4_o64_se0.25',
    ],
    head: { filters: 256 },
    classes: 10,
    dropout: 0.2,
    dropConnect: 0.1,
    activation: 'swish',
    // Short searches train for an epoch or two: with 0.99 the moving statistics barely leave their initial values
    // and validation accuracy sits at chance even when training accuracy does not.
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
  },
} satisfies Record<string, PresetDefinition>;

export type PresetName = keyof typeof definitions;

export const presetNames: readonly string[] = Object.keys(definitions);

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(definitions, name);
}

/** A fresh copy of the preset, so callers may change it freely. */
export function getPreset(name: string): Architecture {
  if (!isPresetName(name)) {
    throw new SpecError(`unknown preset '${name}'; allowed presets: ${presetNames.join(', ')}`);
  }
  const { blocks, ...rest } = definitions[name] as PresetDefinition;
  return parseSpec(Architecture, { name, ...rest, stages: blocks.map(parseBlockString) }, `preset '${name}'`);
}
