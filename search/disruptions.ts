import type { Disruption, Disruptions } from './types.js';

/** Disruptions add up per training, per chunk and per search (search/errors.ts, TRAINING_DISRUPTED). */

export function withDisruption(total: Disruptions | undefined, d: Disruption): Disruptions {
  return {
    count: (total?.count ?? 0) + 1,
    recomputedSeconds: (total?.recomputedSeconds ?? 0) + d.recomputedSeconds,
  };
}

/**
 * How long a disrupted training waits before it is launched again, by how often it has been disrupted: at once
 * for a lone preemption, minutes for a full disk or a drained node pool (1 s, doubling, at most 5 min).
 */
export function disruptionBackoffMs(count: number): number {
  return Math.min(300, 2 ** Math.max(0, count - 1)) * 1000;
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
