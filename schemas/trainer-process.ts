import { z } from 'zod';
import { EngineName } from './candidate.js';

/**
 * How an executor runs one candidate's training, as a child process or as a pod: it writes the `CandidateSpec` to
 * `candidate.json` in the candidate's directory, runs the trainer entry with `trainerArgv(...)`, reads
 * `TrainProgress` lines (one JSON object per line) on stdout, and at the end the exit code and `result.json`
 * (`TrainResult`). Both executors and the trainer import this file; nothing here is written anywhere else.
 */

/** File names in a candidate's directory. */
export const TRAINER_FILES = {
  spec: 'candidate.json',
  result: 'result.json',
  /** The local executor's record of the trainer process, to stop one a dead worker left behind. */
  pid: 'trainer.pid',
} as const;

/**
 * The exit codes executors act on: bad input is never retried, a stop by signal resumes from the checkpoint, a
 * candidate of a newer contract (schemas/candidate.ts) stops the search without counting against it, and a full or
 * failing disk is a disruption (trained again once the storage is back).
 */
export const TRAINER_EXIT = {
  ok: 0,
  failed: 1,
  badInput: 2,
  newerContract: 3,
  storage: 4,
  interrupted: 130,
  stopped: 143,
} as const;

/** The trainer entry in the trainer image (infra/Dockerfile.trainer's ENTRYPOINT; k8s/ sets it as the command). */
export const TRAINER_IMAGE_COMMAND = ['node', '/app/bin/effscale-trainer.js'];

/** The trainer entry's arguments, as `--name value` flags (`--noop` alone). */
export const TrainerArgs = z
  .object({
    spec: z.string().min(1).describe('the candidate spec file (JSON)'),
    out: z.string().min(1).describe("the candidate's directory: checkpoint/, model/, result.json"),
    progress: z.literal('jsonl').optional().describe('progress lines on stdout'),
    'termination-log': z.string().optional().describe('also write a compact result (< 4 KiB) here'),
    backend: z.enum(['tensorflow', 'cpu']).optional().describe('cpu: the pure-JS backend, debugging only'),
    engine: EngineName.optional(),
    noop: z.boolean().optional().describe('validate and cost the candidate, write a synthetic result, do not train'),
    'checkpoint-seconds': z.coerce
      .number()
      .positive()
      .optional()
      .describe('also checkpoint mid-epoch once this many seconds passed since the last checkpoint'),
  })
  .strict();
export type TrainerArgs = z.infer<typeof TrainerArgs>;

/** The flags of `TrainerArgs`, for `util.parseArgs`. */
export const TRAINER_FLAGS = Object.fromEntries(
  Object.entries(TrainerArgs.shape).map(([name, schema]) => {
    const inner = schema instanceof z.ZodOptional ? schema.unwrap() : schema;
    return [name, { type: inner instanceof z.ZodBoolean ? ('boolean' as const) : ('string' as const) }];
  }),
);

export function trainerArgv(args: TrainerArgs): string[] {
  return Object.entries(args).flatMap(([name, value]) =>
    value === undefined || value === false ? [] : value === true ? [`--${name}`] : [`--${name}`, String(value)],
  );
}
