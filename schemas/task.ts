import { z } from 'zod';

/** The task a candidate is trained and scored on: the data, the metric and how the score is read off. */

/** What image-file datasets share: how bad files are treated, and the index the plan step builds once. */
const imageFiles = {
  skipCorrupt: z.boolean().default(false).describe('count and skip files that are not images, instead of failing'),
  index: z
    .string()
    .optional()
    .describe(
      'folder of the dataset index (train.index, validation.index); the plan step sets it, else built on start',
    ),
};

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
      path: z.string().describe('folder with one sub-folder per class of JPEG/PNG/GIF/BMP/WebP images, nested allowed'),
      valPath: z.string().optional().describe('same layout, for validation; else a split of path'),
      ...imageFiles,
    })
    .strict(),
  z
    .object({
      format: z.literal('manifest'),
      path: z.string().describe('CSV or TSV file of `path,label` lines (label: a class name)'),
      root: z.string().optional().describe("folder the manifest's paths are relative to; default its own folder"),
      valPath: z.string().optional().describe('manifest of the validation images; else a split of path'),
      valRoot: z.string().optional().describe("folder the validation manifest's paths are relative to"),
      ...imageFiles,
    })
    .strict(),
  z
    .object({
      format: z.literal('tfrecord'),
      path: z.string().describe('training shards of tf.train.Example records: a folder, or a pattern (train-*)'),
      valPath: z.string().describe('validation shards, the same way'),
      imageKey: z.string().default('image/encoded'),
      labelKey: z.string().default('image/class/label').describe('an int64 feature'),
      labelOffset: z
        .number()
        .int()
        .default(0)
        .describe("subtracted from the label: 1 for the ImageNet shards of TensorFlow's scripts (0 is background)"),
      encoding: z
        .enum(['jpeg', 'any'])
        .default('jpeg')
        .describe('jpeg: every image is a JPEG, decoded inside its crop; any: PNG, GIF, BMP and WebP too'),
      shuffleBuffer: z
        .number()
        .int()
        .min(0)
        .default(1024)
        .describe('training records mixed in memory, after the shard order is shuffled (each holds one image)'),
      ...imageFiles,
    })
    .strict(),
  z
    .object({ format: z.literal('cifar10'), path: z.string().describe('folder of the CIFAR-10 binary batches') })
    .strict(),
]);
export type Dataset = z.infer<typeof Dataset>;

const range = (lo: number, hi: number) =>
  z
    .tuple([z.number().gt(0), z.number().gt(0)])
    .refine(([a, b]) => a <= b, 'must be [min, max] with min ≤ max')
    .default([lo, hi]);

/**
 * Training augmentation and evaluation crop. Image files follow the EfficientNet recipe: a random-resized crop
 * (decoded only inside the crop window for JPEG), RandAugment if asked, and a flip for training, a center crop of
 * `cropPct` of the short side for evaluation (and for training without randomResizedCrop); IDX and CIFAR arrays
 * take a flip and a shift.
 */
export const Augment = z
  .object({
    flip: z.boolean().default(false).describe('random left-right flip'),
    crop: z.number().int().min(0).default(0).describe('random shift of up to N pixels (IDX, CIFAR)'),
    randomResizedCrop: z
      .object({
        area: range(0.08, 1).describe('fraction of the image area a crop covers'),
        aspect: range(3 / 4, 4 / 3).describe('width / height of a crop'),
      })
      .strict()
      .optional()
      .describe('image files: Inception-style crop, then resize to the resolution'),
    randAugment: z
      .object({
        n: z.number().int().min(1).max(10).default(2).describe('ops applied to each image, one after another'),
        magnitude: z.number().min(0).max(30).default(9).describe('strength of every op, 0–30 (EfficientNet scale)'),
      })
      .strict()
      .optional()
      .describe('image files: RandAugment(n, magnitude) on the resized training image, before the flip'),
    cropPct: z.number().gt(0).max(1).default(0.875).describe('image files: center crop side / short side'),
    interpolation: z.enum(['bilinear', 'bicubic']).default('bilinear').describe('image files: resize method'),
  })
  .strict();
export type Augment = z.infer<typeof Augment>;

/** How image files are read: in TensorFlow's threads, ahead of the step. */
export const InputPipeline = z
  .object({
    threads: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("decode threads; default the CPUs the process may use (the pod's CPU limit)"),
    prefetch: z.number().int().min(1).default(2).describe('batches prepared ahead of the training step'),
  })
  .strict();
export type InputPipeline = z.infer<typeof InputPipeline>;

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
    augment: Augment.default(Augment.parse({})),
    input: InputPipeline.default(InputPipeline.parse({})),
  })
  .strict()
  .superRefine((task, ctx) => {
    const files = isImageFiles(task.dataset);
    if (files && task.augment.crop > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['augment', 'crop'],
        message: 'a pixel shift applies to IDX and CIFAR arrays; image files use augment.randomResizedCrop',
      });
    for (const key of ['randomResizedCrop', 'randAugment'] as const) {
      if (!files && task.augment[key])
        ctx.addIssue({
          code: 'custom',
          path: ['augment', key],
          message: 'applies to image files (image-folder, manifest, tfrecord), not to IDX or CIFAR arrays',
        });
    }
  });
export type Task = z.infer<typeof Task>;
export type TaskInput = z.input<typeof Task>;

/** Datasets of encoded images, which the TensorFlow input pipeline decodes (IDX and CIFAR are arrays read in JS). */
export type ImageFilesDataset = Extract<Dataset, { format: 'image-folder' | 'manifest' | 'tfrecord' }>;

export function isImageFiles(dataset: Dataset): dataset is ImageFilesDataset {
  return dataset.format === 'image-folder' || dataset.format === 'manifest' || dataset.format === 'tfrecord';
}

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
