import type { Training } from '../schemas/task.js';

/**
 * Learning rate at an optimizer step: linear warmup over `warmupEpochs`, then constant or a cosine decay to zero
 * at the last step (EfficientNet's recipe without the staircase).
 */
export function learningRateAt(training: Training, step: number, stepsPerEpoch: number): number {
  const total = training.epochs * stepsPerEpoch;
  const warmup = Math.min(total, Math.round(training.warmupEpochs * stepsPerEpoch));
  if (step < warmup) return (training.learningRate * (step + 1)) / warmup;
  if (training.schedule === 'constant' || total <= warmup) return training.learningRate;
  const progress = (step - warmup) / (total - warmup);
  return 0.5 * training.learningRate * (1 + Math.cos(Math.PI * progress));
}
