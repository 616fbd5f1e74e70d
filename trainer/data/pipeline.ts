import { GraphSession } from '../graph/session.js';
import type { Tf } from '../tf.js';
import { buildPipelineGraph, pipelineTag, type PipelineGraph, type PipelineGraphOptions } from './pipeline-graph.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;

/** How an engine takes its batches: raw uint8 pixels (normalized inside its graph) or the network's float input. */
export type BatchForm = 'raw' | 'normalized';

/**
 * One pass to read: files, each with its path (UTF-8 bytes), class id and the [2] seed of its random draws
 * (row-major [n, 2]); or TFRecord shards in the pass's order, with the seeds of the record shuffle and of the
 * images, how many records a resumed pass skips and how many it reads (-1: all).
 */
export type PipelinePass =
  | { kind: 'files'; paths: Uint8Array[]; labels: Int32Array; seeds: Int32Array }
  | { kind: 'records'; shards: Uint8Array[]; shuffleSeed: number; epochSeed: number; skip: number; take: number };

export interface PipelineBatch {
  images: Tensor;
  /** int32 [n] class ids (raw) or one-hot float [n, classes] (normalized). */
  labels: Tensor;
  classIds?: Int32Array;
  size: number;
}

/**
 * The input pipeline in its own TensorFlow session (see pipeline-graph.ts). A fetched batch stays a native tensor:
 * fed to the training session it crosses no JavaScript copy, since tfjs-node hands the handle through.
 */
export class ImagePipeline {
  /**
   * The tensors the running pass was started from. tfjs-node frees a string tensor's characters when the tensor is
   * disposed, even while the dataset still reads them, so they live until the next pass has replaced it.
   */
  private fed: Tensor[] = [];

  private constructor(
    private readonly tf: Tf,
    private readonly graph: PipelineGraph,
    private readonly session: GraphSession,
  ) {}

  static create(tf: Tf, options: PipelineGraphOptions): ImagePipeline {
    const graph = buildPipelineGraph(options);
    return new ImagePipeline(tf, graph, GraphSession.load(tf, graph.savedModel, pipelineTag));
  }

  /** Starts reading `pass` from its first file; decoding begins at once on TensorFlow's threads. */
  start(pass: PipelinePass): void {
    const fed = this.feedsOf(pass);
    const fetched = this.session.run(fed, [this.graph.start]);
    this.tf.dispose([...fetched, ...this.fed]);
    this.fed = fed.map(([, tensor]) => tensor);
  }

  private feedsOf(pass: PipelinePass): [string, Tensor][] {
    const { tf } = this;
    const { feeds } = this.graph;
    if (pass.kind === 'files' && feeds.kind === 'files') {
      const n = pass.labels.length;
      return [
        [feeds.paths, tf.tensor(pass.paths, [n], 'string')],
        [feeds.labels, tf.tensor1d(pass.labels, 'int32')],
        [feeds.seeds, tf.tensor2d(pass.seeds, [n, 2], 'int32')],
      ];
    }
    if (pass.kind === 'records' && feeds.kind === 'records') {
      const int = (value: number) => tf.scalar(value, 'int32');
      return [
        [feeds.shards, tf.tensor(pass.shards, [pass.shards.length], 'string')],
        [feeds.shuffleSeed, int(pass.shuffleSeed)],
        [feeds.epochSeed, int(pass.epochSeed)],
        [feeds.skip, int(pass.skip)],
        [feeds.take, int(pass.take)],
      ];
    }
    throw new Error(`a ${feeds.kind} pipeline cannot read a pass of ${pass.kind}`);
  }

  /**
   * The next batch of the pass; blocks while TensorFlow prepares it, so the time this call takes is exactly the
   * time training waited for input. A file that cannot be read or decoded fails here, naming TensorFlow's reason;
   * undefined when the pass ended early because such files were skipped.
   */
  next(form: BatchForm): PipelineBatch | undefined {
    const { raw, normalized } = this.graph;
    const fetches = form === 'raw' ? [raw.images, raw.labels] : [normalized.images, normalized.oneHot, raw.labels];
    let fetched: Tensor[];
    try {
      fetched = this.session.run([], fetches);
    } catch (error) {
      // Only a pass that skips corrupt files can end before its last planned batch.
      if (error instanceof Error && /End of sequence|OutOfRange/i.test(error.message)) return undefined;
      throw error;
    }
    if (form === 'raw') {
      const [images, labels] = fetched;
      return { images, labels, size: images.shape[0] };
    }
    const [images, oneHot, classIds] = fetched;
    const ids = classIds.dataSync() as Int32Array;
    classIds.dispose();
    return { images, labels: oneHot, classIds: Int32Array.from(ids), size: images.shape[0] };
  }

  dispose(): void {
    this.session.dispose();
    this.tf.dispose(this.fed);
    this.fed = [];
  }
}
