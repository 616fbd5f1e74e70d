import { preprocessImages, type InputShape } from '../trainer/preprocess.js';
import type { Tf } from '../trainer/tf.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Tensor3D = import('@tensorflow/tfjs-node').Tensor3D;
type Tensor4D = import('@tensorflow/tfjs-node').Tensor4D;

/** A loaded, registered model as the server sees it. */
export interface ServedModel {
  name: string;
  version: string;
  model: LayersModel;
  /** The input the model was trained on (read off the saved model): what preprocessing resizes to. */
  input: InputShape;
  /** Class names by output index (indices as strings when the registry has none). */
  labels: string[];
  /** What `GET /v1/models/NAME` shows: architecture summary, costs, score, lineage. */
  metadata: Record<string, unknown>;
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

/**
 * One forward pass over a micro-batch of raw images (H×W×C, 0–255, any size), each preprocessed by the trainer's
 * own function so serving sees exactly what training saw. The model ends in softmax: outputs are probabilities.
 */
export function predictBatch(tf: Tf, served: ServedModel, images: readonly Tensor3D[], k: number): Prediction[] {
  const rows = tf.tidy(() => {
    const batch = tf.concat(images.map((image) => preprocessImages(tf, image, served.input))) as Tensor4D;
    const output = served.model.predict(batch) as import('@tensorflow/tfjs-node').Tensor2D;
    return output.arraySync();
  });
  return rows.map((probabilities) => ({ probabilities, top_k: topK(probabilities, served.labels, k) }));
}
