import type { Activation, Architecture, Stage } from './architecture.js';

/**
 * The layer plan: one architecture spec unrolled into the ops a network runs, in execution order, with their
 * connectivity and output shapes. It is the single description of every block's topology (the residual rule, the
 * squeeze-excite placement, fused-MBConv without expansion, the drop-connect rate of each block): the cost model,
 * the tfjs-layers builder and the compiled graph engine all read it, so a new block type is added here once.
 */

/** Output shape of one image: height, width, channels. */
export type PlanShape = [number, number, number];

/** The name under which ops read the network input. */
export const imageInput = 'image';

/** What an op is inside a block, in the EfficientNet builders' words. */
export type BlockPart = 'expand' | 'depthwise' | 'fused' | 'conv' | 'se' | 'project' | 'add';
/** What an op outside the blocks is. */
export type NetworkPart = 'stem' | 'head' | 'pool' | 'dropout' | 'classifier';

/** A block's place in the network: stage and repeat, both from 0. */
export interface PlanBlock {
  stage: number;
  repeat: number;
}

interface PlanOpBase {
  /**
   * Unique in the plan, from `part` and `block` (see `opName`); also the prefix of the tfjs-layers layer names of
   * the op (see `layerNames`).
   */
  name: string;
  part: BlockPart | NetworkPart;
  /** Set exactly when `part` is a `BlockPart`. */
  block?: PlanBlock;
  /** Names of the ops whose outputs this op reads (`imageInput` is the network input). */
  inputs: string[];
  shape: PlanShape;
}

/** k×k convolution (`conv`) or depthwise convolution (`depthwise`), no bias, then batch norm, then the activation. */
export interface ConvPlanOp extends PlanOpBase {
  kind: 'conv' | 'depthwise';
  kernel: number;
  stride: number;
  /** Output channels (for `depthwise`, equal to the input channels). */
  filters: number;
  /** Unset for the linear projection of MBConv blocks. */
  activation?: Activation;
}

/**
 * Squeeze-excite: global average pool, 1×1 conv with bias down to `reduced` channels and the activation, 1×1 conv
 * with bias back up to the input's channels and a sigmoid, then the input rescaled by it per channel.
 */
export interface SqueezeExcitePlanOp extends PlanOpBase {
  kind: 'squeeze_excite';
  reduced: number;
  activation: Activation;
}

/** Residual add of a block's output (`inputs[0]`) and its input (`inputs[1]`); in training the branch first goes
 * through drop-connect (stochastic depth) at `dropConnect`, which may be 0. */
export interface AddPlanOp extends PlanOpBase {
  kind: 'add';
  dropConnect: number;
}

export interface PoolPlanOp extends PlanOpBase {
  kind: 'global_avg_pool';
}

/** Dropout in training, identity at inference. */
export interface DropoutPlanOp extends PlanOpBase {
  kind: 'dropout';
  rate: number;
}

/** The classifier: matmul with bias to `units` logits; consumers apply the softmax. */
export interface DensePlanOp extends PlanOpBase {
  kind: 'dense';
  units: number;
}

export type PlanOp = ConvPlanOp | SqueezeExcitePlanOp | AddPlanOp | PoolPlanOp | DropoutPlanOp | DensePlanOp;

export interface LayerPlan {
  input: PlanShape;
  ops: PlanOp[];
}

/** One weight of an op: its tfjs-layers layer, its name inside that layer, its shape, and whether it trains. */
export interface PlanWeight {
  layer: string;
  weight: 'kernel' | 'bias' | 'depthwise_kernel' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance';
  shape: number[];
  trainable: boolean;
}

/** Keras' EfficientNet names for the parts outside the blocks. */
const networkNames: Record<NetworkPart, string> = {
  stem: 'stem',
  head: 'top',
  pool: 'avg_pool',
  dropout: 'top_dropout',
  classifier: 'predictions',
};

/**
 * The name of an op: `stem`, `top`, `avg_pool`, `top_dropout`, `predictions`, and in the blocks
 * `block{stage}_{repeat}_{part}` counted from 1 (`block2_1_expand`, `block2_1_depthwise`, `block2_1_se`,
 * `block2_1_project`, `block2_1_add`, `block1_1_fused`, `block1_1_conv`).
 */
export function opName(part: NetworkPart): string;
export function opName(part: BlockPart, block: PlanBlock): string;
export function opName(part: BlockPart | NetworkPart, block?: PlanBlock): string {
  return block ? `block${block.stage + 1}_${block.repeat + 1}_${part}` : networkNames[part as NetworkPart];
}

export function layerPlan(arch: Architecture): LayerPlan {
  const input: PlanShape = [arch.resolution, arch.resolution, arch.inputChannels];
  const ops: PlanOp[] = [];
  const place = (part: NetworkPart): Place => ({ name: opName(part), part });
  let x: Tensor = { name: imageInput, shape: input };
  x = push(ops, conv(place('stem'), x, 'conv', arch.stem, arch.activation));

  const totalBlocks = arch.stages.reduce((n, s) => n + s.repeats, 0);
  let index = 0;
  arch.stages.forEach((stage, s) => {
    for (let r = 0; r < stage.repeats; r++) {
      // The reference scales the drop-connect rate linearly with the block's position in the network.
      const dropConnect = (arch.dropConnect * index++) / totalBlocks;
      x = block(ops, arch, stage, { stage: s, repeat: r }, x, dropConnect);
    }
  });

  if (arch.head.filters > 0) {
    x = push(ops, conv(place('head'), x, 'conv', { filters: arch.head.filters, kernel: 1 }, arch.activation));
  }
  x = push(ops, { kind: 'global_avg_pool', ...reads(place('pool'), x), shape: [1, 1, x.shape[2]] });
  if (arch.dropout > 0) x = push(ops, { kind: 'dropout', ...reads(place('dropout'), x), rate: arch.dropout });
  push(ops, { kind: 'dense', ...reads(place('classifier'), x), shape: [1, 1, arch.classes], units: arch.classes });
  return { input, ops };
}

/** The fields every op has: its place, the names of what it reads and, unless the op changes it, its shape. */
function reads(at: Place, ...inputs: Tensor[]): PlanOpBase {
  return { name: at.name, part: at.part, block: at.block, inputs: inputs.map((t) => t.name), shape: inputs[0].shape };
}

/** An op output as its readers see it. */
type Tensor = Pick<PlanOpBase, 'name' | 'shape'>;

function push(ops: PlanOp[], op: PlanOp): Tensor {
  ops.push(op);
  return op;
}

type Place = Pick<PlanOpBase, 'name' | 'part' | 'block'>;

/** What a block's position decides, read by every block type. */
interface BlockSettings {
  stride: number;
  expanded: number;
  /** Squeeze-excite width, 0 without squeeze-excite. */
  reduced: number;
}

/** One block of a stage; the stage's first block (`at.repeat` 0) takes the stride and `inputFilters`. */
function block(ops: PlanOp[], arch: Architecture, stage: Stage, at: PlanBlock, x: Tensor, dropConnect: number): Tensor {
  const first = at.repeat === 0;
  const stride = first ? stage.stride : 1;
  const incoming = x.shape[2];
  const blockIn = first ? (stage.inputFilters ?? incoming) : stage.filters;
  const settings: BlockSettings = {
    stride,
    expanded: Math.round(blockIn * stage.expandRatio),
    // Squeezed from the block's input filters, whatever the width it excites (as the reference builders do).
    reduced: stage.seRatio > 0 ? Math.max(1, Math.floor(blockIn * stage.seRatio)) : 0,
  };
  const body = chain(ops, at, x, arch.activation);
  blockBodies[stage.op](body, stage, settings);
  if (stage.skip && stride === 1 && incoming === stage.filters && blockIn === stage.filters) {
    body.add(x, dropConnect);
  }
  return body.output();
}

type Chain = ReturnType<typeof chain>;

/** Appends a block's ops, each reading the output of the one before. */
function chain(ops: PlanOp[], at: PlanBlock, x: Tensor, activation: Activation) {
  let y = x;
  const place = (part: BlockPart): Place => ({ name: opName(part, at), part, block: at });
  return {
    output: () => y,
    conv(part: BlockPart, filters: number, kernel: number, stride = 1): void {
      y = push(ops, conv(place(part), y, 'conv', { filters, kernel, stride }, activation));
    },
    /** The linear bottleneck of MBConv: 1×1 conv and batch norm, no activation. */
    project(filters: number): void {
      y = push(ops, conv(place('project'), y, 'conv', { filters, kernel: 1 }));
    },
    depthwise(kernel: number, stride: number): void {
      y = push(ops, conv(place('depthwise'), y, 'depthwise', { filters: y.shape[2], kernel, stride }, activation));
    },
    squeezeExcite(reduced: number): void {
      if (reduced === 0) return;
      y = push(ops, { kind: 'squeeze_excite', ...reads(place('se'), y), reduced, activation });
    },
    add(shortcut: Tensor, dropConnect: number): void {
      y = push(ops, { kind: 'add', ...reads(place('add'), y, shortcut), dropConnect });
    },
  };
}

const blockBodies: Record<Stage['op'], (c: Chain, stage: Stage, settings: BlockSettings) => void> = {
  mbconv(c, { kernel, filters, expandRatio }, { stride, expanded, reduced }) {
    if (expandRatio !== 1) c.conv('expand', expanded, 1);
    c.depthwise(kernel, stride);
    c.squeezeExcite(reduced);
    c.project(filters);
  },
  fused_mbconv(c, { kernel, filters, expandRatio }, { stride, expanded, reduced }) {
    if (expandRatio === 1) {
      // As in google/automl's FusedMBConvBlock: without expansion the excite precedes the single k×k conv.
      c.squeezeExcite(reduced);
      c.conv('fused', filters, kernel, stride);
      return;
    }
    c.conv('fused', expanded, kernel, stride);
    c.squeezeExcite(reduced);
    c.project(filters);
  },
  conv(c, { kernel, filters }, { stride, reduced }) {
    c.conv('conv', filters, kernel, stride);
    c.squeezeExcite(reduced);
  },
};

function conv(
  at: Place,
  x: Tensor,
  kind: ConvPlanOp['kind'],
  { filters, kernel, stride = 1 }: { filters: number; kernel: number; stride?: number },
  activation?: Activation,
): ConvPlanOp {
  // `same` padding: every started stride step gives an output pixel.
  const shape: PlanShape = [Math.ceil(x.shape[0] / stride), Math.ceil(x.shape[1] / stride), filters];
  return { kind, ...reads(at, x), shape, kernel, stride, filters, activation };
}

export interface ConvLayerNames {
  conv: string;
  bn: string;
  activation?: string;
}
export interface SqueezeExciteLayerNames {
  squeeze: string;
  reshape: string;
  reduce: string;
  expand: string;
  excite: string;
}
export interface AddLayerNames {
  drop?: string;
  add: string;
}
export interface SingleLayerNames {
  layer: string;
}
export type LayerNames = ConvLayerNames | SqueezeExciteLayerNames | AddLayerNames | SingleLayerNames;

/**
 * The tfjs-layers layers an op is built from, in creation order (`Object.values` lists them): a conv op P is
 * `P_conv`, `P_bn` and, with an activation, `P_activation`; squeeze-excite is `P_squeeze`, `P_reshape`,
 * `P_reduce`, `P_expand`, `P_excite`; a residual add is `P_drop` (only with a drop-connect rate) then `P`;
 * pool, dropout and classifier are one layer named P.
 */
export function layerNames(op: ConvPlanOp): ConvLayerNames;
export function layerNames(op: SqueezeExcitePlanOp): SqueezeExciteLayerNames;
export function layerNames(op: AddPlanOp): AddLayerNames;
export function layerNames(op: PoolPlanOp | DropoutPlanOp | DensePlanOp): SingleLayerNames;
export function layerNames(op: PlanOp): LayerNames;
export function layerNames(op: PlanOp): LayerNames {
  const p = op.name;
  switch (op.kind) {
    case 'conv':
    case 'depthwise':
      return op.activation
        ? { conv: `${p}_conv`, bn: `${p}_bn`, activation: `${p}_activation` }
        : { conv: `${p}_conv`, bn: `${p}_bn` };
    case 'squeeze_excite':
      return {
        squeeze: `${p}_squeeze`,
        reshape: `${p}_reshape`,
        reduce: `${p}_reduce`,
        expand: `${p}_expand`,
        excite: `${p}_excite`,
      };
    case 'add':
      return op.dropConnect > 0 ? { drop: `${p}_drop`, add: p } : { add: p };
    default:
      return { layer: p };
  }
}

/** The weights of an op reading `inputChannels` channels, in the order tfjs-layers creates them. */
export function planWeights(op: PlanOp, inputChannels: number): PlanWeight[] {
  switch (op.kind) {
    case 'conv':
    case 'depthwise': {
      const names = layerNames(op);
      const { kernel: k } = op;
      const kernel: PlanWeight =
        op.kind === 'conv'
          ? { layer: names.conv, weight: 'kernel', shape: [k, k, inputChannels, op.filters], trainable: true }
          : { layer: names.conv, weight: 'depthwise_kernel', shape: [k, k, inputChannels, 1], trainable: true };
      return [kernel, ...batchNorm(names.bn, op.filters)];
    }
    case 'squeeze_excite': {
      const { reduce, expand } = layerNames(op);
      const c = op.shape[2];
      return [
        { layer: reduce, weight: 'kernel', shape: [1, 1, c, op.reduced], trainable: true },
        { layer: reduce, weight: 'bias', shape: [op.reduced], trainable: true },
        { layer: expand, weight: 'kernel', shape: [1, 1, op.reduced, c], trainable: true },
        { layer: expand, weight: 'bias', shape: [c], trainable: true },
      ];
    }
    case 'dense': {
      const { layer } = layerNames(op);
      return [
        { layer, weight: 'kernel', shape: [inputChannels, op.units], trainable: true },
        { layer, weight: 'bias', shape: [op.units], trainable: true },
      ];
    }
    default:
      return [];
  }
}

/** γ and β train; the moving mean and variance are updated by the forward pass, not by gradients. */
function batchNorm(layer: string, channels: number): PlanWeight[] {
  return [
    { layer, weight: 'gamma', shape: [channels], trainable: true },
    { layer, weight: 'beta', shape: [channels], trainable: true },
    { layer, weight: 'moving_mean', shape: [channels], trainable: false },
    { layer, weight: 'moving_variance', shape: [channels], trainable: false },
  ];
}
