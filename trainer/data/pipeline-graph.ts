import { DType, GraphBuilder, type Attr, type Endpoint } from '../graph/graph-def.js';
import { Ops } from '../graph/ops.js';
import { t } from './fn-ops.js';
import { decodeImage, type DecodeOptions } from './pipeline-decode.js';
import { buildSource, type SourceFeeds, type SourceOptions } from './pipeline-sources.js';

/**
 * The input pipeline as a TensorFlow graph: tf.data ops that read, decode, crop, resize and flip images on
 * TensorFlow's own threads and prefetch batches while the training step runs. It is the graph Python's tf.data
 * builds (a TF1 initializable iterator): the files or shards of one pass are fed when the iterator starts
 * (pipeline-sources.ts), each image is decoded by a map function (pipeline-decode.ts), and every fetch of `next`
 * returns the following batch as uint8 pixels and int32 class ids, so no pixel is touched by JavaScript.
 */

export interface PipelineGraphOptions extends DecodeOptions {
  source: SourceOptions;
  classes: number;
  batchSize: number;
  /** Threads decoding in parallel: the size of the pipeline's private thread pool. */
  threads: number;
  /** Batches prepared ahead of the one being trained on. */
  prefetch: number;
  /** Drop images that fail to read or decode (the spec's skipCorrupt) instead of failing the pass. */
  skipErrors: boolean;
}

/** The endpoints the pipeline session is fed and fetched by. */
export interface PipelineGraph {
  savedModel: Uint8Array;
  feeds: SourceFeeds;
  /** Fetch to (re)start the iterator on the fed files or shards. */
  start: Endpoint;
  /** uint8 [n, R, R, C] pixels and int32 [n] class ids of the next batch. */
  raw: { images: Endpoint; labels: Endpoint };
  /** The same batch as the network's float input in [-1, 1] and one-hot labels (for the eager engine). */
  normalized: { images: Endpoint; oneHot: Endpoint };
}

export const pipelineTag = 'effscale-input';

/**
 * How a raw uint8 pixel becomes the network's input in [-1, 1] (trainer/preprocess.ts): value × scale − offset.
 * Resized values are truncated to uint8, as Python's tf.cast does, which loses half a level on average — a pass
 * over every image to round them would cost 5 % of the pipeline; the offset puts the half level back instead.
 */
export const RAW_PIXEL = { scale: 1 / 127.5, offset: 1 - 0.5 / 127.5 } as const;

export function buildPipelineGraph(options: PipelineGraphOptions): PipelineGraph {
  const { resolution: r, channels } = options;
  const graph = new GraphBuilder();
  const ops = new Ops(graph).scope('input');
  const source = buildSource(graph, options.source, options.classes);
  const mapFn = graph.function(
    'effscale_load_image',
    source.args,
    [
      { name: 'image', type: DType.uint8 },
      { name: 'class_id', type: DType.int32 },
    ],
    (fn) => {
      const { contents, label, seed } = source.read(fn);
      return [decodeImage(graph, fn, contents, seed, options), fn.node('Identity', [label], { T: t(DType.int32) })];
    },
  );

  const elementTypes: Attr = { types: [DType.uint8, DType.int32] };
  const batchShapes = { shapes: [[-1, r, r, channels], [-1]] };
  const batched = { output_types: elementTypes, output_shapes: batchShapes };
  let dataset = decodeAndBatch(ops, source.dataset, { name: mapFn, captured: source.captured }, options);
  dataset = graph.node('PrefetchDataset', 'input/prefetch', [dataset, ops.int64(options.prefetch)], batched);
  // Each decode runs on one thread, and the pipeline owns a pool of `threads`: its cores follow the pod's CPU
  // limit instead of competing with the training step's pool for every core of the node.
  dataset = graph.node('MaxIntraOpParallelismDataset', 'input/one_thread_per_image', [dataset, ops.int64(1)], batched);
  dataset = graph.node('PrivateThreadPoolDataset', 'input/threads', [dataset, ops.int64(options.threads)], batched);

  const iterator = graph.node('IteratorV2', 'input/iterator', [], {
    ...batched,
    shared_name: { s: 'effscale_input' },
    container: { s: '' },
  });
  const made = graph.node('MakeIterator', 'input/make_iterator', [dataset, iterator]);
  // Fetching this starts the pass: tfjs runs a session for its fetches only, never for a target op.
  const started = graph.node('Identity', 'input/start', [ops.ints([1], [])], { T: t(DType.int32) }, [made]);
  const next = graph.node('IteratorGetNext', 'input/next', [iterator], batched);
  const raw = { images: `${next}:0`, labels: `${next}:1` };
  const normalized = normalize(ops, raw, options.classes);
  const savedModel = graph.savedModel([pipelineTag], {});
  return { savedModel, feeds: source.feeds, start: started, raw, normalized };
}

/**
 * Decoding in parallel, then batching. Python tf.data's default fusion (MapAndBatchDataset: each decode writes its
 * image straight into the batch's buffer) unless corrupt files are skipped, which needs the per-image
 * IgnoreErrorsDataset between the two.
 */
function decodeAndBatch(
  ops: Ops,
  elements: Endpoint,
  mapFn: { name: string; captured: Endpoint[] },
  options: PipelineGraphOptions,
): Endpoint {
  const { resolution: r, channels } = options;
  const types: Attr = { types: [DType.uint8, DType.int32] };
  const element = { output_types: types, output_shapes: { shapes: [[r, r, channels], []] } };
  const batched = { output_types: types, output_shapes: { shapes: [[-1, r, r, channels], [-1]] } };
  // Captured inputs (a records pass's seed) are int32 scalars.
  const map = {
    f: { func: mapFn.name },
    Targuments: { types: mapFn.captured.map(() => DType.int32) },
    preserve_cardinality: { b: true },
  };
  const { graph } = ops;
  const parallel = ops.int64(options.threads);
  const batchSize = ops.int64(options.batchSize);
  const keepRemainder = graph.node('Const', 'input/drop_remainder', [], {
    dtype: t(DType.bool),
    value: { tensor: { dtype: DType.bool, shape: [], values: [0] } },
  });
  if (!options.skipErrors) {
    return graph.node(
      'MapAndBatchDataset',
      'input/decode',
      [elements, ...mapFn.captured, batchSize, parallel, keepRemainder],
      {
        ...map,
        ...batched,
      },
    );
  }
  const decoded = graph.node('ParallelMapDatasetV2', 'input/decode', [elements, ...mapFn.captured, parallel], {
    ...map,
    ...element,
    deterministic: { s: 'true' },
    use_inter_op_parallelism: { b: true },
  });
  const kept = graph.node('IgnoreErrorsDataset', 'input/skip_corrupt', [decoded], element);
  return graph.node('BatchDatasetV2', 'input/batch', [kept, batchSize, keepRemainder], {
    ...batched,
    parallel_copy: { b: false },
  });
}

/** The network's input convention (trainer/preprocess.ts): values in [-1, 1]; labels one-hot. */
function normalize(ops: Ops, raw: PipelineGraph['raw'], classes: number) {
  return { images: normalizeRaw(ops, raw.images), oneHot: ops.oneHot(raw.labels, classes) };
}

/** uint8 pixels from the pipeline to the network's input range: what both this session and the training graph do. */
export function normalizeRaw(ops: Ops, pixels: Endpoint): Endpoint {
  const scaled = ops.mul(ops.cast(pixels, DType.uint8, DType.float), ops.floats([RAW_PIXEL.scale]));
  return ops.sub(scaled, ops.floats([RAW_PIXEL.offset]));
}
