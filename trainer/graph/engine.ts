import type { Batch } from '../data/batches.js';
import type { EngineSetup, OptimizerState, StepResult, TrainingEngine } from '../engine.js';
import type { Tf } from '../tf.js';
import { planVariables } from './model-weights.js';
import { compileTrainingProgram, programTag, type TrainingProgram } from './program.js';
import { GraphSession } from './session.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;
type Tensor = import('@tensorflow/tfjs-node').Tensor;
type NamedTensor = { name: string; tensor: Tensor };

/**
 * The compiled engine: the candidate as one TensorFlow graph (program.ts) in one session, a training step as one
 * session run. The tfjs-layers model stays the owner of the weights between runs of the engine — it initializes
 * them (so both engines start from the same seeded weights), and receives them back to be checkpointed and saved.
 */
export class GraphEngine implements TrainingEngine {
  readonly name = 'graph' as const;
  readonly batchForm = 'raw' as const;
  readonly optimizer: OptimizerState;
  private iterations = 0;

  private constructor(
    private readonly tf: Tf,
    private readonly model: LayersModel,
    private readonly program: TrainingProgram,
    private readonly session: GraphSession,
    /** modelIndex[i]: the position in `model.weights` of the program's weight i. */
    private readonly modelIndex: number[],
  ) {
    this.optimizer = { getWeights: () => this.getSlots(), setWeights: (w) => this.setSlots(w) };
  }

  /** Compiles and loads the candidate; any failure names the cause and the engine that trains it anyway. */
  static create({ tf, model, architecture, training }: EngineSetup): GraphEngine {
    try {
      const program = compileTrainingProgram(architecture, training);
      const position = new Map(model.weights.map((w, k) => [w, k]));
      const modelIndex = planVariables(model, program.weights).map((v) => position.get(v) ?? -1);
      const session = GraphSession.load(tf, program.savedModel, programTag);
      const engine = new GraphEngine(tf, model, program, session, modelIndex);
      engine.pullWeights();
      engine.zeroSlots();
      return engine;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new GraphBuildError(`the graph engine cannot train ${architecture.name}: ${reason}; use --engine eager`);
    }
  }

  async trainStep(batch: Batch, learningRate: number): Promise<StepResult> {
    const { tf, program } = this;
    const { train } = program;
    const rate = tf.scalar(learningRate);
    const step = tf.scalar(this.iterations, 'int32');
    const fetched = this.session.run(
      [...inputFeeds(train, batch), [train.learningRate, rate], [train.step, step]],
      [train.loss, train.correct],
    );
    this.iterations++;
    return this.readResult(fetched, [rate, step, batch.xs, batch.ys]);
  }

  async evaluate(batch: Batch): Promise<StepResult> {
    const { evaluate } = this.program;
    const fetched = this.session.run(inputFeeds(evaluate, batch), [evaluate.loss, evaluate.correct]);
    return this.readResult(fetched, [batch.xs, batch.ys]);
  }

  private async readResult([loss, correct]: Tensor[], inputs: Tensor[]): Promise<StepResult> {
    const [lossValue = NaN] = await loss.data();
    const [correctValue = 0] = await correct.data();
    this.tf.dispose([loss, correct, ...inputs]);
    return { loss: lossValue, correct: correctValue };
  }

  pullWeights(): void {
    const values = this.model.weights.map((w) => w.read());
    const { weightIo } = this.program;
    this.assign(
      weightIo.feeds.map((feed, i) => [feed, values[this.modelIndex[i]]]),
      weightIo.assigned,
    );
  }

  pushWeights(): void {
    const fetched = this.session.run([], this.program.weightIo.read);
    const ordered: Tensor[] = new Array<Tensor>(fetched.length);
    fetched.forEach((t, i) => (ordered[this.modelIndex[i]] = t));
    this.model.setWeights(ordered);
    this.tf.dispose(fetched);
  }

  /** Feeds values, runs the assignments, disposes what the run returned (the feeds stay the caller's). */
  private assign(feeds: [string, Tensor][], assigned: string): void {
    this.tf.dispose(this.session.run(feeds, [assigned]));
  }

  /** Optimizer slots start at zero, as in tfjs and Keras (the variables hold nothing until assigned). */
  private zeroSlots(): void {
    const total = this.slotLayout().sizes.reduce((a, b) => a + b, 0);
    const zeros = this.tf.zeros([total]);
    this.assign(
      this.program.slotIo.feeds.map((feed) => [feed, zeros]),
      this.program.slotIo.assigned,
    );
    zeros.dispose();
  }

  /** Per trainable weight of the program: its size and its position among the tfjs model's trainable weights. */
  private slotLayout(): { sizes: number[]; modelPosition: number[] } {
    const { program, model } = this;
    const trainablePosition = new Map(model.trainableWeights.map((w, k) => [w, k]));
    const sizes = program.trainable.map((i) => program.weights[i].shape.reduce((a, b) => a * b, 1));
    const modelPosition = program.trainable.map((i) => trainablePosition.get(model.weights[this.modelIndex[i]]) ?? -1);
    return { sizes, modelPosition };
  }

  /** The step count and the slots, flattened in the tfjs model's trainable order (OptimizerState's layout). */
  private getSlots(): NamedTensor[] {
    const { tf } = this;
    const { sizes, modelPosition } = this.slotLayout();
    const slots = this.session.run([], this.program.slotIo.read).map((flat, s) => {
      const tensor = tf.tidy(() => {
        const pieces = tf.split(flat, sizes);
        const ordered = new Array<Tensor>(pieces.length);
        pieces.forEach((piece, i) => (ordered[modelPosition[i]] = piece));
        return tf.concat(ordered);
      });
      flat.dispose();
      return { name: `slot${s}`, tensor };
    });
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...slots];
  }

  private setSlots(weights: NamedTensor[]): void {
    const { tf } = this;
    const { sizes, modelPosition } = this.slotLayout();
    const [iterations, ...slots] = weights;
    const total = sizes.reduce((a, b) => a + b, 0);
    const { slotIo } = this.program;
    if (!iterations || slots.length !== slotIo.feeds.length || slots.some((s) => s.tensor.size !== total)) {
      throw new Error(
        `optimizer state does not match: expected a step count and ${slotIo.feeds.length} slot(s) of ${total} values`,
      );
    }
    const programOf = new Array<number>(sizes.length);
    modelPosition.forEach((m, i) => (programOf[m] = i));
    const flats = slots.map((s) =>
      tf.tidy(() => {
        const pieces = tf.split(
          tf.reshape(s.tensor, [total]),
          programOf.map((i) => sizes[i]),
        );
        return tf.concat(modelPosition.map((m) => pieces[m]));
      }),
    );
    this.assign(
      slotIo.feeds.map((feed, s) => [feed, flats[s]]),
      slotIo.assigned,
    );
    tf.dispose(flats);
    this.iterations = iterations.tensor.dataSync()[0];
  }

  dispose(): void {
    this.session.dispose();
  }
}

/** A normalized batch feeds the float placeholders; a raw one their uint8 and class-id sources. */
function inputFeeds(
  entry: { images: string; labels: string; raw: { images: string; classIds: string } },
  batch: Batch,
): [string, Tensor][] {
  if (batch.form === 'raw') {
    return [
      [entry.raw.images, batch.xs],
      [entry.raw.classIds, batch.ys],
    ];
  }
  return [
    [entry.images, batch.xs],
    [entry.labels, batch.ys],
  ];
}

export class GraphBuildError extends Error {
  override name = 'GraphBuildError';
}
