import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArchitectureInput } from '../../../scaling/architecture.js';
import type { CandidateSpecInput } from '../../../schemas/candidate.js';

/** A small MBConv network (stem, two SE stages, head) that trains in seconds on 28×28 images. */
export function tinyArchitecture(overrides: Partial<ArchitectureInput> = {}): ArchitectureInput {
  return {
    name: 'tiny',
    resolution: 28,
    inputChannels: 1,
    stem: { filters: 16, kernel: 3, stride: 2 },
    stages: [
      { op: 'mbconv', repeats: 2, kernel: 3, stride: 1, expandRatio: 2, filters: 16, seRatio: 0.25 },
      { op: 'fused_mbconv', repeats: 1, kernel: 3, stride: 2, expandRatio: 2, filters: 32, seRatio: 0 },
    ],
    head: { filters: 64 },
    classes: 10,
    dropout: 0,
    dropConnect: 0,
    batchNorm: { momentum: 0.9, epsilon: 1e-3 },
    ...overrides,
  };
}

export function fashionSpec(id: string, overrides: Partial<CandidateSpecInput> = {}): CandidateSpecInput {
  return {
    id,
    architecture: tinyArchitecture(),
    task: { dataset: { format: 'fashion-mnist' }, trainLimit: 512, valLimit: 256 },
    training: { epochs: 1, batchSize: 32, learningRate: 3e-3, seed: 1 },
    ...overrides,
  };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `effscale-${prefix}-`));
}
