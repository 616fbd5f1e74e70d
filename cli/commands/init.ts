import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from '../run.js';

const EXAMPLE = `# effscale search spec. Run it with: effscale search effscale.yaml --json
name: my-search # lowercase, digits, dashes: part of the workflow id and the model name

# The network to scale: a preset (micro-28, micro-32, b0, edgetpu-s, v2-s) or an architecture,
# optionally "preset: NAME" plus the fields to override.
baseline: micro-28

task:
  dataset: { format: fashion-mnist, path: /usr/share/datasets/fashion-mnist } # or idx | image-folder | manifest | tfrecord | cifar10
  # image files: { format: image-folder, path: /data/train, valPath: /data/val }, and the EfficientNet recipe:
  # augment: { flip: true, randomResizedCrop: { area: [0.08, 1], aspect: [0.75, 1.333] }, cropPct: 0.875 }
  metric: accuracy # accuracy is maximized; loss and error are minimized
  score: { reduce: final, lastK: 1 } # final | mean | max over the last k epochs
  trainLimit: 2000 # use the first N training images (small, quick searches)
  valLimit: 500
  # repeats: 3 # seeds per candidate: scores become mean ± spread, and ties within the noise are reported

training: # the budget of every search candidate
  epochs: 1
  batchSize: 64

scaling:
  grid: # α (depth), β (width), γ (resolution) in [1, 2] under α·β²·γ² ≈ 2^φ
    phi: 1
    rule: exponential # or linear: d = 1 + αφ …
    alpha: { min: 1, max: 1.4, step: 0.1 }
    beta: { min: 1, max: 1.4, step: 0.1 }
    gamma: { min: 1, max: 1.4, step: 0.1 }
    tolerance: 0.1
    # random: { count: 20, seed: 1 } # sample instead of the full grid
    # limits: { maxMacs: 5e7 } # candidates above are never launched
    # strategy: halving # successive halving: rungs of minEpochs·η^k epochs, the best 1/η go on
    # halving: { eta: 3, minEpochs: 1 } # maxEpochs: training.epochs
  targets: # the family: any of
    phis: [1, 2]
    # multipliers: [4] # N× the baseline compute
    # limits: { maxMacs: 2e8, maxParamBytes: 4e6 } # the largest φ that fits

execution:
  executor: local # or kubernetes (with a kubernetes: section)
  parallelism: 2
  retries: 2
  failureBudget: 1
  # budget: { gpuHours: 2, wallTime: 3h } # stop the grid search there; the plan refuses a larger estimate

# selection: { rule: max-under, maxMacs: 2e7 } # max (default) | max-under (maxMacs, maxParams, maxLatencyMs) | pareto

final:
  finalists: 1 # retrain the largest family member(s) with:
  training: { epochs: 2, batchSize: 64 }
  # ablation: true # also train the baseline scaled along depth, width or resolution alone to the same real cost

# registry: { path: ./models } # default: <state-dir>/registry
`;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented example search spec')
    .argument('[file]', 'where to write it', 'effscale.yaml')
    .option('--force', 'overwrite an existing file')
    .action(async (file: string, flags: { force?: boolean }) => {
      if (existsSync(file) && !flags.force) throw new UsageError(`${file} exists; pass --force to overwrite it`);
      await writeFile(file, EXAMPLE);
      console.log(`wrote ${file}; run it with: effscale search ${file}`);
    });
}
