import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Architecture } from '../../scaling/architecture.js';
import { loadModel } from '../model-io.js';
import type { Tf } from '../tf.js';
import { DType, GraphBuilder } from './graph-def.js';
import { planVariables } from './model-weights.js';
import { Ops } from './ops.js';
import { emitPass, network } from './program.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/** The tag and signature TensorFlow Serving and `tf.saved_model.load` look for. */
export const servingTag = 'serve';
export const servingSignature = 'serving_default';

/**
 * A trained candidate as a self-contained TensorFlow SavedModel: the inference graph with its weights frozen as
 * constants, and one `serving_default` signature — `images` (N×H×W×C, values 0–255, any size: resized to the
 * network's resolution like effscale's own preprocessing) in, `probabilities` (N×classes) out. Python TensorFlow
 * loads it with `tf.saved_model.load`, TF Serving serves it; no variables directory is needed.
 */
export function servingSavedModel(arch: Architecture, model: LayersModel): Uint8Array {
  const graph = new GraphBuilder();
  const ops = new Ops(graph);
  const net = network(arch);
  const constants = ops.scope('weights');
  const variables = planVariables(model, net.weights);
  const frozen = net.weights.map((w, i) => constants.floats(variables[i].read().dataSync() as Float32Array, w.shape));
  const pick = (indices: number[] | undefined) => (indices ?? []).map((i) => frozen[i]);
  const images = ops.placeholder('images', DType.float, [-1, -1, -1, arch.inputChannels]);
  const pre = ops.scope('preprocess');
  const resized = pre.resizeBilinear(images, [arch.resolution, arch.resolution]);
  const scaled = pre.sub(pre.div(resized, pre.floats([127.5])), pre.floats([1]));
  const pass = emitPass(
    ops.scope('network'),
    net,
    arch,
    { training: false },
    {
      read: (op) => pick(net.opWeights.get(op)),
      handles: () => {
        throw new Error('an exported graph has no variables');
      },
    },
    scaled,
  );
  const probabilities = ops.scope('output').softmax(pass.logits);
  return graph.savedModel([servingTag], {
    [servingSignature]: {
      inputs: { images: { endpoint: images, dtype: DType.float, shape: [-1, -1, -1, arch.inputChannels] } },
      outputs: { probabilities: { endpoint: probabilities, dtype: DType.float, shape: [-1, arch.classes] } },
    },
  });
}

/**
 * Writes the SavedModel of a trained effscale model (tfjs format, `model.json` + weights) into `outDir`. The
 * architecture comes from the model's own metadata (written by the trainer), so any trained candidate exports.
 */
export async function exportSavedModel(tf: Tf, modelDir: string, outDir: string): Promise<void> {
  const model = await loadModel(tf, modelDir);
  try {
    const metadata = model.getUserDefinedMetadata() as { effscale?: { architecture?: unknown } } | undefined;
    const parsed = Architecture.safeParse(metadata?.effscale?.architecture);
    if (!parsed.success) {
      throw new Error(
        `${modelDir}/model.json carries no effscale architecture in its metadata (models trained before ` +
          'SavedModel export existed lack it); retrain it to export a SavedModel',
      );
    }
    const bytes = servingSavedModel(parsed.data, model);
    await mkdir(join(outDir, 'variables'), { recursive: true });
    await writeFile(join(outDir, 'saved_model.pb'), bytes);
  } finally {
    model.dispose();
  }
}
