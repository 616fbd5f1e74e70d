import type { Architecture } from '../../scaling/architecture.js';
import {
  imageInput,
  layerPlan,
  planWeights,
  type LayerPlan,
  type PlanOp,
  type PlanShape,
  type PlanWeight,
} from '../../scaling/layer-plan.js';
import type { Training } from '../../schemas/task.js';
import { optimizerSlots } from '../optimizer.js';
import { normalizeRaw } from '../data/pipeline-graph.js';
import { DType, GraphBuilder, type Endpoint } from './graph-def.js';
import { emitOp, type Emitted, type Mode, type WeightSource } from './layers.js';
import { emitOptimizer } from './optimizer.js';
import { Ops } from './ops.js';

/**
 * A candidate compiled into one TensorFlow graph: the weights and optimizer slots as resource variables, and the
 * entry points the engine calls, each one session run —
 * - `train`: forward in training mode, backward, optimizer update and batch-norm moving averages; fetch `loss`;
 * - `evaluate`: forward in inference mode (moving statistics, no dropout); loss, correct count, probabilities;
 * - `weights` / `slots`: read all weights (or the optimizer slots, flattened as the eager engine checkpoints
 *   them) and assign them from fed values — how weights enter from a tfjs model or a checkpoint and leave again.
 */
export interface TrainingProgram {
  savedModel: Uint8Array;
  /** Every weight of the network, in the program's order (layer-plan order). */
  weights: PlanWeight[];
  /** Indices into `weights` of the trainable ones, in the order the slots are flattened. */
  trainable: number[];
  train: {
    images: Endpoint;
    labels: Endpoint;
    /** What an input pipeline feeds instead of `images` and `labels`: uint8 pixels and int32 class ids. */
    raw: RawInput;
    learningRate: Endpoint;
    step: Endpoint;
    loss: Endpoint;
    correct: Endpoint;
  };
  evaluate: {
    images: Endpoint;
    labels: Endpoint;
    raw: RawInput;
    loss: Endpoint;
    correct: Endpoint;
    probabilities: Endpoint;
  };
  weightIo: VariableIo;
  slotIo: VariableIo;
  nodeCount: number;
}

export interface RawInput {
  images: Endpoint;
  classIds: Endpoint;
}

/** Reads (one fetch per value) and assignment (one feed per value, then fetch `assigned`). */
export interface VariableIo {
  read: Endpoint[];
  feeds: Endpoint[];
  assigned: Endpoint;
}

export const programTag = 'effscale-train';

/** Key of a weight in the plan: its layer and name, as tfjs-layers names its variables. */
export const weightKey = (w: PlanWeight): string => `${w.layer}/${w.weight}`;

export interface Network {
  plan: LayerPlan;
  /** The plan's weights, grouped by op. */
  opWeights: Map<PlanOp, number[]>;
  weights: PlanWeight[];
  /** Shape of an op's output (or of the image) by name. */
  shapeOf: (name: string) => PlanShape;
}

export function network(arch: Architecture): Network {
  const plan = layerPlan(arch);
  const shapeOf = shapeTable(plan);
  const weights: PlanWeight[] = [];
  const opWeights = new Map<PlanOp, number[]>();
  for (const op of plan.ops) {
    const own = planWeights(op, shapeOf(op.inputs[0])[2]);
    opWeights.set(
      op,
      own.map((_, k) => weights.length + k),
    );
    weights.push(...own);
  }
  return { plan, opWeights, weights, shapeOf };
}

function shapeTable(plan: LayerPlan): (name: string) => PlanShape {
  const shapes = new Map<string, PlanShape>(plan.ops.map((op) => [op.name, op.shape]));
  return (name) => shapes.get(name) ?? plan.input;
}

export interface Pass {
  logits: Endpoint;
  updates: Endpoint[];
  /** Emits the backward pass from d(loss)/d(logits); returns the gradient of each weight index. */
  backward(dLogits: Endpoint): Map<number, Endpoint>;
}

/** The network's forward pass (and, in training, the backward pass it records) on `images`. */
export function emitPass(
  ops: Ops,
  net: Network,
  arch: Architecture,
  mode: Mode,
  source: WeightSource,
  images: Endpoint,
): Pass {
  const outputs = new Map<string, Endpoint>([[imageInput, images]]);
  const tape: { op: PlanOp; backward: NonNullable<Emitted['backward']> }[] = [];
  const updates: Endpoint[] = [];
  net.plan.ops.forEach((op, index) => {
    const inputs = op.inputs.map((name) => outputs.get(name) ?? missing(name));
    const emitted = emitOp(op, inputs, {
      ops,
      mode,
      weights: source,
      epsilon: arch.batchNorm.epsilon,
      index,
      inputShapes: op.inputs.map(net.shapeOf),
      readsImage: op.inputs.includes(imageInput),
    });
    outputs.set(op.name, emitted.output);
    updates.push(...emitted.updates);
    if (emitted.backward) tape.push({ op, backward: emitted.backward });
  });
  const last = net.plan.ops[net.plan.ops.length - 1];
  return {
    logits: outputs.get(last.name) ?? missing(last.name),
    updates,
    backward(dLogits) {
      const pending = new Map<string, Endpoint[]>([[last.name, [dLogits]]]);
      const gradients = new Map<number, Endpoint>();
      for (const { op, backward } of [...tape].reverse()) {
        const incoming = pending.get(op.name);
        if (!incoming) continue;
        // A tensor read by two ops (a block input feeding its residual add) gets the sum of both gradients.
        const result = backward(ops.addN(incoming));
        op.inputs.forEach((name, k) => {
          const g = result.inputs[k];
          if (g && name !== imageInput) pending.set(name, [...(pending.get(name) ?? []), g]);
        });
        const trainable = (net.opWeights.get(op) ?? []).filter((i) => net.weights[i].trainable);
        trainable.forEach((i, k) => gradients.set(i, result.weights[k]));
      }
      return gradients;
    },
  };
}

function missing(name: string): never {
  throw new Error(`layer plan: no op named '${name}' precedes its reader`);
}

/** Compiles the training program of `arch` under the optimizer and regularization settings of `training`. */
export function compileTrainingProgram(
  arch: Architecture,
  training: Pick<Training, 'optimizer' | 'momentum' | 'labelSmoothing' | 'seed'>,
): TrainingProgram {
  const graph = new GraphBuilder();
  const ops = new Ops(graph);
  const net = network(arch);
  const handles = net.weights.map((w) => ops.scope('weights').variable(weightKey(w), w.shape));
  const reads = handles.map((h) => ops.scope('weights').read(h));
  const source: WeightSource = {
    read: (op) => (net.opWeights.get(op) ?? []).map((i) => reads[i]),
    handles: (op) => (net.opWeights.get(op) ?? []).map((i) => handles[i]),
  };
  const trainable = net.weights.flatMap((w, i) => (w.trainable ? [i] : []));
  const slotCount = optimizerSlots[training.optimizer];
  const slotHandles = trainable.map((i) =>
    Array.from({ length: slotCount }, (_, s) =>
      ops.scope(`slots/${s}`).variable(weightKey(net.weights[i]), net.weights[i].shape),
    ),
  );

  const [height, width, channels] = net.plan.input;
  const feeds = ops.scope('feed');
  const raw = {
    images: feeds.placeholder('raw_images', DType.uint8, [-1, height, width, channels]),
    classIds: feeds.placeholder('class_ids', DType.int32, [-1]),
  };
  const images = feeds.placeholderWithDefault('images', normalizeRaw(feeds, raw.images), DType.float, [
    -1,
    height,
    width,
    channels,
  ]);
  const labels = feeds.placeholderWithDefault('labels', feeds.oneHot(raw.classIds, arch.classes), DType.float, [
    -1,
    arch.classes,
  ]);
  const learningRate = feeds.placeholder('learning_rate', DType.float, []);
  const step = feeds.placeholder('step', DType.int32, []);

  const decay = 1 - arch.batchNorm.momentum;
  const trainOps = ops.scope('train');
  const pass = emitPass(
    trainOps,
    net,
    arch,
    { training: true, step, seed: training.seed, batchNormDecay: decay },
    source,
    images,
  );
  const target = smoothLabels(trainOps, labels, arch.classes, training.labelSmoothing);
  const [losses, dLogitsSum] = trainOps.softmaxCrossEntropy(pass.logits, target);
  const batch = trainOps.cast(trainOps.batchShape(images, []), DType.int32, DType.float);
  const gradients = pass.backward(trainOps.div(dLogitsSum, batch));
  const applied = emitOptimizer(
    trainOps,
    training,
    trainable.map((i, k) => ({
      handle: handles[i],
      slots: slotHandles[k],
      gradient: gradients.get(i) ?? missing(weightKey(net.weights[i])),
    })),
    learningRate,
    step,
  );
  const trainLoss = trainOps.identity(trainOps.mean(losses, [0]), [...applied, ...pass.updates], 'loss');
  const trainCorrect = trainOps.correctCount(pass.logits, labels);

  const evalOps = ops.scope('evaluate');
  const inference = emitPass(evalOps, net, arch, { training: false }, source, images);
  const [evalLosses] = evalOps.softmaxCrossEntropy(inference.logits, labels);

  const weightIo = variableIo(
    ops.scope('weight_io'),
    handles,
    net.weights.map((w) => w.shape),
  );
  const slotIo = flatSlotIo(
    ops.scope('slot_io'),
    slotHandles,
    trainable.map((i) => net.weights[i].shape),
  );

  const train = { images, labels, raw, learningRate, step, loss: trainLoss, correct: trainCorrect };
  const evaluate = {
    images,
    labels,
    raw,
    loss: evalOps.mean(evalLosses, [0]),
    correct: evalOps.correctCount(inference.logits, labels),
    probabilities: evalOps.softmax(inference.logits),
  };
  const savedModel = graph.savedModel([programTag], {
    train_step: {
      inputs: {
        images: { endpoint: images, dtype: DType.float, shape: [-1, height, width, channels] },
        labels: { endpoint: labels, dtype: DType.float, shape: [-1, arch.classes] },
        learning_rate: { endpoint: learningRate, dtype: DType.float, shape: [] },
        step: { endpoint: step, dtype: DType.int32, shape: [] },
      },
      outputs: {
        loss: { endpoint: trainLoss, dtype: DType.float, shape: [] },
        correct: { endpoint: trainCorrect, dtype: DType.float, shape: [] },
      },
    },
    predict: {
      inputs: { images: { endpoint: images, dtype: DType.float, shape: [-1, height, width, channels] } },
      outputs: { probabilities: { endpoint: evaluate.probabilities, dtype: DType.float, shape: [-1, arch.classes] } },
    },
  });
  return { savedModel, weights: net.weights, trainable, train, evaluate, weightIo, slotIo, nodeCount: graph.nodeCount };
}

function smoothLabels(ops: Ops, labels: Endpoint, classes: number, smoothing: number): Endpoint {
  if (smoothing === 0) return labels;
  return ops.add(ops.mul(labels, ops.floats([1 - smoothing])), ops.floats([smoothing / classes]));
}

function variableIo(ops: Ops, handles: Endpoint[], shapes: number[][]): VariableIo {
  const feeds = handles.map((_, i) => ops.placeholder(`value_${i}`, DType.float, shapes[i]));
  const assigns = handles.map((h, i) => ops.assign(h, feeds[i]));
  return { read: handles.map((h) => ops.read(h)), feeds, assigned: ops.identity(ops.floats([0]), assigns, 'assigned') };
}

/** Slot k of every trainable weight as one flat vector: the layout of the eager engine's checkpoints. */
function flatSlotIo(ops: Ops, slotHandles: Endpoint[][], shapes: number[][]): VariableIo {
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const slotCount = slotHandles[0]?.length ?? 0;
  const read: Endpoint[] = [];
  const feeds: Endpoint[] = [];
  const assigns: Endpoint[] = [];
  for (let s = 0; s < slotCount; s++) {
    read.push(ops.concat(slotHandles.map((h) => ops.reshape(ops.read(h[s]), ops.ints([-1])))));
    const feed = ops.placeholder(`slot_${s}`, DType.float, [total]);
    feeds.push(feed);
    ops.splitV(feed, sizes).forEach((piece, i) => {
      assigns.push(ops.assign(slotHandles[i][s], ops.reshape(piece, ops.ints(shapes[i]))));
    });
  }
  return { read, feeds, assigned: ops.identity(ops.floats([0]), assigns, 'assigned') };
}
