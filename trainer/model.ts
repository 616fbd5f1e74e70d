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

/** What each op builder needs: tfjs, the architecture's settings and the seeded kernel initializer. */
interface Builder {
  tf: Tf;
  arch: Architecture;
  init: () => 'glorotUniform' | ReturnType<Tf['initializers']['glorotUniform']>;
}

/**
 * Builds the tfjs-layers model of an architecture spec from its layer plan (scaling/layer-plan.ts), as the
 * EfficientNet reference builders do: the stem, every stage's blocks, the head, dropout and a softmax classifier.
 * Layer names are the plan's (`layerNames`).
 */
export function buildModel(arch: Architecture, tf: Tf = loadNativeTf(), options: { seed?: number } = {}): LayersModel {
  // With a seed every kernel gets its own derived seed, so the same spec starts from the same weights.
  let layerIndex = 0;
  const init = () =>
    options.seed === undefined
      ? ('glorotUniform' as const)
      : tf.initializers.glorotUniform({ seed: options.seed * 7919 + layerIndex++ });
  const builder: Builder = { tf, arch, init };
  const input = tf.input({ shape: [arch.resolution, arch.resolution, arch.inputChannels], name: imageInput });
  const outputs = new Map<string, SymbolicTensor>([[imageInput, input]]);
  let last = input;
  for (const op of layerPlan(arch).ops) {
    last = buildOp(
      builder,
      op,
      op.inputs.map((name) => outputs.get(name) as SymbolicTensor),
    );
    outputs.set(op.name, last);
  }
  return tf.model({ inputs: input, outputs: last, name: arch.name });
}

function buildOp(b: Builder, op: PlanOp, inputs: SymbolicTensor[]): SymbolicTensor {
  const { tf } = b;
  const [x] = inputs;
  switch (op.kind) {
    case 'conv':
    case 'depthwise':
      return convUnit(b, op, x);
    case 'squeeze_excite':
      return squeezeExcite(b, op, x);
    case 'add':
      return residualAdd(b, op, inputs);
    case 'global_avg_pool':
      return new (customLayers(tf).GlobalAveragePool)({ name: layerNames(op).layer }).apply(x) as SymbolicTensor;
    case 'dropout':
      return tf.layers.dropout({ rate: op.rate, name: layerNames(op).layer }).apply(x) as SymbolicTensor;
    case 'dense':
      return tf.layers
        .dense({ units: op.units, activation: 'softmax', kernelInitializer: b.init(), name: layerNames(op).layer })
        .apply(x) as SymbolicTensor;
  }
}

/** Convolution (no bias), batch norm, then the activation when the op has one. */
function convUnit({ tf, arch, init }: Builder, op: ConvPlanOp, x: SymbolicTensor): SymbolicTensor {
  const names = layerNames(op);
  const common = {
    kernelSize: op.kernel,
    strides: op.stride,
    padding: 'same' as const,
    useBias: false,
    name: names.conv,
  };
  const conv =
    op.kind === 'depthwise'
      ? tf.layers.depthwiseConv2d({ ...common, depthwiseInitializer: init() })
      : tf.layers.conv2d({ ...common, filters: op.filters, kernelInitializer: init() });
  const { BatchNorm } = customLayers(tf);
  const bn = new BatchNorm({
    axis: -1,
    momentum: arch.batchNorm.momentum,
    epsilon: arch.batchNorm.epsilon,
    name: names.bn,
  });
  let y = bn.apply(conv.apply(x)) as SymbolicTensor;
  if (op.activation && names.activation) {
    y = withNativeSwish(tf, tf.layers.activation({ activation: op.activation, name: names.activation })).apply(
      y,
    ) as SymbolicTensor;
  }
  return y;
}

function squeezeExcite({ tf, init }: Builder, op: SqueezeExcitePlanOp, x: SymbolicTensor): SymbolicTensor {
  const names = layerNames(op);
  const channels = op.shape[2];
  let s = new (customLayers(tf).GlobalAveragePool)({ name: names.squeeze }).apply(x) as SymbolicTensor;
  s = tf.layers.reshape({ targetShape: [1, 1, channels], name: names.reshape }).apply(s) as SymbolicTensor;
  const reduce = tf.layers.conv2d({
    filters: op.reduced,
    kernelSize: 1,
    activation: op.activation,
    kernelInitializer: init(),
    name: names.reduce,
  });
  s = withNativeSwish(tf, reduce).apply(s) as SymbolicTensor;
  s = tf.layers
    .conv2d({ filters: channels, kernelSize: 1, activation: 'sigmoid', kernelInitializer: init(), name: names.expand })
    .apply(s) as SymbolicTensor;
  return tf.layers.multiply({ name: names.excite }).apply([x, s]) as SymbolicTensor;
}

function residualAdd({ tf }: Builder, op: AddPlanOp, [branch, shortcut]: SymbolicTensor[]): SymbolicTensor {
  const names = layerNames(op);
  let y = branch;
  if (names.drop)
    y = new (customLayers(tf).DropConnect)({ rate: op.dropConnect, name: names.drop }).apply(y) as SymbolicTensor;
  return tf.layers.add({ name: names.add }).apply([y, shortcut]) as SymbolicTensor;
}

/** Trainable and total (including batch-norm moving statistics) parameter counts of a built model. */
export function countParams(model: LayersModel): { trainable: number; total: number } {
  const size = (ws: { shape: (number | null)[] }[]) =>
    ws.reduce((n, w) => n + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  return { trainable: size(model.trainableWeights), total: size(model.weights) };
}
