import { z } from 'zod';

/** `execution.local` of a search spec: how the local executor runs the trainer as child processes. */
export const LocalExecution = z
  .object({
    trainer: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('command that runs the trainer entry; default: node <effscale>/bin/effscale-trainer.js'),
    noop: z.boolean().default(false).describe('synthetic deterministic scores, no training (pipeline tests, bench)'),
    graceSeconds: z.number().min(0).default(10).describe('after SIGTERM, wait this long before SIGKILL'),
  })
  .strict();
export type LocalExecution = z.infer<typeof LocalExecution>;
