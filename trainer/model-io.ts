import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { customLayers } from './layers.js';
import type { Tf } from './tf.js';
import { writeFolderAtomically } from './durable.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type WeightsManifest = import('@tensorflow/tfjs-core').io.WeightsManifestConfig;

function bytesOf(tf: Tf, data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/**
 * Saves a model in the tfjs layers format (`model.json` + `weights.bin`), loadable with
 * `tf.loadLayersModel('file://…/model.json')` once `customLayers(tf)` is registered. Written by our own handler so
 * the pure-JS backend saves the same way. Returns the `file://` URI of the folder.
 */
export async function saveModel(tf: Tf, model: LayersModel, dir: string): Promise<string> {
  let files: Record<string, string | Uint8Array> = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightsManifest: WeightsManifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }];
      const json = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        weightsManifest,
      };
      files = { 'model.json': JSON.stringify(json), 'weights.bin': bytesOf(tf, artifacts.weightData ?? []) };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  await writeFolderAtomically(dir, files);
  return pathToFileURL(resolve(dir)).href;
}

/** Loads a model saved by `saveModel` (from a folder path or its `file://` URI) with the custom layers registered. */
export async function loadModel(tf: Tf, dirOrUri: string): Promise<LayersModel> {
  customLayers(tf);
  const dir = dirOrUri.startsWith('file://') ? new URL(dirOrUri).pathname : dirOrUri;
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: WeightsManifest;
    userDefinedMetadata?: object;
  };
  const weightData = new Uint8Array(await readFile(join(dir, 'weights.bin'))).buffer;
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((m) => m.weights),
      weightData,
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  );
}

/** What the trainer saved with the model (trainer/train.ts, modelMetadata) that serving and export use, checked. */
export function savedMetadata(model: LayersModel): { cropPct?: number; classNames?: string[]; architecture?: unknown } {
  const saved = (model.getUserDefinedMetadata() as { effscale?: Record<string, unknown> } | undefined)?.effscale;
  const { cropPct, classNames, architecture } = saved ?? {};
  return {
    ...(typeof cropPct === 'number' && { cropPct }),
    ...(Array.isArray(classNames) && classNames.every((n) => typeof n === 'string') && { classNames }),
    architecture,
  };
}
