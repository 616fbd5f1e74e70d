import { z } from 'zod';

/**
 * The architecture spec: a baseline (or scaled) convolutional network described the way the EfficientNet
 * reference builders describe it — a stem, ordered stages of identical layers, a head. Every other part of
 * effscale (cost model, scaling, trainer, registry) reads this one schema.
 */

export const Activation = z.enum(['swish', 'relu', 'relu6']);
export type Activation = z.infer<typeof Activation>;

export const StageOp = z.enum(['conv', 'fused_mbconv', 'mbconv']);
export type StageOp = z.infer<typeof StageOp>;

export const Stage = z
  .object({
    op: StageOp,
    repeats: z.number().int().min(1).describe('layers in the stage (the depth unit)'),
    kernel: z.number().int().min(1).max(11).describe('k for the k×k (depthwise) convolution'),
    stride: z.number().int().min(1).max(4).describe('stride of the first layer; later layers use 1'),
    expandRatio: z.number().min(1).default(1).describe('expansion of the inverted bottleneck (MBConv family)'),
    inputFilters: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('filters the first layer expands from, when it differs from the incoming channels (block-string i)'),
    filters: z.number().int().positive().describe('output filters of every layer of the stage'),
    seRatio: z.number().min(0).max(1).default(0).describe('squeeze-excite ratio of the block input filters'),
    skip: z.boolean().default(true).describe('residual add where stride is 1 and input equals output filters'),
  })
  .strict();
export type Stage = z.infer<typeof Stage>;

export const Rounding = z
  .object({
    divisor: z.number().int().min(1).default(8).describe('channel counts are rounded to a multiple of this'),
    minFraction: z
      .number()
      .min(0)
      .max(1)
      .default(0.9)
      .describe('never round a channel count below this fraction of its exact value (0 disables the rule)'),
    resolutionMultiple: z.number().int().min(1).default(1).describe('input resolution is rounded to this'),
  })
  .strict();
export type Rounding = z.infer<typeof Rounding>;

export const Architecture = z
  .object({
    name: z.string().min(1).default('custom'),
    resolution: z.number().int().min(8).max(4096).describe('input height = width, in pixels'),
    inputChannels: z.number().int().min(1).default(3),
    stem: z
      .object({
        filters: z.number().int().positive(),
        kernel: z.number().int().min(1).max(11).default(3),
        stride: z.number().int().min(1).max(4).default(2),
      })
      .strict(),
    stages: z.array(Stage).min(1),
    head: z.object({ filters: z.number().int().min(0).describe('1×1 head conv filters; 0 = no head conv') }).strict(),
    classes: z.number().int().min(2),
    dropout: z.number().min(0).lt(1).default(0.2),
    dropConnect: z.number().min(0).lt(1).default(0.2).describe('drop-connect rate of the last block'),
    activation: Activation.default('swish'),
    batchNorm: z
      .object({ momentum: z.number().gt(0).lt(1).default(0.99), epsilon: z.number().gt(0).default(1e-3) })
      .strict()
      .default({ momentum: 0.99, epsilon: 1e-3 }),
    rounding: Rounding.default({ divisor: 8, minFraction: 0.9, resolutionMultiple: 1 }),
  })
  .strict();
export type Architecture = z.infer<typeof Architecture>;
/** What a user may write: defaults not yet applied. */
export type ArchitectureInput = z.input<typeof Architecture>;
