/**
 * Dynamic batching: instances of concurrent requests run through the model together, because one forward pass
 * over B images costs far less than B passes of one. The model runs on the server's thread (a session run is
 * synchronous), so a batch starts the moment the previous one returns, with whatever arrived meanwhile: no
 * fixed wait, unless `maxWaitMs` asks batches to fill up for throughput. The queue is bounded (a request that
 * would pass `maxQueue` is refused at once), every request carries a deadline, and work whose client has gone
 * is dropped before it runs.
 */
export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
}

/** The queue is full: answer 503 and let the client retry after `retryAfter` seconds. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  readonly retryAfter = 1;
}

/** The request's deadline passed before its instances ran. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/** The client went away before its instances ran (nobody reads this, but the request must settle). */
export class DroppedError extends Error {
  override name = 'DroppedError';
}

export type DropReason = 'deadline' | 'disconnected';

/** One request's instances: settled as a whole, when all ran or the first one failed. */
interface Group<O> {
  results: O[];
  remaining: number;
  settled: boolean;
  deadline: number;
  signal: AbortSignal | undefined;
  resolve(results: O[]): void;
  reject(error: unknown): void;
}

interface Job<I, O> {
  input: I;
  index: number;
  group: Group<O>;
  enqueuedAt: number;
}

/**
 * The batch size `count` instances run as: the first allowed size that holds them (TF Serving's
 * `allowed_batch_sizes`, for accelerators that compile one program per shape), else `count` itself. On a CPU a
 * padded slot costs as much as a real one, so by default nothing is padded (docs/serving.md, Batching).
 */
export function paddedSize(count: number, allowed: readonly number[] | undefined): number {
  return allowed?.find((size) => size >= count) ?? count;
}

export class Batcher<I, O> {
  private queue: Job<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private pending = 0;
  private idleWaiters: (() => void)[] = [];

  /**
   * `run` computes a batch synchronously and returns each input's output, or the error of an input that could
   * not be computed (its request fails, the rest of the batch does not).
   */
  constructor(
    private readonly options: BatcherOptions,
    private readonly run: (inputs: I[]) => (O | Error)[],
    private readonly onDrop: (reason: DropReason, instances: number) => void = () => {},
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1)
      throw new RangeError(`maxBatch must be an integer ≥ 1, got ${options.maxBatch}`);
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be ≥ 0, got ${options.maxWaitMs}`);
  }

  /** Instances waiting for the model. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Queues one request's inputs; resolves with their outputs in order. Throws QueueFullError at once when they do
   * not fit; rejects with DeadlineError when `deadline` (a performance.now() time) passes before they run, and
   * with DroppedError when `signal` aborts first.
   */
  submit(inputs: readonly I[], deadline: number, signal?: AbortSignal): Promise<O[]> {
    if (this.queue.length + inputs.length > this.options.maxQueue)
      throw new QueueFullError(
        `the model's queue holds ${this.queue.length} instances (at most ${this.options.maxQueue}): try again`,
      );
    this.pending += 1;
    const enqueuedAt = performance.now();
    const promise = new Promise<O[]>((resolve, reject) => {
      const group: Group<O> = {
        results: new Array<O>(inputs.length),
        remaining: inputs.length,
        settled: inputs.length === 0,
        deadline,
        signal,
        resolve,
        reject,
      };
      if (inputs.length === 0) resolve([]);
      inputs.forEach((input, index) => this.queue.push({ input, index, group, enqueuedAt }));
    });
    this.schedule();
    return promise.finally(() => {
      this.pending -= 1;
      if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Resolves when every submitted request is settled (graceful shutdown waits on this). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.immediate || this.queue.length === 0) return;
    const oldest = this.queue[0]?.enqueuedAt ?? 0;
    const wait = this.queue.length >= this.options.maxBatch ? 0 : oldest + this.options.maxWaitMs - performance.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.flushSoon();
      }, wait);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushSoon();
  }

  /**
   * The batch runs from the check phase: requests whose bytes arrived while the model ran are parsed (poll phase)
   * and queued first, so they join it.
   */
  private flushSoon(): void {
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      this.flush();
      this.schedule();
    });
  }

  private flush(): void {
    const batch: Job<I, O>[] = [];
    const now = performance.now();
    while (batch.length < this.options.maxBatch && this.queue.length > 0) {
      const job = this.queue.shift() as Job<I, O>;
      const { group } = job;
      if (group.settled) continue;
      if (group.signal?.aborted) {
        this.onDrop('disconnected', group.remaining);
        this.settle(group, new DroppedError('the client went away before its instances ran'));
      } else if (now > group.deadline) {
        this.onDrop('deadline', group.remaining);
        const waited = Math.round(now - job.enqueuedAt);
        this.settle(group, new DeadlineError(`the request's deadline passed after ${waited} ms in the queue`));
      } else batch.push(job);
    }
    if (batch.length === 0) return;
    let outputs: (O | Error)[];
    try {
      outputs = this.run(batch.map((job) => job.input));
    } catch (error) {
      for (const job of batch) this.settle(job.group, error);
      return;
    }
    batch.forEach((job, i) => {
      const output = outputs[i] as O | Error;
      if (job.group.settled) return;
      if (output instanceof Error) return this.settle(job.group, output);
      job.group.results[job.index] = output;
      job.group.remaining -= 1;
      if (job.group.remaining === 0) this.settle(job.group);
    });
  }

  /** Settles a request: with its results, or with `error` (its instances still queued are skipped). */
  private settle(group: Group<O>, error?: unknown): void {
    if (group.settled) return;
    group.settled = true;
    if (error === undefined) group.resolve(group.results);
    else group.reject(error);
  }
}
