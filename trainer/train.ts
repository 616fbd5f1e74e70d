import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { architectureCost } from '../scaling/cost.js';
import { parseSpec } from '../scaling/validate.js';
import { isImageFiles } from '../schemas/task.js';
import {
  CandidateSpec,
  type EngineName,
  type EpochMetrics,
  type TrainProgress,
  type TrainResult,
} from '../schemas/candidate.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { checkResolution } from './checks.js';
import { batchCount } from './data/batches.js';
import { openTaskData, skippedLines, type TaskData } from './data/dataset.js';
import { splitInput } from './data/input.js';
import type { SplitInput } from './data/splits.js';
import { buildModel } from './model.js';
import { saveModel } from './model-io.js';
import { inferenceLatencyMs, noopLatencyMs } from './latency.js';
import { noopResult } from './noop.js';
import { existingResult, peakRssBytes, resultCovering, specHash, targetEpochs, writeResult } from './result.js';
import { learningRateAt } from './schedule.js';
import { createEngine } from './create-engine.js';
import { defaultEngine, type TrainingEngine } from './engine.js';
import { scoreOf } from './score.js';
import { loadNativeTf, tensorflowVersion, tfjsPackage, type BackendChoice, type Tf } from './tf.js';
import { higherIsBetter } from '../search/ranking.js';

type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

export interface TrainOptions {
  onProgress?: (progress: TrainProgress) => void;
  /** Aborting stops training at the next batch boundary, after a checkpoint: the promise rejects with TrainingStopped. */
  signal?: AbortSignal;
  backend?: BackendChoice;
  /** How training steps run (see trainer/engine.ts); the default is the faster one. */
  engine?: EngineName;
  /** Validate and cost the candidate, write a synthetic result (see noop.ts), train nothing, never load tfjs. */
  noop?: boolean;
  /** Minimum seconds between two `batch` progress lines. */
  progressSeconds?: number;
  /** Also checkpoint mid-epoch once this many seconds passed since the last checkpoint: what a lost node costs. */
  checkpointSeconds?: number;
  /** Human-readable log lines (the CLI sends them to stderr). */
  log?: (line: string) => void;
}

/** Training was stopped by a signal; a checkpoint at `epoch`/`batch` was saved first, so a rerun resumes there. */
export class TrainingStopped extends Error {
  override name = 'TrainingStopped';
  constructor(
    readonly epoch: number,
    readonly batch: number,
  ) {
    super(`training stopped by a signal at epoch ${epoch + 1}, batch ${batch}; checkpoint saved`);
  }
}

async function evaluate(engine: TrainingEngine, validation: SplitInput) {
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  for await (const { batch } of validation.epoch({})) {
    const result = await engine.evaluate(batch);
    lossSum += result.loss * batch.size;
    correct += result.correct;
    seen += batch.size;
  }
  return { valLoss: lossSum / seen, valAccuracy: correct / seen };
}

/**
 * Trains one candidate into `outDir`: validates everything first (spec, resolution, every dataset file), resumes
 * from `outDir/checkpoint` when present, checkpoints after every epoch (and when stopped by `signal`), writes the
 * model (`outDir/model`, tfjs format) and `outDir/result.json`. A finished result of the same spec is returned as
 * is, without training again.
 */
export async function trainCandidate(
  specInput: unknown,
  outDir: string,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const spec = parseSpec(CandidateSpec, specInput, 'candidate spec');
  const log = options.log ?? (() => undefined);
  const emit = options.onProgress ?? (() => undefined);
  const arch = spec.architecture;
  checkResolution(arch);
  const hash = specHash(spec);
  const noop = options.noop ?? false;
  const previous = await existingResult(outDir, hash, noop);
  const covering = previous && resultCovering(previous, spec);
  if (covering) {
    log(`${outDir}/result.json already holds ${targetEpochs(spec)} epochs of this spec; not training again`);
    emit({ type: 'result', result: covering });
    return covering;
  }
  const cost = architectureCost(arch);
  const startedAt = new Date();
  await mkdir(outDir, { recursive: true });

  if (noop) {
    const data = await openTaskData(spec.task, arch, spec.training.seed);
    await data.close();
    const result = noopResult(spec, cost, {
      resumedFromEpoch: previous?.epochs.length ?? 0,
      specHash: hash,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      peakRssBytes: peakRssBytes(),
      latencyMs: noopLatencyMs(cost.macs),
    });
    await writeResult(outDir, result);
    emit({ type: 'result', result });
    return result;
  }

  const tf = loadNativeTf(options.backend, { onednn: true });
  const data = await openTaskData(spec.task, arch, spec.training.seed);
  const model = buildModel(arch, tf, { seed: spec.training.seed });
  let engine: TrainingEngine | undefined;
  const inputs: SplitInput[] = [];
  try {
    model.setUserDefinedMetadata(modelMetadata(spec, data));
    engine = createEngine(options.engine ?? defaultEngine(tf.getBackend()), {
      tf,
      model,
      architecture: arch,
      training: spec.training,
    });
    const settings = {
      tf,
      architecture: arch,
      task: spec.task,
      batchSize: spec.training.batchSize,
      form: engine.batchForm,
    };
    inputs.push(splitInput(data.train, settings, true), splitInput(data.validation, settings, false));
    const [train, validation] = inputs;
    const context = { ...options, log, emit, hash, cost, startedAt };
    for (const line of skippedLines(data)) log(line);
    return await trainLoop(tf, spec, { train, validation }, { model, engine }, outDir, context);
  } finally {
    for (const input of inputs) input.dispose();
    engine?.dispose();
    model.dispose();
    await data.close();
  }
}

/** What a saved model carries about itself: enough to serve it and to export it again (its architecture). */
function modelMetadata(spec: CandidateSpec, data: TaskData) {
  const arch = spec.architecture;
  return {
    effscale: {
      candidateId: spec.id,
      architecture: arch,
      classNames: data.classNames,
      resolution: arch.resolution,
      inputChannels: arch.inputChannels,
      preprocessing: 'preprocessImages (trainer/preprocess.ts): bilinear resize, channels adapted, values in [-1, 1]',
      // Image files are validated on a center crop (trainer/data/pipeline-graph.ts); serving crops the same way.
      ...(isImageFiles(spec.task.dataset) && { cropPct: spec.task.augment.cropPct }),
    },
  };
}

async function trainLoop(
  tf: Tf,
  spec: CandidateSpec,
  data: { train: SplitInput; validation: SplitInput },
  { model, engine }: { model: LayersModel; engine: TrainingEngine },
  outDir: string,
  context: TrainOptions & {
    log: (line: string) => void;
    emit: (p: TrainProgress) => void;
    hash: string;
    cost: ReturnType<typeof architectureCost>;
    startedAt: Date;
  },
): Promise<TrainResult> {
  const { training, architecture: arch } = spec;
  const target = targetEpochs(spec);
  const { log, emit } = context;
  const { optimizer } = engine;
  const stepsPerEpoch = batchCount(data.train, training.batchSize);
  let state: Omit<CheckpointState, 'modelWeights' | 'weightSpecs'> = (await loadCheckpoint(
    tf,
    outDir,
    model,
    optimizer,
    context.hash,
  )) ?? {
    specHash: context.hash,
    epoch: 0,
    batch: 0,
    step: 0,
    epochs: [],
    partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0, waitSeconds: 0 },
    elapsedSeconds: 0,
  };
  engine.pullWeights(); // a restored checkpoint changed the model's weights
  // The engine's weights go into the tfjs model, which the checkpoint and the saved model are written from.
  let checkpointedAt = performance.now();
  const checkpoint = async (at = state) => {
    engine.pushWeights();
    await saveCheckpoint(tf, outDir, model, optimizer, at);
    checkpointedAt = performance.now();
  };
  const checkpointDue = () =>
    context.checkpointSeconds !== undefined && performance.now() - checkpointedAt >= context.checkpointSeconds * 1000;
  const resumedFromEpoch = state.epoch;
  if (state.epoch > 0 || state.batch > 0) log(`resuming at epoch ${state.epoch + 1}, batch ${state.batch}`);
  emit({ type: 'start', candidateId: spec.id, epochs: target, resumedFromEpoch });
  log(
    `training ${spec.id} (${arch.name}, ${arch.resolution}px, ${context.cost.params.total} params) on ${tf.getBackend()} ` +
      `TF ${tensorflowVersion(tf)}: ${data.train.count} train / ${data.validation.count} validation images, ` +
      `${target} of ${training.epochs} epochs of ${stepsPerEpoch} batches, ${engine.name} engine`,
  );

  const runStart = performance.now();
  // Throughput is wall time: from asking for an epoch's first batch to the end of its last step, so the input's
  // waits count, as the user's clock does; validation is timed apart.
  const run = { images: 0, seconds: 0, waitSeconds: 0 };
  let lastProgress = 0;

  while (state.epoch < target) {
    const epoch = state.epoch;
    let { lossSum, correct, seen, seconds, waitSeconds } = state.partial;
    let batchIndex = state.batch;
    let passStart = performance.now();
    const tick = () => {
      const now = performance.now();
      const dt = (now - passStart) / 1000;
      passStart = now;
      seconds += dt;
      run.seconds += dt;
    };
    for await (const { batch, waitSeconds: waited } of data.train.epoch({
      shuffle: { seed: training.seed, epoch },
      startBatch: state.batch,
    })) {
      waitSeconds += waited;
      run.waitSeconds += waited;
      const learningRate = learningRateAt(training, state.step, stepsPerEpoch);
      const { loss: lossValue, correct: hitValue } = await engine.trainStep(batch, learningRate);
      tick();
      run.images += batch.size;
      lossSum += lossValue * batch.size;
      correct += hitValue;
      seen += batch.size;
      batchIndex++;
      state.step++;
      const now = performance.now();
      if (now - lastProgress >= (context.progressSeconds ?? 1) * 1000 || batchIndex === stepsPerEpoch) {
        lastProgress = now;
        emit({ type: 'batch', epoch: epoch + 1, batch: batchIndex, batches: stepsPerEpoch, loss: lossSum / seen });
      }
      const stopping = context.signal?.aborted ?? false;
      if ((stopping || checkpointDue()) && batchIndex < stepsPerEpoch) {
        await checkpoint({
          ...state,
          batch: batchIndex,
          partial: { lossSum, correct, seen, seconds, waitSeconds },
          elapsedSeconds: state.elapsedSeconds + (performance.now() - runStart) / 1000,
        });
        if (stopping) {
          log(`stopped by a signal at epoch ${epoch + 1}, batch ${batchIndex}/${stepsPerEpoch}; checkpoint saved`);
          throw new TrainingStopped(epoch, batchIndex);
        }
        emit({ type: 'checkpoint', epoch: epoch + 1, batch: batchIndex });
      }
    }
    const validationStart = performance.now();
    const validation = await evaluate(engine, data.validation);
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      ...validation,
      imagesPerSecond: seen / seconds,
      inputWaitFraction: seconds > 0 ? waitSeconds / seconds : 0,
      validationSeconds: (performance.now() - validationStart) / 1000,
      ...(data.train.skippedInLastPass() > 0 && { skippedImages: data.train.skippedInLastPass() }),
      elapsedSeconds: state.elapsedSeconds + (performance.now() - runStart) / 1000,
    };
    state = {
      ...state,
      epoch: epoch + 1,
      batch: 0,
      epochs: [...state.epochs, metrics],
      partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0, waitSeconds: 0 },
    };
    await checkpoint();
    emit({ type: 'epoch', metrics });
    log(
      `epoch ${metrics.epoch}/${target}: train loss ${metrics.trainLoss.toFixed(4)} acc ${metrics.trainAccuracy.toFixed(4)}, ` +
        `val loss ${metrics.valLoss.toFixed(4)} acc ${metrics.valAccuracy.toFixed(4)}, ${metrics.imagesPerSecond.toFixed(1)} img/s ` +
        `(${((metrics.inputWaitFraction ?? 0) * 100).toFixed(1)} % waiting for input)` +
        (metrics.skippedImages ? `, ${metrics.skippedImages} corrupt image(s) skipped` : ''),
    );
    if (context.signal?.aborted && state.epoch < target) {
      log(`stopped by a signal after epoch ${state.epoch}; checkpoint saved`);
      throw new TrainingStopped(state.epoch, 0);
    }
  }

  const modelUri = await saveModel(tf, model, join(outDir, 'model'));
  const latencyMs = await inferenceLatencyMs(tf, model, arch);
  const finishedAt = new Date();
  const result: TrainResult = {
    candidateId: spec.id,
    score: scoreOf(spec.task.metric, spec.task.score, state.epochs),
    metric: spec.task.metric,
    higherIsBetter: higherIsBetter(spec.task.metric),
    epochs: state.epochs,
    imagesPerSecond: run.seconds > 0 ? run.images / run.seconds : 0,
    inputWaitFraction: run.seconds > 0 ? run.waitSeconds / run.seconds : 0,
    backend: tf.getBackend(),
    engine: engine.name,
    tfVersion: tensorflowVersion(tf),
    tfjsPackage: tfjsPackage(tf),
    tfjsVersion: tf.version.tfjs,
    params: context.cost.params,
    macs: context.cost.macs,
    paramBytes: context.cost.paramBytes,
    peakActivationBytes: context.cost.peakActivationBytes,
    seconds: (finishedAt.getTime() - context.startedAt.getTime()) / 1000,
    peakRssBytes: peakRssBytes(),
    modelUri,
    latencyMs,
    resumedFromEpoch,
    specHash: context.hash,
    startedAt: context.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
  };
  await writeResult(outDir, result);
  emit({ type: 'result', result });
  return result;
}
