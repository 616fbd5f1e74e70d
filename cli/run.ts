import { Command, CommanderError } from 'commander';
import { SpecError } from '../scaling/validate.js';

/** Errors a user can fix: printed as one clear message, exit code 2, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export async function runCli(program: Command, argv: string[]): Promise<void> {
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode; // commander already printed it
  if (err instanceof SpecError || err instanceof UsageError) {
    console.error(`effscale: ${err.message}`);
    return 2;
  }
  console.error(
    `effscale: ${err instanceof Error ? (process.env.EFFSCALE_DEBUG ? err.stack : err.message) : String(err)}`,
  );
  return 1;
}
