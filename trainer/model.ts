import type { Architecture } from '../scaling/architecture.js';
import {
  imageInput,
  layerNames,
  layerPlan,
  type AddPlanOp,
  type ConvPlanOp,
  type PlanOp,
  type SqueezeExcitePlanOp,
} from '../scaling/layer-plan.js';
import { customLayers, withNativeSwish } from './layers.js';
import { loadNativeTf, type Tf } from './tf.js';

type SymbolicTensor = import('@tensorflow/tfjs-node').SymbolicTensor;
type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/**
 * Builds the tfjs-layers model of an architecture spec from its layer plan, one function per op kind, with the
 * layer names of `layerNames`; the classifier applies the softmax, so the model outputs class probabilities.
 */
export function buildModel(arch: Architecture, tf: Tf = loadNativeTf(), options: { seed?: number } = {}): LayersModel {
  const plan = layerPlan(arch);
  // With a seed every kernel gets its own derived seed, so the same spec starts from the same weights.
  let layerIndex = 0;
  const init = () =>
    options.seed === undefined
      ? 'glorotUniform'
      : tf.initializers.glorotUniform({ seed: options.seed * 7919 + layerIndex++ });
  const builder: Builder = { tf, arch, init, layers: customLayers(tf) };
  const input = tf.input({ shape: plan.input, name: imageInput });
  const outputs = new Map<string, SymbolicTensor>([[imageInput, input]]);
  const output = (name: string) => {
    const x = outputs.get(name);
    if (!x) throw new Error(`layer plan: no op named '${name}' precedes its reader`);
    return x;
  };
  for (const op of plan.ops) outputs.set(op.name, buildOp(op, op.inputs.map(output), builder));
  return tf.model({ inputs: input, outputs: output(plan.ops[plan.ops.length - 1].name), name: arch.name });
}

interface Builder {
  tf: Tf;
  arch: Architecture;
  /** The kernel initializer of the next kernel created. */
  init: () => 'glorotUniform' | ReturnType<Tf['initializers']['glorotUniform']>;
  layers: ReturnType<typeof customLayers>;
}

function buildOp(op: PlanOp, [x, shortcut]: SymbolicTensor[], b: Builder): SymbolicTensor {
  const { tf, layers } = b;
  switch (op.kind) {
    case 'conv':
    case 'depthwise':
      return convUnit(op, x, b);
    case 'squeeze_excite':
      return squeezeExcite(op, x, b);
    case 'add':
      return residualAdd(op, x, shortcut, b);
    case 'global_avg_pool':
      return new layers.GlobalAveragePool({ name: layerNames(op).layer }).apply(x) as SymbolicTensor;
    case 'dropout':
      return tf.layers.dropout({ rate: op.rate, name: layerNames(op).layer }).apply(x) as SymbolicTensor;
    case 'dense':
      return tf.layers
        .dense({ units: op.units, activation: 'softmax', kernelInitializer: b.init(), name: layerNames(op).layer })
        .apply(x) as SymbolicTensor;
  }
}

function convUnit(op: ConvPlanOp, x: SymbolicTensor, { tf, arch, init, layers }: Builder): SymbolicTensor {
  const names = layerNames(op);
  const shape = { kernelSize: op.kernel, strides: op.stride, padding: 'same' as const, useBias: false };
  const conv =
    op.kind === 'conv'
      ? tf.layers.conv2d({ ...shape, filters: op.filters, kernelInitializer: init(), name: names.conv })
      : tf.layers.depthwiseConv2d({ ...shape, depthwiseInitializer: init(), name: names.conv });
  const { momentum, epsilon } = arch.batchNorm;
  const bn = new layers.BatchNorm({ axis: -1, momentum, epsilon, name: names.bn });
  const y = bn.apply(conv.apply(x)) as SymbolicTensor;
  if (!op.activation || !names.activation) return y;
  const activation = tf.layers.activation({ activation: op.activation, name: names.activation });
  return withNativeSwish(tf, activation).apply(y) as SymbolicTensor;
}

function squeezeExcite(op: SqueezeExcitePlanOp, x: SymbolicTensor, { tf, init, layers }: Builder): SymbolicTensor {
  const names = layerNames(op);
  const channels = op.shape[2];
  let s = new layers.GlobalAveragePool({ name: names.squeeze }).apply(x) as SymbolicTensor;
  s = tf.layers.reshape({ targetShape: [1, 1, channels], name: names.reshape }).apply(s) as SymbolicTensor;
  const reduce = tf.layers.conv2d({
    filters: op.reduced,
    kernelSize: 1,
    activation: op.activation,
    kernelInitializer: init(),
    name: names.reduce,
  });
  s = withNativeSwish(tf, reduce).apply(s) as SymbolicTensor;
  const expand = tf.layers.conv2d({
    filters: channels,
    kernelSize: 1,
    activation: 'sigmoid',
    kernelInitializer: init(),
    name: names.expand,
  });
  s = expand.apply(s) as SymbolicTensor;
  return tf.layers.multiply({ name: names.excite }).apply([x, s]) as SymbolicTensor;
}

function residualAdd(op: AddPlanOp, branch: SymbolicTensor, shortcut: SymbolicTensor, b: Builder): SymbolicTensor {
  const names = layerNames(op);
  const dropped = names.drop
    ? (new b.layers.DropConnect({ rate: op.dropConnect, name: names.drop }).apply(branch) as SymbolicTensor)
    : branch;
  return b.tf.layers.add({ name: names.add }).apply([dropped, shortcut]) as SymbolicTensor;
}

/** Trainable and total (including batch-norm moving statistics) parameter counts of a built model. */
export function countParams(model: LayersModel): { trainable: number; total: number } {
  const size = (ws: { shape: (number | null)[] }[]) =>
    ws.reduce((n, w) => n + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  return { trainable: size(model.trainableWeights), total: size(model.weights) };
}
