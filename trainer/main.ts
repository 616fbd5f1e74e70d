import { parseArgs } from 'node:util';
import { SpecError } from '../scaling/validate.js';
import { NewerContractError } from '../schemas/candidate.js';
import { TRAINER_EXIT, TRAINER_FLAGS, TrainerArgs } from '../schemas/trainer-process.js';
import { readCandidateSpec, runTrainer } from './process.js';

/**
 * The trainer entry an executor runs for one candidate (schemas/trainer-process.ts): only the trainer, not the
 * whole CLI, so a candidate's process starts in what Node and the trainer need.
 */
async function main(argv: string[]): Promise<number> {
  let args: TrainerArgs;
  try {
    const { values } = parseArgs({ args: argv, options: TRAINER_FLAGS, strict: true });
    const parsed = TrainerArgs.safeParse(values);
    if (!parsed.success)
      throw new SpecError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
    args = parsed.data;
  } catch (err) {
    process.stderr.write(`effscale-trainer: ${err instanceof Error ? err.message : String(err)}\n`);
    return TRAINER_EXIT.badInput;
  }
  try {
    return await runTrainer(await readCandidateSpec(args.spec), args);
  } catch (err) {
    process.stderr.write(`effscale-trainer: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof NewerContractError) return TRAINER_EXIT.newerContract;
    return err instanceof SpecError ? TRAINER_EXIT.badInput : TRAINER_EXIT.failed;
  }
}

process.exitCode = await main(process.argv.slice(2));
