import type { Architecture } from './architecture.js';
import {
  imageInput,
  layerPlan,
  planWeights,
  type DropoutPlanOp,
  type LayerPlan,
  type PlanOp,
  type PlanShape,
} from './layer-plan.js';

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

/** An op's output tensor: the op that writes it (none for the image), its size, and the step that reads it last. */
interface Tensor {
  writer: PlanOp | undefined;
  shape: PlanShape;
  bytes: number;
  lastRead: number;
}

/** One layer of the report: a plan op other than dropout, with the tensors it reads and writes. */
interface Step {
  op: Exclude<PlanOp, DropoutPlanOp>;
  inputs: Tensor[];
  output: Tensor;
}

/** The report's layer names, older than the plan's: `stem`, `s{stage}b{repeat}.{part}`, `head`, `pool`, `classifier`. */
function reportName(t: Tensor): string {
  const op = t.writer;
  if (!op) return 'input';
  return op.block ? `s${op.block.stage}b${op.block.repeat}.${op.part}` : op.part;
}

const reportOps: Record<Step['op']['kind'], LayerOp> = {
  conv: 'conv2d',
  depthwise: 'depthwise_conv2d',
  squeeze_excite: 'squeeze_excite',
  add: 'add',
  global_avg_pool: 'global_avg_pool',
  dense: 'dense',
};

/** One pass over the plan; `layers` receives the layer records when the caller wants them. */
function walk(plan: LayerPlan, layers: LayerCost[] | undefined): CostTotals {
  const { image, steps } = stepsOf(plan);
  let trainable = 0;
  let total = 0;
  let macs = 0;
  let live = image.bytes;
  let peak = 0;
  steps.forEach(({ op, inputs, output }, at) => {
    live += output.bytes;
    peak = Math.max(peak, live);
    for (const t of inputs) if (t.lastRead === at) live -= t.bytes;
    if (output.lastRead === at) live -= output.bytes;
    const inputChannels = inputs[0].shape[2];
    const params = paramsOf(op, inputChannels);
    const opMacs = multiplyAdds(op, inputChannels);
    trainable += params.trainable;
    total += params.total;
    macs += opMacs;
    layers?.push({
      name: reportName(output),
      op: reportOps[op.kind],
      inputs: inputs.map(reportName),
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
 * The report's layers with their tensors, connected by the plan's `inputs`, and each tensor's last reader: a
 * tensor is live from the step that writes it to the last step that reads it. Dropout, the identity at
 * inference, writes nothing: its readers read its input.
 */
function stepsOf(plan: LayerPlan): { image: Tensor; steps: Step[] } {
  const image = tensorOf(undefined, plan.input);
  const tensors = new Map<string, Tensor>([[imageInput, image]]);
  const steps: Step[] = [];
  for (const op of plan.ops) {
    const inputs = op.inputs.map((name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`layer plan: no op named '${name}' precedes its reader`);
      t.lastRead = steps.length;
      return t;
    });
    if (op.kind === 'dropout') {
      tensors.set(op.name, inputs[0]);
      continue;
    }
    const output = tensorOf(op, op.shape);
    output.lastRead = steps.length;
    tensors.set(op.name, output);
    steps.push({ op, inputs, output });
  }
  return { image, steps };
}

function tensorOf(writer: PlanOp | undefined, shape: PlanShape): Tensor {
  return { writer, shape, bytes: bytesPerValue * shape[0] * shape[1] * shape[2], lastRead: -1 };
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
