import { spreadOf } from './noise.js';
import { beats, lead as leadOf } from './ranking.js';

/**
 * The ablation's verdict in one sentence: did the compound member beat the single-dimension scalings of the same
 * real cost, by how much, and is that more than the noise the search measured between seeds?
 */

interface ArmScore {
  name: string;
  score?: number;
}

export function ablationVerdict(
  compound: { name: string; score?: number },
  arms: readonly ArmScore[],
  higherIsBetter: boolean,
  noise: readonly number[] | undefined,
): string {
  const single = arms.filter((a) => a.name !== 'baseline' && a.score !== undefined) as Required<ArmScore>[];
  if (compound.score === undefined || single.length === 0) return 'the ablation did not finish: no verdict';
  const best = single.reduce((a, b) => (beats(b.score, a.score, higherIsBetter) ? b : a));
  const lead = leadOf(compound.score, best.score, higherIsBetter);
  const outcome = lead > 0 ? 'won' : lead < 0 ? 'lost' : 'tied';
  return (
    `compound scaling (${compound.name}, ${compound.score.toFixed(4)}) ${outcome} ` +
    `${outcome === 'tied' ? 'with' : 'by ' + Math.abs(lead).toFixed(4) + ' against'} the best single dimension ` +
    `(${best.name}, ${best.score.toFixed(4)})${noiseNote(lead, noise)}`
  );
}

/**
 * Each arm trains one seed, so two arms differ by noise of about spread·√2; a lead within 1.96 of that is not
 * evidence either way.
 */
function noiseNote(lead: number, noise: readonly number[] | undefined): string {
  const spread = spreadOf(noise);
  if (spread === undefined) return ' (noise unknown: task.repeats > 1 measures it)';
  const band = 1.96 * Math.SQRT2 * spread;
  return `, ${Math.abs(lead) <= band ? 'within' : 'beyond'} the noise (±${band.toFixed(4)} between single seeds)`;
}
