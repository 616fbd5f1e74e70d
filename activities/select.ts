import { TrainResult } from '../schemas/candidate.js';
import { resultPath } from '../trainer/result.js';
import { atLastRung } from '../search/halving.js';
import { higherIsBetter } from '../search/ranking.js';
import { selectFrom } from '../search/selection.js';
import type { SelectionOutcome } from '../search/state.js';
import type { BestCandidate } from '../search/types.js';
import { readCandidateTable } from '../store/candidate-table.js';
import { readJsonIfExists, readSearchSpec, searchPaths, writeJsonAtomic } from '../store/search-dir.js';

/**
 * The select step: which trained candidate the family is scaled from, read off the whole candidate table (not the
 * workflow's few leaders, which a resource limit could leave without an eligible one). The rule itself is
 * search/selection.ts; this reads its inputs and writes selection.json for the report, returning the same, small,
 * to the workflow.
 */
export async function selectCandidate(searchDir: string): Promise<SelectionOutcome> {
  const spec = await readSearchSpec(searchDir);
  const rule = spec.selection ?? { rule: 'max' };
  // A trained row (not one sharing another's training) with a finished rung: a candidate selection can choose.
  const scored = ((await readCandidateTable(searchDir)) ?? []).flatMap((row) =>
    row.sharesTrainingOf === undefined ? (atLastRung(row, row) ?? []) : [],
  );
  const latency = rule.maxLatencyMs !== undefined ? await latencies(searchDir, scored) : new Map<string, number>();
  const outcome = selectFrom(scored, rule, higherIsBetter(spec.task.metric), latency);
  await writeJsonAtomic(searchPaths(searchDir).selection, outcome);
  return outcome;
}

/** Each candidate's measured latency (its first seed's), for `maxLatencyMs`. */
async function latencies(searchDir: string, candidates: readonly BestCandidate[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of candidates) {
    const raw = await readJsonIfExists<unknown>(resultPath(searchPaths(searchDir).candidate(c.group)));
    const latency = raw === undefined ? undefined : TrainResult.parse(raw).latencyMs;
    if (latency !== undefined) out.set(c.group, latency);
  }
  return out;
}
