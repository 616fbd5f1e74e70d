import { spreadOf } from '../search/noise.js';

/** A score as it should be read: mean ± spread with the spread's precision, or 4 decimals without repeats. */
export function formatScore(score: number, samples?: readonly number[]): string {
  const spread = spreadOf(samples);
  if (spread === undefined) return score.toFixed(4);
  const decimals = spread > 0 ? Math.min(6, Math.max(1, 1 - Math.floor(Math.log10(spread)))) : 4;
  return `${score.toFixed(decimals)} ± ${spread.toFixed(decimals)}`;
}
