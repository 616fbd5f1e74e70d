import type { InputShape } from '../trainer/preprocess.js';
import type { ServingEngine } from './engine.js';

/** A loaded, registered model as the server sees it. */
export interface ServedModel {
  name: string;
  version: string;
  /** The model's inference graph in its session (the only copy of its weights the server holds). */
  engine: ServingEngine;
  /** The input the model was trained on: what every image is prepared to. */
  input: InputShape;
  /** Class names by output index (indices as strings when the registry has none). */
  labels: string[];
  /** What `GET /v1/models/NAME` shows: architecture summary, costs, score, lineage. */
  metadata: Record<string, unknown>;
}

/** A tensor of the served signature: its graph tensor, dtype and shape (-1: any size). */
export interface SignatureTensor {
  name: string;
  dtype: 'DT_FLOAT';
  shape: number[];
}

/**
 * The model's one signature, `serving_default` — the SavedModel export's (trainer/graph/export.ts): `images`
 * (N×H×W×C, values 0–255, any size) in, `probabilities` (N×classes) out. What REST `/metadata` and gRPC
 * GetModelMetadata describe.
 */
export function servingSignature(served: ServedModel): {
  inputs: Record<string, SignatureTensor>;
  outputs: Record<string, SignatureTensor>;
  methodName: string;
} {
  const { engine } = served;
  return {
    inputs: {
      images: { name: engine.tensors.images, dtype: 'DT_FLOAT', shape: [-1, -1, -1, served.input.inputChannels] },
    },
    outputs: { probabilities: { name: engine.tensors.probabilities, dtype: 'DT_FLOAT', shape: [-1, engine.classes] } },
    methodName: 'tensorflow/serving/predict',
  };
}

export interface TopK {
  label: string;
  index: number;
  score: number;
}

export interface Prediction {
  probabilities: number[];
  top_k: TopK[];
}

export function topK(probabilities: readonly number[], labels: readonly string[], k: number): TopK[] {
  return probabilities
    .map((score, index) => ({ label: labels[index] ?? String(index), index, score }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, k);
}

/** The REST answer for one instance's probabilities. */
export function prediction(probabilities: Float32Array, labels: readonly string[], k: number): Prediction {
  const values = Array.from(probabilities);
  return { probabilities: values, top_k: topK(values, labels, k) };
}
