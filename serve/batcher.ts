/**
 * Micro-batching: instances from concurrent requests are queued and run through the model together, because one
 * forward pass over B images costs far less than B passes of one. A batch runs as soon as `maxBatchSize`
 * instances wait, or `maxWaitMs` after the first one arrived, whichever comes first.
 */
export interface BatcherOptions {
  maxBatchSize: number;
  maxWaitMs: number;
}

interface Pending<I, O> {
  input: I;
  enqueuedAt: number;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly options: BatcherOptions,
    private readonly runBatch: (inputs: I[]) => Promise<O[]> | O[],
  ) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1)
      throw new RangeError(`maxBatchSize must be an integer ≥ 1, got ${options.maxBatchSize}`);
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${options.maxWaitMs}`);
  }

  /** Resolves with this input's output once its batch has run. */
  submit(input: I): Promise<O> {
    this.inFlight += 1;
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, enqueuedAt: performance.now(), resolve, reject });
      this.schedule();
    }).finally(() => {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Resolves when every submitted input has its answer (graceful shutdown waits on this). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queue.length >= this.options.maxBatchSize || this.options.maxWaitMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(() => void this.flush());
    } else if (!this.timer && this.queue[0]) {
      // Instances that queued up while a batch ran have already waited: the clock starts at the oldest arrival.
      const delay = Math.max(0, this.queue[0].enqueuedAt + this.options.maxWaitMs - performance.now());
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, delay);
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, this.options.maxBatchSize);
    try {
      const outputs = await this.runBatch(batch.map((p) => p.input));
      batch.forEach((p, i) => p.resolve(outputs[i] as O));
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
