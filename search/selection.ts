import type { Selection } from '../schemas/search.js';
import { withinCostLimits } from './limits.js';
import { spreadOf, tied } from './noise.js';
import { beats, byRank } from './ranking.js';
import type { SelectionOutcome } from './state.js';
import type { BestCandidate } from './types.js';

/**
 * Selection: which scored candidate the family is scaled from. Ranks as the search does (further through
 * successive halving first, then the mean score, then fewer multiply-adds); says whether the winner's margin is
 * within the noise and which candidates are tied with it; marks the Pareto set of score against multiply-adds.
 */

/** A candidate as selection ranks it, with its parameters for max-under. */
type Candidate = BestCandidate & { params?: number };

/** At most this many tied candidates and Pareto points travel in the workflow's state. */
const LISTED = 20;

/** The rule's choice among the scored candidates; `latency` holds the measured ms per image by group. */
export function selectFrom(
  scored: readonly Candidate[],
  rule: Selection,
  higherIsBetter: boolean,
  latency: ReadonlyMap<string, number>,
): SelectionOutcome {
  const eligible = scored.filter((c) => !overLimit(c, rule, latency));
  const ranked = [...eligible].sort(byRank(higherIsBetter));
  const chosen = ranked[0] ?? null;
  const peers = chosen ? ranked.filter((c) => (c.rung ?? 0) === (chosen.rung ?? 0)) : [];
  const runnerUp = peers[1];
  const noiseKnown = chosen !== null && spreadOf(chosen.samples) !== undefined;
  const refused = rule.rule === 'max-under' && chosen === null && scored.length > 0;
  return {
    rule: rule.rule,
    chosen,
    eligible: eligible.length,
    ineligible: scored.length - eligible.length,
    margin: chosen && runnerUp ? Math.abs(chosen.score - runnerUp.score) : null,
    withinNoise: chosen && runnerUp ? (tied(chosen, runnerUp) ?? null) : null,
    tied: noiseKnown
      ? peers
          .slice(1)
          .filter((c) => tied(chosen, c))
          .slice(0, LISTED)
      : null,
    pareto: paretoSet(peers, higherIsBetter)
      .slice(0, LISTED)
      .map((c) => c.index),
    ...(refused ? { refusal: refusal(scored, rule, latency) } : {}),
  };
}

/** How sure the choice is, in a sentence: the margin against the noise, and how many are tied with the winner. */
export function selectionVerdict(s: SelectionOutcome): string {
  const rule = s.rule === 'max' ? '' : ` by rule ${s.rule} (${s.eligible} eligible, ${s.ineligible} over its limits)`;
  if (!s.chosen) return `nothing chosen${rule}${s.refusal ? `: ${s.refusal}` : ''}`;
  if (s.margin === null) return `chosen${rule}: the only scored candidate at its rung`;
  const margin =
    s.margin === 0
      ? 'it ties the runner-up exactly and costs fewer multiply-adds'
      : `it leads the runner-up by ${s.margin.toFixed(4)}`;
  if (s.withinNoise === null)
    return `chosen${rule}: ${margin}; the noise is unknown (task.repeats: 1): repeats ≥ 2 tell a lead from noise`;
  if (!s.withinNoise) return `chosen${rule}: ${margin}, beyond the noise (Welch 95 %): no candidate is tied with it`;
  const n = s.tied?.length ?? 0;
  return `chosen${rule}: ${margin}, within the noise (Welch 95 %): statistically tied with ${n} other${n === 1 ? '' : 's'}`;
}

function overLimit(c: Candidate, rule: Selection, latency: ReadonlyMap<string, number>): boolean {
  if (rule.rule !== 'max-under') return false;
  if (!withinCostLimits(c, rule)) return true;
  // A candidate whose trainer measured no latency cannot be shown to be under the limit.
  if (rule.maxLatencyMs !== undefined && !((latency.get(c.group) ?? Infinity) <= rule.maxLatencyMs)) return true;
  return false;
}

/** Why max-under found nothing: the smallest of each limited resource among the trained candidates. */
function refusal(scored: readonly Candidate[], rule: Selection, latency: ReadonlyMap<string, number>): string {
  const least = (f: (c: Candidate) => number) => Math.min(...scored.map(f));
  const parts: string[] = [];
  if (rule.maxMacs !== undefined) parts.push(`selection.maxMacs ${rule.maxMacs} (least ${least((c) => c.macs)})`);
  if (rule.maxParams !== undefined)
    parts.push(`selection.maxParams ${rule.maxParams} (least ${least((c) => c.params ?? Infinity)})`);
  if (rule.maxLatencyMs !== undefined)
    parts.push(
      `selection.maxLatencyMs ${rule.maxLatencyMs} (least ${least((c) => latency.get(c.group) ?? Infinity)} ms)`,
    );
  return `no trained candidate is within ${parts.join(' and ')}`;
}

/**
 * The candidates no other beats on both score and multiply-adds (at least as good on both, better on one), cheapest
 * first: the choices a user trading accuracy for compute would consider.
 */
export function paretoSet<T extends { score: number; macs: number }>(
  candidates: readonly T[],
  higherIsBetter: boolean,
): T[] {
  const better = (a: number, b: number) => beats(a, b, higherIsBetter);
  const atLeast = (a: number, b: number) => a === b || better(a, b);
  const dominates = (a: T, b: T) =>
    a.macs <= b.macs && atLeast(a.score, b.score) && (a.macs < b.macs || better(a.score, b.score));
  return candidates.filter((c) => !candidates.some((o) => o !== c && dominates(o, c))).sort((a, b) => a.macs - b.macs);
}
