import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tf } from '../tf.js';
import type { Endpoint } from './graph-def.js';

type Tensor = import('@tensorflow/tfjs-node').Tensor;

/** What tfjs-node's backend offers for SavedModels: load a meta graph as a session, run it with feeds and fetches. */
interface SavedModelBackend {
  loadSavedModelMetaGraph(path: string, tags: string): number;
  runSavedModel(
    id: number,
    inputs: Tensor[],
    inputInfo: { name: string; tfDtype: string }[],
    outputs: string[],
  ): Tensor[];
  deleteSavedModel(id: number): void;
}

/**
 * One TensorFlow session on a graph we generated: loaded through tfjs-node's SavedModel binding (the only graph
 * entry point it has), then run with arbitrary feeds and fetches by endpoint name, so every entry point of a
 * program shares the session and its variables.
 */
export class GraphSession {
  private disposed = false;

  private constructor(
    private readonly backend: SavedModelBackend,
    private readonly id: number,
  ) {}

  /** Loads a serialized SavedModel; the file is only read at load time, so it lives in a temporary folder. */
  static load(tf: Tf, savedModel: Uint8Array, tag: string): GraphSession {
    if (tf.getBackend() !== 'tensorflow') {
      throw new Error(`the graph engine needs the native TensorFlow backend, not '${tf.getBackend()}'`);
    }
    const backend = tf.backend() as unknown as SavedModelBackend;
    const dir = mkdtempSync(join(tmpdir(), 'effscale-graph-'));
    try {
      writeFileSync(join(dir, 'saved_model.pb'), savedModel);
      return new GraphSession(backend, backend.loadSavedModelMetaGraph(dir, tag));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Runs the graph once; the caller owns (and disposes) the fetched tensors. */
  run(feeds: [Endpoint, Tensor][], fetches: Endpoint[]): Tensor[] {
    if (this.disposed) throw new Error('the graph session was disposed');
    // The dtype only matters to tfjs for uint8/int64 feeds, which we never send.
    const info = feeds.map(([name]) => ({ name, tfDtype: 'DT_FLOAT' }));
    return this.backend.runSavedModel(
      this.id,
      feeds.map(([, t]) => t),
      info,
      fetches,
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.deleteSavedModel(this.id);
  }
}
