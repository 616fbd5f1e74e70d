import { Batcher, paddedSize } from './batcher.js';
import { HttpError } from './errors.js';
import type { Instance } from './instances.js';
import type { ServeMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import type { ServeOptions } from './options.js';

/**
 * Runs instances of any number of concurrent requests (REST or gRPC) through the served model's graph: admits a
 * request against the process's pixel budget and the queue bound, batches it with others, and decodes each
 * instance into its slot of the batch only when that batch runs.
 */
export class Predictor {
  private served: ServedModel | undefined;
  private readonly batcher: Batcher<Instance, Float32Array>;
  /** Pixel values of the admitted requests' instances (as sent): bounded by maxProcessPixels. */
  private pixelsInFlight = 0;

  constructor(
    private readonly options: ServeOptions,
    private readonly metrics: ServeMetrics,
  ) {
    this.batcher = new Batcher(
      options,
      (instances) => this.runBatch(instances),
      (reason, n) => metrics.recordDropped(reason, n),
    );
  }

  setModel(served: ServedModel): void {
    this.served = served;
  }

  get model(): ServedModel | undefined {
    return this.served;
  }

  /**
   * Each instance's probabilities. Refuses at once (503) a request the budget or the queue cannot take; rejects
   * when `deadline` (a performance.now() time) passes before it runs, or `signal` aborts first.
   */
  async predict(instances: Instance[], deadline: number, signal?: AbortSignal): Promise<Float32Array[]> {
    if (!this.served) throw new HttpError(503, 'the model is still loading');
    const pixels = instances.reduce((sum, m) => sum + m.pixels, 0);
    if (this.pixelsInFlight + pixels > this.options.maxProcessPixels)
      throw new HttpError(503, `the server holds ${this.pixelsInFlight} pixel values in flight: try again`, 1);
    const done = this.batcher.submit(instances, deadline, signal);
    this.pixelsInFlight += pixels;
    try {
      return await done;
    } finally {
      this.pixelsInFlight -= pixels;
    }
  }

  /** Resolves once every admitted request is settled. */
  idle(): Promise<void> {
    return this.batcher.idle();
  }

  /** One session run (padded to an allowed size, if any), each instance decoded straight into its slot. */
  private runBatch(instances: Instance[]): (Float32Array | Error)[] {
    const served = this.served;
    if (!served) throw new HttpError(503, 'the model is not loaded');
    const { engine } = served;
    const size = paddedSize(instances.length, this.options.allowedBatchSizes);
    const batch = new Float32Array(size * engine.slot);
    const failed = instances.map((instance, i) => {
      try {
        instance.write(batch, i * engine.slot, engine);
        return undefined;
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    });
    if (failed.every(Boolean)) return failed as Error[];
    this.metrics.recordBatch(instances.length, size);
    const probabilities = engine.predict(batch, size);
    const k = engine.classes;
    return instances.map((_, i) => failed[i] ?? probabilities.subarray(i * k, (i + 1) * k));
  }
}
