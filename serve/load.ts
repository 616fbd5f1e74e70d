import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { customLayers } from '../trainer/layers.js';
import type { Tf } from '../trainer/tf.js';
import type { ServedModel } from './model.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/** A model in tfjs format on disk could not be served: says which file and why. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** Loads a tfjs layers model saved by the trainer (`<dir>/model.json` + weights), with effscale's custom layers. */
export async function loadModelDir(tf: Tf, dir: string): Promise<LayersModel> {
  const file = join(dir, 'model.json');
  try {
    await stat(file);
  } catch {
    throw new ModelLoadError(`${file} does not exist: expected a tfjs layers model saved by the trainer`);
  }
  customLayers(tf);
  try {
    return await tf.loadLayersModel(`file://${file}`);
  } catch (error) {
    throw new ModelLoadError(`${file}: cannot load the model (${(error as Error).message})`);
  }
}

/**
 * Pairs a loaded model with its architecture, refusing a mismatch: serving must preprocess to exactly the input
 * the model was trained on.
 */
export function servedModel(fields: ServedModel): ServedModel {
  const { model, architecture: arch } = fields;
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  if (h !== arch.resolution || w !== arch.resolution || c !== arch.inputChannels)
    throw new ModelLoadError(
      `model ${fields.name}@${fields.version} takes ${h}×${w}×${c} inputs but its architecture says ` +
        `${arch.resolution}×${arch.resolution}×${arch.inputChannels}`,
    );
  const outputs = model.outputs[0]?.shape.at(-1);
  if (outputs !== fields.labels.length)
    throw new ModelLoadError(
      `model ${fields.name}@${fields.version} has ${outputs} outputs but ${fields.labels.length} labels`,
    );
  return fields;
}
