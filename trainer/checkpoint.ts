import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EpochMetrics } from '../schemas/candidate.js';
import { writeFolderAtomically } from './durable.js';
import type { OptimizerState } from './engine.js';
import type { Tf } from './tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type NamedTensor = { name: string; tensor: import('@tensorflow/tfjs-node').Tensor };
type WeightsManifestEntry = import('@tensorflow/tfjs-core').io.WeightsManifestEntry;

/** Where training stands: whole epochs done, plus the batches of the next one when a signal stopped it mid-epoch. */
export const CheckpointState = z.object({
  specHash: z.string(),
  epoch: z.number().int().min(0).describe('completed epochs'),
  batch: z.number().int().min(0).describe('completed batches of the next epoch'),
  step: z.number().int().min(0),
  epochs: z.array(EpochMetrics),
  partial: z.object({
    lossSum: z.number(),
    correct: z.number(),
    seen: z.number(),
    /** Wall seconds of the epoch's training pass so far, and how many of them waited for input. */
    seconds: z.number(),
    waitSeconds: z.number().default(0),
  }),
  elapsedSeconds: z.number(),
  modelWeights: z.number().int(),
  weightSpecs: z.array(z.custom<WeightsManifestEntry>()),
});
export type CheckpointState = z.infer<typeof CheckpointState>;

export function checkpointDir(outDir: string): string {
  return join(outDir, 'checkpoint');
}

/** Saves model weights (batch-norm statistics included) and optimizer slots, so a resumed run continues exactly. */
export async function saveCheckpoint(
  tf: Tf,
  outDir: string,
  model: LayersModel,
  optimizer: OptimizerState,
  state: Omit<CheckpointState, 'modelWeights' | 'weightSpecs'>,
): Promise<void> {
  const modelWeights = model.getWeights().map((tensor, i): NamedTensor => ({ name: `model/${i}`, tensor }));
  const optimizerWeights = optimizer.getWeights().map((w, i) => ({ name: `optimizer/${i}`, tensor: w.tensor }));
  const { data, specs } = await tf.io.encodeWeights([...modelWeights, ...optimizerWeights]);
  tf.dispose(optimizerWeights.map((w) => w.tensor));
  const full: CheckpointState = { ...state, modelWeights: modelWeights.length, weightSpecs: specs };
  await writeFolderAtomically(checkpointDir(outDir), {
    'weights.bin': new Uint8Array(data),
    'state.json': JSON.stringify(full),
  });
}

/**
 * Restores the last checkpoint into a freshly built model and its optimizer. Returns undefined when there is none;
 * refuses a checkpoint of another spec rather than silently mixing two trainings.
 */
export async function loadCheckpoint(
  tf: Tf,
  outDir: string,
  model: LayersModel,
  optimizer: OptimizerState,
  specHash: string,
): Promise<CheckpointState | undefined> {
  const dir = checkpointDir(outDir);
  let text: string;
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8');
  } catch {
    return undefined;
  }
  const state = CheckpointState.parse(JSON.parse(text));
  if (state.specHash !== specHash) {
    throw new CheckpointMismatchError(
      `${dir} holds the checkpoint of a different candidate spec; use another output directory or delete it`,
    );
  }
  const buffer = await readFile(join(dir, 'weights.bin'));
  const named = tf.io.decodeWeights(new Uint8Array(buffer).buffer, state.weightSpecs);
  const ordered = state.weightSpecs.map((s) => named[s.name]);
  model.setWeights(ordered.slice(0, state.modelWeights));
  const slots = state.weightSpecs.slice(state.modelWeights).map((s, i) => ({
    name: s.name,
    tensor: ordered[state.modelWeights + i],
  }));
  try {
    if (slots.length > 0) optimizer.setWeights(slots);
  } catch (error) {
    // Checkpoints written before the flat optimizer hold one slot per variable.
    throw new CheckpointMismatchError(
      `${dir}: ${error instanceof Error ? error.message : String(error)}; delete the checkpoint to train from the start`,
    );
  } finally {
    tf.dispose(ordered);
  }
  return state;
}

export class CheckpointMismatchError extends Error {
  override name = 'CheckpointMismatchError';
}
