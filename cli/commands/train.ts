import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { getPreset } from '../../scaling/presets.js';
import { parseSpec } from '../../scaling/validate.js';
import { CandidateSpec, EngineName } from '../../schemas/candidate.js';
import { TRAINER_EXIT } from '../../schemas/trainer-process.js';
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
  checkpointSeconds?: number;
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

async function train(flags: TrainFlags): Promise<void> {
  // Loaded only now: help and usage errors stay instant, and the no-op path never loads TensorFlow.
  const { readCandidateSpec, runTrainer } = await import('../../trainer/process.js');
  const spec = flags.spec ? await readCandidateSpec(flags.spec) : specFromFlags(flags);
  process.exitCode = await runTrainer(spec, {
    out: flags.out ?? join('runs', spec.id),
    progress: flags.progress,
    'termination-log': flags.terminationLog,
    backend: flags.backend,
    engine: flags.engine,
    noop: flags.noop,
    'checkpoint-seconds': flags.checkpointSeconds,
    json: flags.json,
  });
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'train one candidate (a CandidateSpec JSON, or a preset with flags) into DIR: result.json, model/, checkpoint/. ' +
        `Exit codes: ${TRAINER_EXIT.ok} ok, ${TRAINER_EXIT.badInput} bad input, ${TRAINER_EXIT.newerContract} a ` +
        `candidate of a newer contract, ${TRAINER_EXIT.storage} the disk failed, ${TRAINER_EXIT.stopped} stopped by ` +
        `SIGTERM (checkpoint saved; rerun resumes), ${TRAINER_EXIT.failed} other.`,
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
    .option(
      '--checkpoint-seconds <s>',
      'also checkpoint mid-epoch once this many seconds passed since the last checkpoint',
      num('checkpoint-seconds'),
    )
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
