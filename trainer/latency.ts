import type { Architecture } from '../scaling/architecture.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Tensor = import('@tensorflow/tfjs-node').Tensor;

const WARMUP = 2;
const RUNS = 10;

/**
 * Milliseconds per image at batch 1 on the device that trained: the median of a few forward passes after a warm-up
 * (the first calls build kernels and allocate). What `selection.maxLatencyMs` compares with; like any timing it
 * holds for this device and its load only.
 */
export async function inferenceLatencyMs(tf: Tf, model: LayersModel, arch: Architecture): Promise<number> {
  const input = tf.zeros([1, arch.resolution, arch.resolution, arch.inputChannels]);
  try {
    const times: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const t0 = performance.now();
      const out = model.predict(input) as Tensor;
      await out.data();
      out.dispose();
      if (i >= WARMUP) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return Number(times[Math.floor(times.length / 2)].toFixed(3));
  } finally {
    input.dispose();
  }
}

/** A noop run's synthetic latency: proportional to its multiply-adds (1 ms per 100 M). */
export function noopLatencyMs(macs: number): number {
  return Number((macs / 1e8).toFixed(3));
}
