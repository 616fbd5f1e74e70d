import type { Training } from '../../schemas/task.js';
import { adamDefaults, rmspropDefaults } from '../optimizer.js';
import { DType, type Endpoint } from './graph-def.js';
import type { Ops } from './ops.js';

export interface TrainableVariable {
  handle: Endpoint;
  /** The optimizer's slot variables of this weight (Adam: m, v; SGD: the momentum accumulator; RMSProp: ms, mom). */
  slots: Endpoint[];
  gradient: Endpoint;
}

/**
 * The optimizer step as one fused TensorFlow kernel per weight (ResourceApplyAdam, …Momentum, …RMSProp), the
 * kernels Keras runs, computing tfjs' formulas exactly so both engines train alike and share checkpoints. The
 * learning rate and the step are fed per call, so a schedule needs no graph state.
 */
export function emitOptimizer(
  ops: Ops,
  training: Pick<Training, 'optimizer' | 'momentum'>,
  variables: TrainableVariable[],
  learningRate: Endpoint,
  step: Endpoint,
): Endpoint[] {
  const scope = ops.scope('optimizer');
  switch (training.optimizer) {
    case 'adam': {
      const t = scope.add(scope.cast(step, DType.int32, DType.float), scope.floats([1]));
      const powers = [
        scope.pow(scope.floats([adamDefaults.beta1]), t),
        scope.pow(scope.floats([adamDefaults.beta2]), t),
      ];
      // TensorFlow adds ε to √v, tfjs to √v̂ = √v/√(1−β₂ᵗ): feeding ε·√(1−β₂ᵗ) makes the two updates identical.
      const one = scope.floats([1]);
      const epsilon = scope.mul(scope.floats([adamDefaults.epsilon]), scope.sqrt(scope.sub(one, powers[1])));
      const hyper = [scope.floats([adamDefaults.beta1]), scope.floats([adamDefaults.beta2]), epsilon];
      return variables.map((v) => scope.applyAdam(v.handle, v.slots, powers, learningRate, hyper, v.gradient));
    }
    case 'sgd': {
      const momentum = scope.floats([training.momentum]);
      return variables.map((v) => scope.applyMomentum(v.handle, v.slots[0], learningRate, v.gradient, momentum));
    }
    case 'rmsprop': {
      const hyper = [rmspropDefaults.decay, training.momentum, rmspropDefaults.epsilon].map((h) => scope.floats([h]));
      return variables.map((v) => scope.applyRmsProp(v.handle, v.slots, learningRate, hyper, v.gradient));
    }
  }
}
