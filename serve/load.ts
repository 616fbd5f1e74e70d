import { readFile, stat } from 'node:fs/promises';
import { savedMetadata } from '../trainer/model-io.js';
import { join } from 'node:path';
import type { ModelEntry, Registry } from '../registry/registry.js';
import { Architecture } from '../scaling/architecture.js';
import { Dataset, isImageFiles } from '../schemas/task.js';
import { customLayers } from '../trainer/layers.js';
import type { InputShape } from '../trainer/preprocess.js';
import type { Tf } from '../trainer/tf.js';
import { ServingEngine } from './engine.js';
import { classLabels } from './labels.js';
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

/** The input side and channels the saved model takes: what serving preprocesses to. */
export function modelInput(model: LayersModel, ref: string): InputShape {
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  if (typeof h !== 'number' || h !== w || (c !== 1 && c !== 3))
    throw new ModelLoadError(
      `${ref}: expected a square image input N×H×W×C with C 1 or 3, the model takes ${JSON.stringify(model.inputs[0]?.shape)}`,
    );
  const { cropPct } = savedMetadata(model);
  return { resolution: h, inputChannels: c, ...(cropPct !== undefined && { cropPct }) };
}

/** The architecture the trainer saved with the model: what the serving graph is built from. */
function savedArchitecture(model: LayersModel, ref: string): Architecture {
  const parsed = Architecture.safeParse(savedMetadata(model).architecture);
  if (!parsed.success)
    throw new ModelLoadError(
      `${ref}: model.json carries no effscale architecture in its metadata (models trained before serving ran ` +
        'the compiled graph lack it); retrain it to serve it',
    );
  return parsed.data;
}

export function modelClasses(model: LayersModel): number {
  const classes = model.outputs[0]?.shape.at(-1);
  if (typeof classes !== 'number') throw new ModelLoadError(`model ${model.name} has no class output`);
  return classes;
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  return readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as Record<string, unknown>)
    .catch(() => undefined);
}

/** What the registry's `architecture.json` holds: φ, factors, coefficients, rule and the analytic cost. */
function architectureSummary(data: Record<string, unknown> | undefined, input: InputShape, classes: number) {
  const cost = (data?.cost ?? {}) as Record<string, unknown>;
  return {
    resolution: input.resolution,
    inputChannels: input.inputChannels,
    classes,
    phi: data?.phi,
    factors: data?.factors,
    coefficients: data?.coefficients,
    rule: data?.rule,
    layers: Array.isArray(cost.layers) ? cost.layers.length : undefined,
    macs: cost.macs,
    params: cost.params,
    paramBytes: cost.paramBytes,
    peakActivationBytes: cost.peakActivationBytes,
  };
}

/**
 * Class names of a registered model: Fashion-MNIST's names for that dataset, the class names the trainer saved with
 * the model (an image dataset's classes, in its label order), else indices.
 */
function registeredLabels(entry: ModelEntry, model: LayersModel, classes: number): string[] {
  const dataset = Dataset.safeParse(entry.lineage.dataset);
  const named = dataset.success && isImageFiles(dataset.data);
  const names = named ? savedMetadata(model).classNames : undefined;
  return classLabels(classes, dataset.success ? dataset.data : undefined, names);
}

/**
 * Loads `name[@version]` from the registry with the metadata `GET /v1/models/NAME` shows: the architecture, the
 * scores and where the model came from, but no filesystem path (the registry's, the dataset's) unless the
 * operator asks for them (`--show-paths`): a client of the model has no business knowing the server's disks.
 */
export async function loadRegisteredModel(
  tf: Tf,
  registry: Registry,
  ref: string,
  { showPaths = false }: { showPaths?: boolean } = {},
): Promise<ServedModel> {
  const entry = await registry.get(ref);
  const model = await loadModelDir(tf, join(entry.uri, 'model'));
  let engine: ServingEngine;
  let input: InputShape;
  let labels: string[];
  let classes: number;
  try {
    const where = `${entry.name}@${entry.version}`;
    input = modelInput(model, where);
    classes = modelClasses(model);
    labels = registeredLabels(entry, model, classes);
    // The graph holds the weights from here on: the tfjs model is only read to build it.
    engine = ServingEngine.load(tf, savedArchitecture(model, where), model, input);
  } finally {
    model.dispose();
  }
  const architecture = await readJson(join(entry.uri, 'architecture.json'));
  return {
    name: entry.name,
    version: entry.version,
    engine,
    input,
    labels,
    metadata: {
      ...(showPaths && { uri: entry.uri }),
      architecture: architectureSummary(architecture, input, classes),
      score: entry.metrics.score,
      metrics: entry.metrics,
      lineage: showPaths ? entry.lineage : { ...entry.lineage, dataset: datasetFormat(entry.lineage.dataset) },
    },
  };
}

/** The dataset a model was trained on, without its paths: its format only. */
function datasetFormat(dataset: unknown): { format?: unknown } {
  return typeof dataset === 'object' && dataset !== null && 'format' in dataset ? { format: dataset.format } : {};
}
