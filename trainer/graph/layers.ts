import type { Activation } from '../../scaling/architecture.js';
import type {
  AddPlanOp,
  PlanShape,
  ConvPlanOp,
  DensePlanOp,
  DropoutPlanOp,
  PlanOp,
  SqueezeExcitePlanOp,
} from '../../scaling/layer-plan.js';
import { DType, type Endpoint } from './graph-def.js';
import type { Ops } from './ops.js';

/**
 * One layer-plan op as TensorFlow graph ops, forward and — in training — backward: each emitter returns its output
 * and a gradient rule that, given d(loss)/d(output), emits the gradients of its inputs and of its weights. The
 * rules are the textbook ones for each TF op (Conv2D → Conv2DBackpropInput/Filter, FusedBatchNormV3 →
 * FusedBatchNormGradV3, …) composed per plan op, so the backward pass is as fused as the forward one.
 */

/** Where an op's weights come from: variable reads in training, frozen constants in an export. */
export interface WeightSource {
  /** The op's weights in `planWeights` order. */
  read(op: PlanOp): Endpoint[];
  /** Variable handles in `planWeights` order (training only: batch-norm moving averages are updated in place). */
  handles(op: PlanOp): Endpoint[];
}

export type Mode = { training: false } | { training: true; step: Endpoint; seed: number; batchNormDecay: number };

export interface Gradients {
  /** One per op input (undefined for the network input, whose gradient nobody needs). */
  inputs: (Endpoint | undefined)[];
  /** One per trainable weight of the op, in `planWeights` order. */
  weights: Endpoint[];
}

export interface Emitted {
  output: Endpoint;
  backward?: (dy: Endpoint) => Gradients;
  /** Nodes that must run with the step (batch-norm moving averages). */
  updates: Endpoint[];
}

export interface EmitContext {
  ops: Ops;
  mode: Mode;
  weights: WeightSource;
  epsilon: number;
  /** Position of the op in the plan: the stream of its random masks. */
  index: number;
  /** Shapes (one image) of the op's inputs. */
  inputShapes: PlanShape[];
  /** The op reads the network's image: no input gradient is emitted for it. */
  readsImage: boolean;
}

export function emitOp(op: PlanOp, inputs: Endpoint[], ctx: EmitContext): Emitted {
  const ops = ctx.ops.scope(op.name);
  const scoped = { ...ctx, ops };
  switch (op.kind) {
    case 'conv':
    case 'depthwise':
      return convUnit(op, inputs[0], scoped);
    case 'squeeze_excite':
      return squeezeExcite(op, inputs[0], scoped);
    case 'add':
      return residualAdd(op, inputs, scoped);
    case 'global_avg_pool':
      return pool(inputs[0], scoped);
    case 'dropout':
      return dropout(op, inputs[0], scoped);
    case 'dense':
      return dense(op, inputs[0], scoped);
  }
}

interface Activated {
  output: Endpoint;
  grad: (dy: Endpoint) => Endpoint;
}

/** An activation and its gradient, reusing the forward's tensors. */
export function activate(ops: Ops, fn: Activation | 'sigmoid', x: Endpoint): Activated {
  switch (fn) {
    case 'swish': {
      const s = ops.sigmoid(x);
      const y = ops.mul(x, s);
      // d(x·s)/dx = s·(1 + x − y): four passes, reusing the output.
      return { output: y, grad: (dy) => ops.mul(dy, ops.mul(s, ops.add(ops.sub(x, y), ops.floats([1])))) };
    }
    case 'relu': {
      const y = ops.relu(x);
      return { output: y, grad: (dy) => ops.reluGrad(dy, y) };
    }
    case 'relu6': {
      const y = ops.relu6(x);
      return { output: y, grad: (dy) => ops.relu6Grad(dy, x) };
    }
    case 'sigmoid': {
      const y = ops.sigmoid(x);
      return { output: y, grad: (dy) => ops.sigmoidGrad(y, dy) };
    }
  }
}

function convUnit(op: ConvPlanOp, x: Endpoint, ctx: EmitContext): Emitted {
  const { ops, mode, weights, epsilon } = ctx;
  const [kernel, gamma, beta, movingMean, movingVariance] = weights.read(op);
  const depthwise = op.kind === 'depthwise';
  const z = depthwise ? ops.depthwise(x, kernel, op.stride) : ops.conv2d(x, kernel, op.stride);
  if (!mode.training) {
    const [normalized] = ops.fusedBatchNorm(z, [gamma, beta, movingMean, movingVariance], epsilon, false);
    return { output: op.activation ? activate(ops, op.activation, normalized).output : normalized, updates: [] };
  }
  const empty = ops.floats([], [0]);
  const [normalized, , , ...reserve] = ops.fusedBatchNorm(z, [gamma, beta, empty, empty], epsilon, true);
  const act = op.activation ? activate(ops, op.activation, normalized) : undefined;
  // moving ← moving − (moving − batch)·decay, from the batch mean and biased variance as Keras does.
  const [, , , meanHandle, varianceHandle] = weights.handles(op);
  const decay = ops.floats([mode.batchNormDecay]);
  const updates = [
    ops.assignSub(meanHandle, ops.mul(ops.sub(movingMean, reserve[0]), decay)),
    ops.assignSub(varianceHandle, ops.mul(ops.sub(movingVariance, reserve[1]), decay)),
  ];
  const inputChannels = ctx.inputShapes[0][2];
  const kernelShape = [op.kernel, op.kernel, inputChannels, depthwise ? 1 : op.filters];
  return {
    output: act?.output ?? normalized,
    updates,
    backward: (dy) => {
      const dNormalized = act ? act.grad(dy) : dy;
      const [dz, dGamma, dBeta] = ops.fusedBatchNormGrad(dNormalized, z, gamma, reserve, epsilon);
      const dKernel = depthwise
        ? ops.depthwiseBackpropFilter(x, kernelShape, dz, op.stride)
        : ops.conv2dBackpropFilter(x, kernelShape, dz, op.stride);
      if (ctx.readsImage) return { inputs: [undefined], weights: [dKernel, dGamma, dBeta] };
      const dx = depthwise
        ? ops.depthwiseBackpropInput(ops.shape(x), kernel, dz, op.stride)
        : ops.conv2dBackpropInput(ops.shape(x), kernel, dz, op.stride);
      return { inputs: [dx], weights: [dKernel, dGamma, dBeta] };
    },
  };
}

function squeezeExcite(op: SqueezeExcitePlanOp, x: Endpoint, { ops, mode, weights }: EmitContext): Emitted {
  const [height, width, channels] = op.shape;
  const [reduceKernel, reduceBias, expandKernel, expandBias] = weights.read(op);
  const squeezed = ops.mean(x, [1, 2]);
  // The 1×1 convolutions on a 1×1 map are matrix products: the same weights, one GEMM each.
  const reduceMatrix = ops.reshape(reduceKernel, ops.ints([channels, op.reduced]));
  const expandMatrix = ops.reshape(expandKernel, ops.ints([op.reduced, channels]));
  const reduced = activate(ops, op.activation, ops.biasAdd(ops.matMul(squeezed, reduceMatrix), reduceBias));
  const gate = activate(ops, 'sigmoid', ops.biasAdd(ops.matMul(reduced.output, expandMatrix), expandBias));
  const gate4d = ops.reshape(gate.output, ops.ints([-1, 1, 1, channels]));
  const output = ops.mul(x, gate4d);
  if (!mode.training) return { output, updates: [] };
  return {
    output,
    updates: [],
    backward: (dy) => {
      const dGate = gate.grad(ops.sum(ops.mul(dy, x), [1, 2]));
      const dExpandKernel = ops.reshape(
        ops.matMul(reduced.output, dGate, true),
        ops.ints([1, 1, op.reduced, channels]),
      );
      const dReduced = reduced.grad(ops.matMul(dGate, expandMatrix, false, true));
      const dReduceKernel = ops.reshape(ops.matMul(squeezed, dReduced, true), ops.ints([1, 1, channels, op.reduced]));
      const dSqueezed = ops.matMul(dReduced, reduceMatrix, false, true);
      const dx = ops.add(ops.mul(dy, gate4d), spreadMean(ops, dSqueezed, x, height * width, channels));
      return {
        inputs: [dx],
        weights: [dReduceKernel, ops.biasAddGrad(dReduced), dExpandKernel, ops.biasAddGrad(dGate)],
      };
    },
  };
}

/** The gradient of a mean over height and width: dy/(H·W) broadcast back over the map. */
function spreadMean(ops: Ops, dy: Endpoint, x: Endpoint, area: number, channels: number): Endpoint {
  const scaled = ops.reshape(ops.mul(dy, ops.floats([1 / area])), ops.ints([-1, 1, 1, channels]));
  return ops.broadcastTo(scaled, ops.shape(x));
}

/**
 * A per-sample (drop-connect, `rest` = [1, 1, 1]) or per-unit (dropout) keep mask scaled by 1/keep. Its seed is
 * (training seed + op position, step), so a resumed run draws the masks an uninterrupted one would.
 */
function keepMask(ops: Ops, like: Endpoint, rest: number[], rate: number, ctx: EmitContext): Endpoint {
  if (!ctx.mode.training) throw new Error('masks exist only in training');
  const seed = ops.pack([ops.ints([(ctx.mode.seed * 7919 + ctx.index) | 0], []), ctx.mode.step], DType.int32);
  const keep = 1 - rate;
  const uniform = ops.statelessUniform(ops.batchShape(like, rest), seed);
  return ops.mul(ops.floor(ops.add(uniform, ops.floats([keep]))), ops.floats([1 / keep]));
}

function residualAdd(op: AddPlanOp, [branch, shortcut]: Endpoint[], ctx: EmitContext): Emitted {
  const { ops, mode } = ctx;
  if (!mode.training || op.dropConnect === 0) {
    const output = ops.add(branch, shortcut);
    return { output, updates: [], backward: mode.training ? (dy) => ({ inputs: [dy, dy], weights: [] }) : undefined };
  }
  const mask = keepMask(ops, branch, [1, 1, 1], op.dropConnect, ctx);
  return {
    output: ops.add(ops.mul(branch, mask), shortcut),
    updates: [],
    backward: (dy) => ({ inputs: [ops.mul(dy, mask), dy], weights: [] }),
  };
}

function pool(x: Endpoint, { ops, mode, inputShapes }: EmitContext): Emitted {
  const [height, width, channels] = inputShapes[0];
  const output = ops.mean(x, [1, 2]);
  if (!mode.training) return { output, updates: [] };
  return {
    output,
    updates: [],
    backward: (dy) => ({ inputs: [spreadMean(ops, dy, x, height * width, channels)], weights: [] }),
  };
}

function dropout(op: DropoutPlanOp, x: Endpoint, ctx: EmitContext): Emitted {
  const { ops, mode } = ctx;
  if (!mode.training) return { output: x, updates: [] };
  const mask = keepMask(ops, x, [op.shape[2]], op.rate, ctx);
  return { output: ops.mul(x, mask), updates: [], backward: (dy) => ({ inputs: [ops.mul(dy, mask)], weights: [] }) };
}

function dense(op: DensePlanOp, x: Endpoint, { ops, mode, weights }: EmitContext): Emitted {
  const [kernel, bias] = weights.read(op);
  const output = ops.biasAdd(ops.matMul(x, kernel), bias);
  if (!mode.training) return { output, updates: [] };
  return {
    output,
    updates: [],
    backward: (dy) => ({
      inputs: [ops.matMul(dy, kernel, false, true)],
      weights: [ops.matMul(x, dy, true), ops.biasAddGrad(dy)],
    }),
  };
}
