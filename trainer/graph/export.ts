import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Architecture } from '../../scaling/architecture.js';
import { loadModel, savedMetadata } from '../model-io.js';
import type { Tf } from '../tf.js';
import { servingGraph } from './serving.js';

/**
 * Writes the SavedModel of a trained effscale model (tfjs format, `model.json` + weights) into `outDir`: the serving
 * graph (trainer/graph/serving.ts) with its weights frozen as constants, and one `serving_default` signature —
 * `images` (N×H×W×C, values 0–255, any size: cropped and resized as the model's validation saw its images) in,
 * `probabilities` (N×classes) out. Python TensorFlow loads it with `tf.saved_model.load`, TF Serving serves it; no
 * variables are needed. The architecture comes from the model's own metadata (written by the trainer), so any
 * trained candidate exports.
 */
export async function exportSavedModel(tf: Tf, modelDir: string, outDir: string): Promise<void> {
  const model = await loadModel(tf, modelDir);
  try {
    const { architecture, cropPct } = savedMetadata(model);
    const parsed = Architecture.safeParse(architecture);
    if (!parsed.success) {
      throw new Error(
        `${modelDir}/model.json carries no effscale architecture in its metadata (models trained before ` +
          'SavedModel export existed lack it); retrain it to export a SavedModel',
      );
    }
    const { savedModel } = servingGraph(parsed.data, model, { cropPct });
    await mkdir(join(outDir, 'variables'), { recursive: true });
    await writeFile(join(outDir, 'saved_model.pb'), savedModel);
  } finally {
    model.dispose();
  }
}
