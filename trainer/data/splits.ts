import type { Architecture } from '../../scaling/architecture.js';
import type { Task } from '../../schemas/task.js';
import type { Tf } from '../tf.js';
import type { Batch } from './batches.js';
import type { ImageIndex } from './image-index.js';
import type { BatchForm } from './pipeline.js';
import type { ImageSource } from './source.js';
import type { ShardIndex } from './tfrecord-index.js';

/*
 * A dataset's splits, and what the training loop reads from one: batches with the time it waited for each.
 */

/** One batch and how long the training loop waited for it: the input's share of the wall time. */
export interface TimedBatch {
  batch: Batch;
  waitSeconds: number;
}

export interface EpochOptions {
  /** Shuffle with this (seed, epoch) pair and augment; without it (validation) files are read in order. */
  shuffle?: { seed: number; epoch: number };
  /** Skip the first batches (a resumed epoch): the rest are the batches an uninterrupted epoch would draw. */
  startBatch?: number;
}

/** One split as the training loop reads it, whatever the dataset's format. */
export interface SplitInput {
  readonly count: number;
  /** Images left out of the last pass because they could not be decoded (a dataset with skipCorrupt). */
  skippedInLastPass(): number;
  epoch(options: EpochOptions): AsyncGenerator<TimedBatch>;
  dispose(): void;
}

/**
 * A split of image files: entries of a dataset index. Held as positions into the index (4 B an image), so a
 * split or a limit of ImageNet costs megabytes, not a JavaScript object per image.
 */
export interface FileSplit {
  kind: 'files';
  index: ImageIndex;
  positions: Int32Array;
  description: string;
}

/** A split of an array dataset (IDX, CIFAR): small images read and batched in JavaScript. */
export interface ArraySplit {
  kind: 'arrays';
  source: ImageSource;
  description: string;
}

/** A split of TFRecord shards: `count` records per pass (all of them, or a limit). */
export interface RecordSplit {
  kind: 'records';
  shards: ShardIndex;
  count: number;
  description: string;
}

export type Split = FileSplit | ArraySplit | RecordSplit;

export function splitCount(split: Split): number {
  if (split.kind === 'files') return split.positions.length;
  return split.kind === 'records' ? split.count : split.source.count;
}

export interface InputSettings {
  tf: Tf;
  architecture: Architecture;
  task: Task;
  batchSize: number;
  form: BatchForm;
}
