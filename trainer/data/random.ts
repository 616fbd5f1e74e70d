import { seededRandom as mulberry32 } from '../../scaling/random.js';

/** The scaling core's seeded generator, keyed by several seeds, so shuffles and augmentations replay exactly from (seed, epoch). */
export function seededRandom(...seeds: number[]): () => number {
  return mulberry32(seeds.reduce((h, s) => Math.imul(h ^ (s >>> 0), 0x9e3779b1) >>> 0, 0x811c9dc5));
}

/** Fisher–Yates permutation of 0..n-1 driven by `random`. */
export function permutation(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
