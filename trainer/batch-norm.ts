import { nativeOps } from './native-ops.js';
import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type BatchNormArgs = Parameters<Tf['layers']['batchNormalization']>[0];
type BatchNormalization = ReturnType<Tf['layers']['batchNormalization']>;

interface LayerVariable {
  read(): Tensor;
  write(value: Tensor): void;
}

/** A batch-norm moving statistic to move towards the batch's (a kept tensor, disposed once applied). */
interface MovingAverageUpdate {
  moving: LayerVariable;
  batch: Tensor;
  decay: number;
}

const deferredUpdates = new WeakMap<Tf, MovingAverageUpdate[]>();

/**
 * moving ← moving − (moving − batch)·decay, as tfjs-layers and Keras update them (from the biased batch variance),
 * for all statistics at once: one concatenated pass per decay instead of three ops per statistic.
 */
function applyMovingAverages(tf: Tf, updates: MovingAverageUpdate[]): void {
  // A layer called twice in one pass moves its statistics twice, in order: one round per repeat.
  const rounds: MovingAverageUpdate[][] = [];
  const calls = new Map<LayerVariable, number>();
  for (const u of updates) {
    const round = calls.get(u.moving) ?? 0;
    calls.set(u.moving, round + 1);
    (rounds[round] ??= []).push(u);
  }
  tf.tidy(() => {
    for (const round of rounds) {
      for (const decay of new Set(round.map((u) => u.decay))) {
        const group = round.filter((u) => u.decay === decay);
        const current = tf.concat(group.map((u) => u.moving.read()));
        const next = tf.sub(current, tf.mul(tf.sub(current, tf.concat(group.map((u) => u.batch))), decay));
        tf.split(
          next,
          group.map((u) => u.batch.size),
        ).forEach((piece, i) => group[i].moving.write(piece));
      }
    }
  });
  tf.dispose(updates.map((u) => u.batch));
}

/**
 * Runs `fn` (a training forward and backward pass) with the batch-norm moving averages collected instead of
 * applied per layer, then applies them together. Nothing reads the moving statistics during a training pass, so
 * the result is the same as updating them layer by layer.
 */
export function withBatchedMovingAverages<T>(tf: Tf, fn: () => T): T {
  const updates: MovingAverageUpdate[] = [];
  deferredUpdates.set(tf, updates);
  try {
    const result = fn();
    applyMovingAverages(tf, updates);
    return result;
  } catch (error) {
    tf.dispose(updates.map((u) => u.batch));
    throw error;
  } finally {
    deferredUpdates.delete(tf);
  }
}

/** What tfjs-layers keeps private in its BatchNormalization and the fused training path reads. */
interface BatchNormState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: LayerVariable | null;
  beta: LayerVariable | null;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

/** The batch-norm layer class of effscale models (see customLayers in layers.ts). */
export function defineBatchNorm(tf: Tf) {
  const Base = tf.layers.batchNormalization({}).constructor as new (args?: BatchNormArgs) => BatchNormalization;
  /**
   * tfjs-layers' BatchNormalization whose training-mode call is one fused native kernel (and one for its gradient)
   * instead of moments + normalize + their composed gradients, about 60 small ops per layer. Inference and
   * serialization are the base class's: it saves as a plain `BatchNormalization` and loads without this class.
   */
  class NativeBatchNorm extends Base {
    static readonly className = 'BatchNormalization';

    override call(inputs: Tensor | Tensor[], kwargs: { training?: boolean }): Tensor | Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const state = this as unknown as BatchNormState;
      const ops = nativeOps(tf);
      const lastAxis = state.axis === -1 || state.axis === x.rank - 1;
      if (!kwargs.training || !ops || x.rank !== 4 || !lastAxis || !state.gamma || !state.beta) {
        return super.call(inputs, kwargs);
      }
      const { gamma, beta } = state;
      return tf.tidy(() => {
        const { y, mean, variance } = ops.batchNormTraining(x, gamma.read(), beta.read(), state.epsilon);
        const decay = 1 - state.momentum;
        const updates = [
          { moving: state.movingMean, batch: mean, decay },
          { moving: state.movingVariance, batch: variance, decay },
        ];
        const deferred = deferredUpdates.get(tf);
        if (deferred) deferred.push(...updates);
        else applyMovingAverages(tf, updates);
        return y;
      });
    }
  }
  return NativeBatchNorm;
}
