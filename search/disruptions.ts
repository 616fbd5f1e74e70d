import type { Disruption, Disruptions } from './types.js';

/** Disruptions add up per training, per chunk and per search (search/errors.ts, TRAINING_DISRUPTED). */

export function withDisruption(total: Disruptions | undefined, d: Disruption): Disruptions {
  return {
    count: (total?.count ?? 0) + 1,
    recomputedSeconds: (total?.recomputedSeconds ?? 0) + d.recomputedSeconds,
  };
}

export function sumDisruptions(all: Iterable<Disruptions | undefined>): Disruptions {
  let count = 0;
  let recomputedSeconds = 0;
  for (const d of all) {
    count += d?.count ?? 0;
    recomputedSeconds += d?.recomputedSeconds ?? 0;
  }
  return { count, recomputedSeconds };
}
