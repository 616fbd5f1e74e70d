import {
  DType,
  type Attr,
  type Endpoint,
  type FunctionArg,
  type FunctionBuilder,
  type GraphBuilder,
} from '../graph/graph-def.js';
import { Ops } from '../graph/ops.js';
import { FnOps, t } from './fn-ops.js';

/**
 * Where the input pipeline's images come from (see pipeline-graph.ts): files whose list is fed per pass, or
 * TFRecord shards of tf.train.Example records, read with a parallel interleave.
 */
export type SourceOptions =
  | { kind: 'files' }
  | {
      kind: 'records';
      /** Subtracted from the stored label (ImageNet shards count from 1, with 0 for a background class). */
      labelOffset: number;
      /** Records mixed across shards and within them; 0 reads in shard order (validation). */
      shuffleBuffer: number;
      imageKey: string;
      labelKey: string;
    };

/** The placeholders a pass is started from. */
export type SourceFeeds =
  | { kind: 'files'; paths: Endpoint; labels: Endpoint; seeds: Endpoint }
  | { kind: 'records'; shards: Endpoint; shuffleSeed: Endpoint; epochSeed: Endpoint; skip: Endpoint; take: Endpoint };

export interface SourceGraph {
  feeds: SourceFeeds;
  /** The dataset of elements the map function reads. */
  dataset: Endpoint;
  /** The map function's arguments: an element's components, then the captured inputs. */
  args: FunctionArg[];
  captured: Endpoint[];
  /** In the map function: an image's encoded bytes, its class id (int32) and its seed (int32 [2]). */
  read(fn: FunctionBuilder): { contents: Endpoint; label: Endpoint; seed: Endpoint };
}

/** Shards read at once by the interleave: a fixed number, so the order of records is the same in every run. */
const CYCLE_LENGTH = 8;
/** tf.data's "choose for me" for the interleave's buffers. */
const AUTOTUNE = -1;
/** Positions run past any dataset: RangeDataset needs an end. */
const NO_END = 2 ** 53;

export function buildSource(graph: GraphBuilder, source: SourceOptions, classes: number): SourceGraph {
  return source.kind === 'files' ? filesSource(graph) : recordsSource(graph, source, classes);
}

/** One element per file: its path, class id and seed, all fed (the index knows them). */
function filesSource(graph: GraphBuilder): SourceGraph {
  const ops = new Ops(graph).scope('input');
  const paths = ops.placeholder('paths', DType.string, [-1]);
  const labels = ops.placeholder('labels', DType.int32, [-1]);
  const seeds = ops.placeholder('seeds', DType.int32, [-1, 2]);
  const dataset = graph.node('TensorSliceDataset', 'input/files', [paths, labels, seeds], {
    Toutput_types: { types: [DType.string, DType.int32, DType.int32] },
    output_shapes: { shapes: [[], [], [2]] },
  });
  return {
    feeds: { kind: 'files', paths, labels, seeds },
    dataset,
    args: [
      { name: 'path', type: DType.string },
      { name: 'label', type: DType.int32 },
      { name: 'seed', type: DType.int32 },
    ],
    captured: [],
    read: (fn) => ({ contents: fn.node('ReadFile', ['path'], {}, 'contents'), label: 'label', seed: 'seed' }),
  };
}

/**
 * The fed shards (in the pass's order) interleaved CYCLE_LENGTH at a time, records shuffled through a seeded
 * buffer, numbered (the number keys each image's draws, so a resumed pass that skips its first records draws
 * what an uninterrupted one does), skipped and limited. Each record is parsed in the map function.
 */
function recordsSource(graph: GraphBuilder, source: Extract<SourceOptions, { kind: 'records' }>, classes: number) {
  const ops = new Ops(graph).scope('input');
  const toI64 = (x: Endpoint) => ops.cast(x, DType.int32, DType.int64);
  const shards = ops.placeholder('shards', DType.string, [-1]);
  const shuffleSeed = ops.placeholder('shuffle_seed', DType.int32, []);
  const epochSeed = ops.placeholder('epoch_seed', DType.int32, []);
  const skip = ops.placeholder('skip', DType.int32, []);
  const take = ops.placeholder('take', DType.int32, []);
  const records: Attr = { types: [DType.string] };
  const oneRecord = { output_types: records, output_shapes: { shapes: [[]] } };
  const readShard = graph.function(
    'effscale_read_shard',
    [{ name: 'shard', type: DType.string }],
    [{ name: 'records', type: DType.variant }],
    (fn) => {
      const none = fn.node('Const', [], {
        dtype: t(DType.string),
        value: { tensor: { dtype: DType.string, shape: [], values: [''] } },
      });
      const buffer = fn.node('Const', [], {
        dtype: t(DType.int64),
        value: { tensor: { dtype: DType.int64, shape: [], values: [256 * 1024] } },
      });
      return [fn.node('TFRecordDataset', ['shard', none, buffer], {}, 'handle')];
    },
  );
  let dataset = graph.node('TensorSliceDataset', 'input/shards', [shards], {
    Toutput_types: { types: [DType.string] },
    output_shapes: { shapes: [[]] },
  });
  dataset = graph.node(
    'ParallelInterleaveDatasetV4',
    'input/interleave',
    [dataset, ops.int64(CYCLE_LENGTH), ops.int64(1), ops.int64(AUTOTUNE), ops.int64(AUTOTUNE), ops.int64(CYCLE_LENGTH)],
    { f: { func: readShard }, Targuments: { types: [] }, deterministic: { s: 'true' }, ...oneRecord },
  );
  if (source.shuffleBuffer > 0) {
    dataset = graph.node(
      'ShuffleDataset',
      'input/shuffle',
      [dataset, ops.int64(source.shuffleBuffer), toI64(shuffleSeed), ops.int64(1)],
      { reshuffle_each_iteration: { b: false }, ...oneRecord },
    );
  }
  const numbered = { output_types: { types: [DType.int64, DType.string] }, output_shapes: { shapes: [[], []] } };
  const positions = graph.node('RangeDataset', 'input/positions', [ops.int64(0), ops.int64(NO_END), ops.int64(1)], {
    output_types: { types: [DType.int64] },
    output_shapes: { shapes: [[]] },
  });
  dataset = graph.node('ZipDataset', 'input/numbered', [positions, dataset], { N: { i: 2 }, ...numbered });
  dataset = graph.node('SkipDataset', 'input/skip_done', [dataset, toI64(skip)], numbered);
  dataset = graph.node('TakeDataset', 'input/limit', [dataset, toI64(take)], numbered);
  return {
    feeds: { kind: 'records' as const, shards, shuffleSeed, epochSeed, skip, take },
    dataset,
    args: [
      { name: 'position', type: DType.int64 },
      { name: 'record', type: DType.string },
      { name: 'epoch_seed', type: DType.int32 },
    ],
    captured: [epochSeed],
    read: (fn: FunctionBuilder) => readRecord(fn, source, classes),
  };
}

/** A tf.train.Example's image bytes and label (checked against the classes), and the image's seed. */
function readRecord(fn: FunctionBuilder, source: Extract<SourceOptions, { kind: 'records' }>, classes: number) {
  const ops = new FnOps(fn);
  const required = (dtype: typeof DType.string | typeof DType.int64) =>
    fn.node('Const', [], {
      dtype: t(dtype),
      value: { tensor: dtype === DType.string ? { dtype, shape: [0], values: [] } : { dtype, shape: [0], values: [] } },
    });
  const parsed = fn.node(
    'ParseSingleExample',
    ['record', required(DType.string), required(DType.int64)],
    {
      num_sparse: { i: 0 },
      sparse_keys: { strings: [] },
      sparse_types: { types: [] },
      dense_keys: { strings: [source.imageKey, source.labelKey] },
      Tdense: { types: [DType.string, DType.int64] },
      dense_shapes: { shapes: [[], []] },
    },
    'dense_values',
  );
  const stored = fn.node('Cast', [parsed.replace(/:0$/, ':1')], { SrcT: t(DType.int64), DstT: t(DType.int32) }, 'y');
  const label = fn.node('Sub', [stored, ops.ints([source.labelOffset], [])], { T: t(DType.int32) }, 'z');
  const inRange = fn.node(
    'LogicalAnd',
    [
      fn.node('GreaterEqual', [label, ops.ints([0], [])], { T: t(DType.int32) }, 'z'),
      fn.node('Less', [label, ops.ints([classes], [])], { T: t(DType.int32) }, 'z'),
    ],
    {},
    'z',
  );
  const message = fn.node('Const', [], {
    dtype: t(DType.string),
    value: {
      tensor: {
        dtype: DType.string,
        shape: [],
        values: [
          `a record's ${source.labelKey} minus labelOffset ${source.labelOffset} is not a class 0..${classes - 1}:`,
        ],
      },
    },
  });
  const check = fn.node('Assert', [inRange, message, label], {
    T: { types: [DType.string, DType.int32] },
    summarize: { i: 1 },
  });
  const checked = fn.node('Identity', [label], { T: t(DType.int32) }, 'output', [check]);
  const position = fn.node('Cast', ['position'], { SrcT: t(DType.int64), DstT: t(DType.int32) }, 'y');
  const seed = fn.node('Pack', ['epoch_seed', position], { N: { i: 2 }, T: t(DType.int32), axis: { i: 0 } });
  return { contents: parsed, label: checked, seed };
}
