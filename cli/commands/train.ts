import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { getPreset } from '../../scaling/presets.js';
import { parseSpec, SpecError } from '../../scaling/validate.js';
import { CandidateSpec, EngineName, type TrainProgress, type TrainResult } from '../../schemas/candidate.js';
import { UsageError } from '../run.js';

interface TrainFlags {
  spec?: string;
  out?: string;
  json?: boolean;
  progress?: 'jsonl';
  terminationLog?: string;
  backend: 'tensorflow' | 'cpu';
  engine?: EngineName;
  noop?: boolean;
  id?: string;
  preset?: string;
  dataset?: 'fashion-mnist' | 'idx' | 'image-folder' | 'manifest' | 'tfrecord' | 'cifar10';
  flip?: boolean;
  randomResizedCrop?: boolean;
  dataPath?: string;
  valPath?: string;
  epochs?: number;
  batchSize?: number;
  trainLimit?: number;
  valLimit?: number;
  optimizer?: string;
  lr?: number;
  seed?: number;
  metric?: string;
}

/**
 * A trainer launched by a worker (the local executor sets EFFSCALE_PARENT_PID) stops like on SIGTERM, checkpoint
 * kept, when that worker dies: a session killed with SIGKILL leaves no training behind.
 */
function watchParent(stop: () => void): NodeJS.Timeout | undefined {
  const parent = Number(process.env.EFFSCALE_PARENT_PID);
  if (!parent) return undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, 1000);
  timer.unref();
  return timer;
}

/** Exit codes the executors rely on: 2 = bad input (retrying cannot help), 143 = stopped by SIGTERM, 1 = other. */
const EXIT_BAD_INPUT = 2;
const EXIT_SIGNAL = { SIGTERM: 143, SIGINT: 130 } as const;

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} expects an integer, got '${value}'`);
  return n;
};
const num = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
  return n;
};

async function readSpecFile(path: string): Promise<CandidateSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read the candidate spec file ${path}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseSpec(CandidateSpec, value, `candidate spec ${path}`);
}

/** The flag form: a preset on a dataset; the id is derived from the flags so a rerun finds its own output. */
function specFromFlags(flags: TrainFlags): CandidateSpec {
  if (!flags.preset) throw new UsageError('give either --spec FILE.json or --preset NAME (with --dataset …)');
  const format = flags.dataset ?? 'fashion-mnist';
  const dataset =
    format === 'fashion-mnist' && !flags.dataPath
      ? { format }
      : { format, path: flags.dataPath, ...(flags.valPath ? { valPath: flags.valPath } : {}) };
  if (format !== 'fashion-mnist' && !flags.dataPath) throw new UsageError(`--dataset ${format} needs --data-path`);
  const input = {
    architecture: getPreset(flags.preset),
    task: {
      dataset,
      metric: flags.metric,
      trainLimit: flags.trainLimit,
      valLimit: flags.valLimit,
      augment: { flip: flags.flip ?? false, ...(flags.randomResizedCrop && { randomResizedCrop: {} }) },
    },
    training: {
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      optimizer: flags.optimizer,
      learningRate: flags.lr,
      seed: flags.seed,
    },
  };
  const id =
    flags.id ?? `${flags.preset}-${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 8)}`;
  return parseSpec(CandidateSpec, { id, ...input }, 'train flags');
}

async function writeTerminationLog(path: string | undefined, text: string): Promise<void> {
  if (path) await writeFile(path, text).catch(() => undefined);
}

async function train(flags: TrainFlags): Promise<void> {
  const spec = flags.spec ? await readSpecFile(flags.spec) : specFromFlags(flags);
  const outDir = flags.out ?? join('runs', spec.id);
  // Loaded only now: the noop path must not pay for TensorFlow, and help/usage errors stay instant.
  const [
    { trainCandidate, TrainingStopped },
    { compactResult, resultPath },
    { DatasetError },
    { CheckpointMismatchError },
  ] = await Promise.all([
    import('../../trainer/train.js'),
    import('../../trainer/result.js'),
    import('../../trainer/data/source.js'),
    import('../../trainer/checkpoint.js'),
  ]);
  const controller = new AbortController();
  let stoppedBy: keyof typeof EXIT_SIGNAL | undefined;
  const stop = (signal: keyof typeof EXIT_SIGNAL) => () => {
    stoppedBy = signal;
    process.stderr.write(`effscale train: ${signal} received, stopping at the next batch boundary\n`);
    controller.abort();
  };
  const onTerm = stop('SIGTERM');
  const onInt = stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const orphaned = watchParent(onTerm);
  const progress = (p: TrainProgress) => {
    if (flags.progress === 'jsonl') process.stdout.write(JSON.stringify(p) + '\n');
  };
  let result: TrainResult;
  try {
    result = await trainCandidate(spec, outDir, {
      backend: flags.backend,
      engine: flags.engine,
      noop: flags.noop,
      signal: controller.signal,
      onProgress: progress,
      log: (line) => process.stderr.write(`effscale train: ${line}\n`),
    });
  } catch (err) {
    if (err instanceof TrainingStopped) {
      await writeTerminationLog(flags.terminationLog, JSON.stringify({ stopped: err.message }));
      process.stderr.write(`effscale train: ${err.message}\n`);
      process.exitCode = EXIT_SIGNAL[stoppedBy ?? 'SIGTERM'];
      return;
    }
    const badInput = err instanceof SpecError || err instanceof DatasetError || err instanceof CheckpointMismatchError;
    const message = err instanceof Error ? err.message : String(err);
    await writeTerminationLog(flags.terminationLog, JSON.stringify({ error: message.slice(0, 3500), badInput }));
    if (err instanceof DatasetError || err instanceof CheckpointMismatchError) throw new UsageError(message);
    throw err;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    clearInterval(orphaned);
  }
  await writeTerminationLog(flags.terminationLog, compactResult(result));
  if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else if (flags.progress !== 'jsonl') {
    process.stderr.write(
      `effscale train: ${spec.id} ${result.metric} ${result.score.toFixed(4)} (${result.backend}, ${result.engine} engine), ` +
        `${result.imagesPerSecond.toFixed(1)} img/s, result in ${resultPath(outDir)}\n`,
    );
  }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'train one candidate (a CandidateSpec JSON, or a preset with flags) into DIR: result.json, model/, checkpoint/. ' +
        `Exit codes: 0 ok, ${EXIT_BAD_INPUT} bad input, 143 stopped by SIGTERM (checkpoint saved; rerun resumes), 1 other.`,
    )
    .option('--spec <file>', 'candidate spec (JSON: id, architecture, task, training)')
    .option('--out <dir>', 'output directory (default: runs/<candidate id>)')
    .option('--json', 'print the result JSON on stdout')
    .addOption(new Option('--progress <format>', 'progress lines on stdout').choices(['jsonl']))
    .option('--termination-log <path>', 'also write a compact result (< 4 KiB) here, e.g. /dev/termination-log')
    .addOption(
      new Option('--backend <backend>', 'tensorflow (native) or cpu (pure JS, debugging only)')
        .choices(['tensorflow', 'cpu'])
        .default('tensorflow'),
    )
    .addOption(
      new Option(
        '--engine <engine>',
        'graph: the candidate compiled into one TensorFlow graph (default on native TensorFlow); eager: op by op',
      ).choices(EngineName.options),
    )
    .option('--noop', 'validate and cost the candidate, write a synthetic result, do not train')
    .option('--id <id>', 'candidate id for the flag form')
    .option('--preset <name>', 'architecture preset for the flag form (e.g. micro-28)')
    .addOption(
      new Option('--dataset <format>', 'dataset format for the flag form').choices([
        'fashion-mnist',
        'idx',
        'image-folder',
        'manifest',
        'tfrecord',
        'cifar10',
      ]),
    )
    .option(
      '--data-path <path>',
      'dataset folder, or manifest file (default for fashion-mnist: /usr/share/datasets/fashion-mnist)',
    )
    .option('--val-path <path>', 'validation image folder or manifest (image files only)')
    .option('--flip', 'augment with random left-right flips')
    .option('--random-resized-crop', 'image files: the EfficientNet random-resized crop (area 0.08–1, aspect 3/4–4/3)')
    .option('--epochs <n>', 'epochs', int('epochs'))
    .option('--batch-size <n>', 'batch size', int('batch-size'))
    .option('--train-limit <n>', 'train on a seeded sample of N images', int('train-limit'))
    .option('--val-limit <n>', 'validate on a seeded sample of N images', int('val-limit'))
    .option('--optimizer <name>', 'adam, sgd or rmsprop')
    .option('--lr <rate>', 'base learning rate', num('lr'))
    .option('--seed <n>', 'shuffle and split seed', int('seed'))
    .option('--metric <metric>', 'accuracy, loss or error')
    .action((flags: TrainFlags) => train(flags));
}
