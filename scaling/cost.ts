import type { Architecture } from './architecture.js';
import { imageInput, layerPlan, planWeights, type LayerPlan, type PlanOp, type PlanShape } from './layer-plan.js';

/**
 * Exact analytic cost of an architecture's layer plan, per layer and in total, with the conventions of the
 * EfficientNet reference implementations (see docs/scaling.md):
 * - multiply-adds: k²·Cin·Cout·Hout·Wout per conv, k²·C·Hout·Wout per depthwise conv, the squeeze-excite 1×1 convs
 *   and channel-rescale multiplies, the classifier; batch norm, activations, biases, pooling and adds are free;
 * - parameters: trainable (weights, biases, BN gamma/beta) and total (plus BN moving mean/variance);
 * - activation bytes: float32 tensors of one image; a tensor is live from the layer that writes it to the last
 *   layer that reads it, and the peak is the largest sum of live tensors over the layers in execution order.
 * The report describes inference, where dropout is the identity: it is not a layer, its readers read its input.
 */
export interface LayerCost {
  name: string;
  op: LayerOp;
  inputs: string[];
  outputShape: [number, number, number];
  params: { trainable: number; total: number };
  macs: number;
  activationBytes: number;
  kernel?: number;
  stride?: number;
}

export type LayerOp = 'conv2d' | 'depthwise_conv2d' | 'squeeze_excite' | 'add' | 'global_avg_pool' | 'dense';

export interface CostTotals {
  params: { trainable: number; total: number };
  macs: number;
  paramBytes: number;
  peakActivationBytes: number;
}

export interface ArchitectureCost extends CostTotals {
  layers: LayerCost[];
}

const bytesPerValue = 4;

/** Full cost with the layer list (shapes, connectivity, per-layer figures). */
export function architectureCost(arch: Architecture): ArchitectureCost {
  const layers: LayerCost[] = [];
  return { ...walk(layerPlan(arch), layers), layers };
}

/** The same totals without building the layer list: the hot path of grid planning. */
export function architectureTotals(arch: Architecture): CostTotals {
  return walk(layerPlan(arch), undefined);
}

/** An op's output tensor as the report names it, and the position of the last op that reads it. */
interface Tensor {
  name: string;
  shape: PlanShape;
  bytes: number;
  lastRead: number;
}

/** The report's layer names, older than the plan's: `stem`, `s{stage}b{repeat}.{part}`, `head`, `pool`, `classifier`. */
function reportName(op: PlanOp): string {
  return op.block ? `s${op.block.stage}b${op.block.repeat}.${op.part}` : op.part;
}

const reportOps: Record<Exclude<PlanOp['kind'], 'dropout'>, LayerOp> = {
  conv: 'conv2d',
  depthwise: 'depthwise_conv2d',
  squeeze_excite: 'squeeze_excite',
  add: 'add',
  global_avg_pool: 'global_avg_pool',
  dense: 'dense',
};

/** One pass over the plan; `layers` receives the layer records when the caller wants them. */
function walk(plan: LayerPlan, layers: LayerCost[] | undefined): CostTotals {
  const tensor = tensorsOf(plan);
  let trainable = 0;
  let total = 0;
  let macs = 0;
  let live = tensor(imageInput).bytes;
  let peak = 0;
  plan.ops.forEach((op, at) => {
    if (op.kind === 'dropout') return;
    const output = tensor(op.name);
    const inputs = op.inputs.map(tensor);
    live += output.bytes;
    peak = Math.max(peak, live);
    for (const t of [...inputs, output]) if (t.lastRead === at) live -= t.bytes;
    const params = paramsOf(op, inputs[0].shape[2]);
    const opMacs = multiplyAdds(op, inputs[0].shape[2]);
    trainable += params.trainable;
    total += params.total;
    macs += opMacs;
    layers?.push({
      name: output.name,
      op: reportOps[op.kind],
      inputs: inputs.map((t) => t.name),
      outputShape: [...op.shape],
      params,
      macs: opMacs,
      activationBytes: output.bytes,
      ...(op.kind === 'conv' || op.kind === 'depthwise' ? { kernel: op.kernel, stride: op.stride } : {}),
    });
  });
  return { params: { trainable, total }, macs, paramBytes: bytesPerValue * total, peakActivationBytes: peak };
}

/**
 * Every op's output tensor by op name (and the image by `imageInput`), with its last reader: a tensor is live from
 * the op that writes it to the last op that reads it.
 */
function tensorsOf(plan: LayerPlan): (name: string) => Tensor {
  const tensors = new Map<string, Tensor>([[imageInput, tensorOf('input', plan.input, -1)]]);
  const tensor = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`layer plan: no op named '${name}' precedes its reader`);
    return t;
  };
  plan.ops.forEach((op, at) => {
    for (const name of op.inputs) tensor(name).lastRead = at;
    const output = op.kind === 'dropout' ? tensor(op.inputs[0]) : tensorOf(reportName(op), op.shape, at);
    tensors.set(op.name, output);
  });
  return tensor;
}

function tensorOf(name: string, shape: PlanShape, writtenAt: number): Tensor {
  return { name, shape, bytes: bytesPerValue * shape[0] * shape[1] * shape[2], lastRead: writtenAt };
}

/** Trainable: weights, biases, batch-norm γ and β; total adds the batch-norm moving statistics. */
function paramsOf(op: PlanOp, inputChannels: number): { trainable: number; total: number } {
  let trainable = 0;
  let total = 0;
  for (const w of planWeights(op, inputChannels)) {
    const size = w.shape.reduce((n, d) => n * d, 1);
    total += size;
    if (w.trainable) trainable += size;
  }
  return { trainable, total };
}

/** Batch norm, activations, biases, pooling and adds are free. */
function multiplyAdds(op: PlanOp, inputChannels: number): number {
  const [height, width, channels] = op.shape;
  switch (op.kind) {
    case 'conv':
      return op.kernel * op.kernel * inputChannels * channels * height * width;
    case 'depthwise':
      return op.kernel * op.kernel * channels * height * width;
    case 'squeeze_excite':
      // the two 1×1 convs on the squeezed vector, then the per-channel rescale of the map
      return 2 * channels * op.reduced + channels * height * width;
    case 'dense':
      return inputChannels * op.units;
    default:
      return 0;
  }
}
