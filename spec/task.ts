import { z } from 'zod';

/** The task a candidate is trained and scored on: the data, the metric and how the score is read off. */

export const Dataset = z.discriminatedUnion('format', [
  z
    .object({
      format: z.literal('fashion-mnist'),
      path: z.string().default('/usr/share/datasets/fashion-mnist').describe('folder of the four IDX files'),
    })
    .strict(),
  z
    .object({
      format: z.literal('idx'),
      path: z.string().describe('folder with train-/t10k- images and labels IDX files (gzipped or not)'),
    })
    .strict(),
  z
    .object({
      format: z.literal('image-folder'),
      path: z.string().describe('folder with one sub-folder of PNG/JPEG images per class'),
      valPath: z.string().optional().describe('same layout, for validation; else a split of path'),
    })
    .strict(),
  z
    .object({ format: z.literal('cifar10'), path: z.string().describe('folder of the CIFAR-10 binary batches') })
    .strict(),
]);
export type Dataset = z.infer<typeof Dataset>;

export const Metric = z.enum(['accuracy', 'loss', 'error']);
export type Metric = z.infer<typeof Metric>;

export const ScoreRule = z
  .object({
    reduce: z.enum(['final', 'mean', 'max']).default('final').describe('over the last k epochs'),
    lastK: z.number().int().min(1).default(1),
  })
  .strict();
export type ScoreRule = z.infer<typeof ScoreRule>;

export const Task = z
  .object({
    dataset: Dataset,
    metric: Metric.default('accuracy').describe('validation metric; loss and error are minimized'),
    score: ScoreRule.default({ reduce: 'final', lastK: 1 }),
    validationSplit: z.number().gt(0).lt(1).default(0.1).describe('used when the dataset has no test split'),
    trainLimit: z.number().int().positive().optional().describe('use only the first N training images'),
    valLimit: z.number().int().positive().optional().describe('use only the first N validation images'),
    augment: z
      .object({ flip: z.boolean().default(false), crop: z.number().int().min(0).default(0) })
      .strict()
      .default({ flip: false, crop: 0 }),
  })
  .strict();
export type Task = z.infer<typeof Task>;

export const Training = z
  .object({
    epochs: z.number().int().min(1).default(1),
    batchSize: z.number().int().min(1).max(4096).default(32),
    optimizer: z.enum(['adam', 'sgd', 'rmsprop']).default('adam'),
    learningRate: z.number().gt(0).default(1e-3),
    momentum: z.number().min(0).lt(1).default(0.9).describe('for sgd and rmsprop'),
    warmupEpochs: z.number().min(0).default(0),
    schedule: z.enum(['constant', 'cosine']).default('cosine'),
    labelSmoothing: z.number().min(0).lt(1).default(0),
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type Training = z.infer<typeof Training>;
export type TrainingInput = z.input<typeof Training>;
