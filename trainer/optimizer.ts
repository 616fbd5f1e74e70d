import type { Training } from '../schemas/task.js';
import type { Tf } from './tf.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;
type Variable = import('@tensorflow/tfjs-node').Variable;
type NamedTensor = { name: string; tensor: Tensor };

/**
 * One optimizer's arithmetic on the flattened gradient of every variable: returns the flat step to add to the
 * weights and the new slot values. The formulas are tfjs' own (Adam, momentum SGD, RMSProp), so a flat update
 * equals tfjs' per-variable one element for element.
 */
interface UpdateRule {
  slots: number;
  step(tf: Tf, gradient: Tensor, slots: Tensor[], lr: number, iteration: number): { delta: Tensor; slots: Tensor[] };
}

const adam = (beta1: number, beta2: number, epsilon: number): UpdateRule => ({
  slots: 2,
  step(tf, g, [m, v], lr, iteration) {
    const t = iteration + 1;
    const newM = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const newV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const mHat = tf.div(newM, 1 - beta1 ** t);
    const vHat = tf.div(newV, 1 - beta2 ** t);
    return { delta: tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), -lr), slots: [newM, newV] };
  },
});

const momentum = (mu: number): UpdateRule => ({
  slots: 1,
  step(tf, g, [accumulation], lr) {
    const next = tf.add(tf.mul(accumulation, mu), g);
    return { delta: tf.mul(next, -lr), slots: [next] };
  },
});

const rmsprop = (decay: number, mu: number, epsilon: number): UpdateRule => ({
  slots: 2,
  step(tf, g, [meanSquare, moments], lr) {
    const newMeanSquare = tf.add(tf.mul(meanSquare, decay), tf.mul(tf.square(g), 1 - decay));
    const newMoments = tf.add(tf.mul(moments, mu), tf.div(tf.mul(g, lr), tf.sqrt(tf.add(newMeanSquare, epsilon))));
    return { delta: tf.neg(newMoments), slots: [newMeanSquare, newMoments] };
  },
});

/**
 * Updates all trainable variables of a model in one pass over a single flat buffer: the gradients are concatenated,
 * the optimizer's arithmetic runs once on the whole buffer, and the step is split back per variable. tfjs'
 * optimizers run ~14 ops per variable, so on small networks the update alone cost more than the forward pass.
 */
export class FlatOptimizer {
  /** Read at every step, so a schedule sets it between steps. */
  learningRate: number;
  private iterations = 0;
  private readonly slots: Variable[];
  /** Steps taken (restored with a checkpoint's optimizer state). */
  get step(): number {
    return this.iterations;
  }
  private readonly sizes: number[];

  constructor(
    private readonly tf: Tf,
    private readonly rule: UpdateRule,
    private readonly variables: Variable[],
    learningRate: number,
  ) {
    this.learningRate = learningRate;
    this.sizes = variables.map((v) => v.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.slots = Array.from({ length: rule.slots }, () => tf.variable(tf.zeros([total]), false));
  }

  /** One update from the gradients of `variables`, in their order. */
  applyGradients(gradients: Tensor[]): void {
    const { tf } = this;
    const flatten = (ts: Tensor[]) => tf.concat(ts.map((t) => (t.rank === 1 ? t : tf.reshape(t, [-1]))));
    tf.tidy(() => {
      const { delta, slots } = this.rule.step(tf, flatten(gradients), this.slots, this.learningRate, this.iterations);
      slots.forEach((value, i) => this.slots[i].assign(value));
      // The weights are flattened too, so the step is one add rather than one per variable.
      const next = tf.add(flatten(this.variables), delta);
      tf.split(next, this.sizes).forEach((piece, i) => {
        const variable = this.variables[i];
        variable.assign(variable.rank === 1 ? piece : tf.reshape(piece, variable.shape));
      });
    });
    this.iterations++;
  }

  /** The step count and copies of the slots, for a checkpoint; the caller disposes them. */
  getWeights(): NamedTensor[] {
    return [
      { name: 'iter', tensor: this.tf.scalar(this.iterations, 'int32') },
      ...this.slots.map((slot, i) => ({ name: `slot${i}`, tensor: slot.clone() })),
    ];
  }

  /** Restores what getWeights returned; refuses slots of another model or optimizer. */
  setWeights(weights: NamedTensor[]): void {
    const [iterations, ...slots] = weights;
    const total = this.sizes.reduce((a, b) => a + b, 0);
    if (!iterations || slots.length !== this.slots.length || slots.some((s) => s.tensor.size !== total)) {
      throw new Error(
        `optimizer state does not match: expected a step count and ${this.slots.length} slot(s) of ${total} values`,
      );
    }
    this.iterations = iterations.tensor.dataSync()[0];
    this.tf.tidy(() => slots.forEach((s, i) => this.slots[i].assign(this.tf.reshape(s.tensor, [total]))));
  }

  dispose(): void {
    this.tf.dispose(this.slots);
  }
}

/** Hyper-parameters both engines use (tfjs' defaults; `momentum` comes from the training settings). */
export const adamDefaults = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;
export const rmspropDefaults = { decay: 0.9, epsilon: 1e-3 } as const;

/** Slot variables per weight: what a checkpoint holds for each optimizer. */
export const optimizerSlots: Record<Training['optimizer'], number> = { adam: 2, sgd: 1, rmsprop: 2 };

/** The optimizer of the training settings over `variables`. */
export function createOptimizer(tf: Tf, training: Training, variables: Variable[]): FlatOptimizer {
  const lr = training.learningRate;
  const rule =
    training.optimizer === 'sgd'
      ? momentum(training.momentum)
      : training.optimizer === 'rmsprop'
        ? rmsprop(rmspropDefaults.decay, training.momentum, rmspropDefaults.epsilon)
        : adam(adamDefaults.beta1, adamDefaults.beta2, adamDefaults.epsilon);
  return new FlatOptimizer(tf, rule, variables, lr);
}
