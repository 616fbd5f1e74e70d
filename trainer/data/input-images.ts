import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Task } from '../../schemas/task.js';
import { isImageFiles } from '../../schemas/task.js';
import type { Tf } from '../tf.js';
import { batchCount, type Batch } from './batches.js';
import { ImagePipeline, type BatchForm, type PipelineBatch } from './pipeline.js';
import type { CropRule } from './pipeline-decode.js';
import type { SourceOptions } from './pipeline-sources.js';
import { permutation, seededRandom } from './random.js';
import { DatasetError } from './source.js';
import type { EpochOptions, FileSplit, InputSettings, RecordSplit, SplitInput, TimedBatch } from './splits.js';
import { shardPaths } from './tfrecord-index.js';

/*
 * Image splits (files, TFRecord shards) read through the TensorFlow input pipeline: each pass is started from
 * the split's order for the epoch, and each batch is timed as the wait it costs the training loop.
 */

/** The pipeline of an image split: the EfficientNet crops for training (`augment`), the center crop else. */
function imagePipeline(settings: InputSettings, augment: boolean, decode: 'jpeg' | 'any', source: SourceOptions) {
  const { tf, architecture, task, batchSize } = settings;
  const crop: CropRule =
    augment && task.augment.randomResizedCrop
      ? { kind: 'random-resized', ...task.augment.randomResizedCrop }
      : { kind: 'center', fraction: task.augment.cropPct };
  return ImagePipeline.create(tf, {
    resolution: architecture.resolution,
    channels: architecture.inputChannels === 1 ? 1 : 3,
    classes: architecture.classes,
    batchSize,
    threads: task.input.threads ?? inputThreads(),
    prefetch: task.input.prefetch,
    decode,
    crop,
    flip: augment && task.augment.flip,
    randAugment: augment ? task.augment.randAugment : undefined,
    interpolation: task.augment.interpolation,
    source,
    skipErrors: isImageFiles(task.dataset) && task.dataset.skipCorrupt,
  });
}

const seconds = (since: number) => (performance.now() - since) / 1000;

/** The seeds of an epoch's draws: from (seed, epoch) when training, none for evaluation. */
function epochKeys(shuffle: EpochOptions['shuffle']): () => number {
  if (!shuffle) return () => 0;
  const random = seededRandom(shuffle.seed, shuffle.epoch, 0xc809);
  return () => (random() * 2 ** 31) | 0;
}

/**
 * The batches of a started pass, from batch `first` to `end`, each timed as the training loop's wait (the first
 * one also carries `startSeconds`, the time it took to start the pass). `next(b)` fetches batch b; an undefined
 * batch ends the pass early (skipped corrupt images). Returns how many images were read.
 */
async function* timedBatches(
  next: (b: number) => PipelineBatch | undefined,
  form: BatchForm,
  range: { first: number; end: number; startSeconds: number },
): AsyncGenerator<TimedBatch, number> {
  let waited = range.startSeconds;
  let read = 0;
  for (let b = range.first; b < range.end; b++) {
    const t0 = performance.now();
    const got = next(b);
    const waitSeconds = waited + (performance.now() - t0) / 1000;
    waited = 0;
    if (!got) break;
    read += got.size;
    yield { batch: engineBatch(form, got), waitSeconds };
  }
  return read;
}

/** A batch as the engine takes it, from what the pipeline fetched. */
function engineBatch(form: BatchForm, got: PipelineBatch): Batch {
  return form === 'raw'
    ? { form, xs: got.images, ys: got.labels, size: got.size }
    : { form, xs: got.images, ys: got.labels, labels: got.classIds ?? new Int32Array(0), size: got.size };
}

export function filesInput(split: FileSplit, settings: InputSettings, augment: boolean): SplitInput {
  const { tf, batchSize, form } = settings;
  const { index, positions } = split;
  const allJpeg = Object.keys(index.formatCounts()).every((f) => f === 'jpeg');
  const pipeline = imagePipeline(settings, augment, allJpeg ? 'jpeg' : 'any', { kind: 'files' });
  const count = positions.length;
  let skipped = 0;
  return {
    count,
    async *epoch({ shuffle, startBatch = 0 }) {
      const t0 = performance.now();
      const order = shuffle ? permutation(count, seededRandom(shuffle.seed, shuffle.epoch)) : undefined;
      const first = startBatch * batchSize;
      const n = Math.max(0, count - first);
      const paths = new Array<Uint8Array>(n);
      const labels = new Int32Array(n);
      // Each image's draws are keyed by (seed, epoch, its position in the epoch): a resumed epoch repeats them.
      const seeds = new Int32Array(2 * n);
      const epochSeed = epochKeys(shuffle)();
      for (let k = 0; k < n; k++) {
        const entry = positions[order ? order[first + k] : first + k];
        paths[k] = index.pathBytes(entry);
        labels[k] = index.label(entry);
        seeds[2 * k] = epochSeed;
        seeds[2 * k + 1] = first + k;
      }
      pipeline.start({ kind: 'files', paths, labels, seeds });
      // Only a failed batch needs its files, to name the bad one.
      const next = (b: number) =>
        nextOrNamedError(tf, pipeline, form, () =>
          paths.slice((b - startBatch) * batchSize, (b - startBatch + 1) * batchSize),
        );
      const range = { first: startBatch, end: batchCount({ count }, batchSize), startSeconds: seconds(t0) };
      skipped = n - (yield* timedBatches(next, form, range));
    },
    skippedInLastPass: () => skipped,
    dispose: () => pipeline.dispose(),
  };
}

/**
 * TFRecord shards: each pass reads the shards in an order shuffled by (seed, epoch) and mixes their records through
 * the dataset's shuffle buffer, seeded the same way, so a pass is the same in every run; a resumed epoch skips the
 * records of its finished batches. Records cannot be told apart by name, so a bad one fails with TensorFlow's
 * reason (or is skipped with skipCorrupt).
 */
export function recordsInput(split: RecordSplit, settings: InputSettings, augment: boolean): SplitInput {
  const { task, batchSize, form } = settings;
  const dataset = task.dataset as Extract<Task['dataset'], { format: 'tfrecord' }>;
  const pipeline = imagePipeline(settings, augment, dataset.encoding, {
    kind: 'records',
    labelOffset: dataset.labelOffset,
    shuffleBuffer: augment ? dataset.shuffleBuffer : 0,
    imageKey: dataset.imageKey,
    labelKey: dataset.labelKey,
  });
  const shards = shardPaths(split.shards);
  let skipped = 0;
  return {
    count: split.count,
    async *epoch({ shuffle, startBatch = 0 }) {
      const t0 = performance.now();
      const order = shuffle ? permutation(shards.length, seededRandom(shuffle.seed, shuffle.epoch)) : undefined;
      const key = epochKeys(shuffle);
      const encoder = new TextEncoder();
      pipeline.start({
        kind: 'records',
        shards: (order ?? shards.map((_, i) => i)).map((i) => encoder.encode(shards[i])),
        shuffleSeed: key(),
        epochSeed: key(),
        skip: startBatch * batchSize,
        take: split.count,
      });
      const next = () => nextOrRecordError(pipeline, form, split.description);
      const range = { first: startBatch, end: batchCount(split, batchSize), startSeconds: seconds(t0) };
      const read = yield* timedBatches(next, form, range);
      skipped = Math.max(0, split.count - startBatch * batchSize - read);
    },
    skippedInLastPass: () => skipped,
    dispose: () => pipeline.dispose(),
  };
}

function nextOrRecordError(pipeline: ImagePipeline, form: BatchForm, description: string) {
  try {
    return pipeline.next(form);
  } catch (error) {
    throw new DatasetError(
      `${description}: a record cannot be read or decoded: ${tensorFlowReason(error)} (skipCorrupt: true skips such records)`,
    );
  }
}

/** TensorFlow's own words for a failed run, without tfjs-node's preamble. */
function tensorFlowReason(error: unknown): string {
  const first = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return first.replace(/^Session fail to run with error: /, '');
}

/**
 * tf.data reports a file it cannot read or decode without its name; the batch it was in is known, so its files
 * are decoded one by one to name the culprit.
 */
function nextOrNamedError(tf: Tf, pipeline: ImagePipeline, form: BatchForm, batchPaths: () => Uint8Array[]) {
  try {
    return pipeline.next(form);
  } catch (error) {
    const reason = tensorFlowReason(error);
    for (const bytes of batchPaths()) {
      const path = new TextDecoder().decode(bytes);
      const problem = decodeProblem(tf, path);
      if (problem) throw new DatasetError(`${path}: ${problem}: ${reason} (skipCorrupt: true skips such files)`);
    }
    throw new DatasetError(`reading a batch of images failed: ${reason}`);
  }
}

function decodeProblem(tf: Tf, path: string): string | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    return `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  try {
    tf.dispose(tf.node.decodeImage(bytes, 3, 'int32', false));
    return undefined;
  } catch {
    return 'cannot be decoded';
  }
}

/**
 * The CPUs this process may use: the cgroup's CPU quota (a pod's CPU limit) when one is set, else the cores the
 * scheduler gives it. TensorFlow sizes its own pools by the node's cores, which a limited pod cannot have.
 */
export function inputThreads(): number {
  const cores = availableParallelism();
  const quota = cgroupCpuLimit();
  return Math.max(1, Math.min(cores, quota === undefined ? cores : Math.ceil(quota)));
}

function cgroupCpuLimit(): number | undefined {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const v2 = read('/sys/fs/cgroup/cpu.max')?.split(/\s+/);
  if (v2 && v2[0] !== 'max') return Number(v2[0]) / Number(v2[1]);
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
  return quota > 0 && period > 0 ? quota / period : undefined;
}
