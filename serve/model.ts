import { dtypeName, PREDICT_METHOD, tensorName, type Signature } from '../trainer/graph/graph-def.js';
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
  dtype: string;
  shape: number[];
}

/**
 * The model's one signature, `serving_default`, as the SavedModel export carries it (trainer/graph/serving.ts):
 * `images` (N×H×W×C, values 0–255, any size) in, `probabilities` (N×classes) out. What REST `/metadata` and gRPC
 * GetModelMetadata describe.
 */
export function servingSignature(served: ServedModel): {
  inputs: Record<string, SignatureTensor>;
  outputs: Record<string, SignatureTensor>;
  methodName: string;
} {
  const { inputs, outputs } = served.engine.signature;
  const tensors = (side: Signature['inputs']) =>
    Object.fromEntries(
      Object.entries(side).map(([key, t]) => [
        key,
        { name: tensorName(t.endpoint), dtype: dtypeName(t.dtype), shape: t.shape },
      ]),
    );
  return { inputs: tensors(inputs), outputs: tensors(outputs), methodName: PREDICT_METHOD };
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
