import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './durable.js';
import { TrainResult, type CandidateSpec } from '../schemas/candidate.js';
import { TRAINER_FILES } from '../schemas/trainer-process.js';
import { scoreOf } from './score.js';

/**
 * Identifies the spec a result or checkpoint belongs to (zod output has a stable key order). Where training
 * stops is not part of it: every rung of a candidate continues the same training; nor is the contract version, so
 * a candidate trained before an upgrade is not trained again.
 */
export function specHash(spec: CandidateSpec): string {
  const { stopAfter: _, contract: _contract, ...training } = spec;
  return createHash('sha256').update(JSON.stringify(training)).digest('hex');
}

/** The epochs a run of this spec trains to. */
export function targetEpochs(spec: CandidateSpec): number {
  return Math.min(spec.stopAfter ?? spec.training.epochs, spec.training.epochs);
}

/**
 * A finished result of this spec as it stood at the epochs the spec trains to, or undefined when it covers fewer
 * (a later rung trains on from the checkpoint). An earlier rung's retry reads a later rung's result this way.
 */
export function resultCovering(result: TrainResult, spec: CandidateSpec): TrainResult | undefined {
  const epochs = targetEpochs(spec);
  if (result.epochs.length < epochs) return undefined;
  if (result.epochs.length === epochs) return result;
  const trained = result.epochs.slice(0, epochs);
  return { ...result, epochs: trained, score: scoreOf(spec.task.metric, spec.task.score, trained) };
}

export function resultPath(outDir: string): string {
  return join(outDir, TRAINER_FILES.result);
}

/**
 * The result of this very spec in `outDir`, if one exists: a repeated run returns it instead of training when it
 * covers the epochs asked for, and a later rung continues from it.
 */
export async function existingResult(outDir: string, hash: string, noop: boolean): Promise<TrainResult | undefined> {
  let text: string;
  try {
    text = await readFile(resultPath(outDir), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = TrainResult.safeParse(JSON.parse(text));
  if (!parsed.success || parsed.data.specHash !== hash) return undefined;
  return (parsed.data.backend === 'noop') === noop ? parsed.data : undefined;
}

export async function writeResult(outDir: string, result: TrainResult): Promise<void> {
  await writeFileAtomic(resultPath(outDir), JSON.stringify(result, null, 2) + '\n');
}

/**
 * The result for a Kubernetes termination message (the kubelet keeps at most 4 KiB): the full result when it fits,
 * else without per-epoch detail but with the last epoch.
 */
export function compactResult(result: TrainResult, limit = 4096): string {
  const full = JSON.stringify(result);
  if (Buffer.byteLength(full) <= limit) return full;
  const compact = JSON.stringify({ ...result, epochs: result.epochs.slice(-1), epochsTrained: result.epochs.length });
  if (Buffer.byteLength(compact) <= limit) return compact;
  return JSON.stringify({ ...result, epochs: [], epochsTrained: result.epochs.length });
}

export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
