import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { chunkCandidatesQuery, progressQuery } from '../workflows/messages.js';
import { spreadField } from '../search/noise.js';
import type { ChunkCandidate } from '../search/state.js';
import { formatScore } from '../report/format.js';
import { chunkWorkflowId } from '../search/ids.js';

/**
 * The whole candidate table as Temporal knows it, from any machine that reaches the server: each chunk workflow's
 * `candidates` query (running or closed — a closed chunk answers from its history), chunk by chunk. Chunks not
 * started yet have no rows to show; they are counted.
 */
export interface SearchCandidates {
  candidates: (ChunkCandidate & { chunk: number })[];
  chunks: { total: number; notStarted: number[] };
}

export async function searchCandidates(client: Client, searchId: string): Promise<SearchCandidates> {
  const progress = await client.workflow.getHandle(searchId).query(progressQuery);
  const candidates: SearchCandidates['candidates'] = [];
  const notStarted: number[] = [];
  for (let chunk = 0; chunk < progress.chunks.total; chunk++) {
    try {
      const rows = await client.workflow.getHandle(chunkWorkflowId(searchId, chunk)).query(chunkCandidatesQuery);
      for (const row of rows) candidates.push({ ...row, chunk });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      notStarted.push(chunk);
    }
  }
  return { candidates, chunks: { total: progress.chunks.total, notStarted } };
}

/** One line per candidate: `α=1.1 β=1.2 γ=1.1   2.61M MACs  succeeded  0.812 ± 0.011  rung 2`. */
export function candidateTableText({ candidates, chunks }: SearchCandidates): string {
  const lines = candidates.map((c) => {
    const score = c.score === undefined ? '' : `  ${formatScore(c.score, c.samples)}`;
    const rung = c.scores && c.scores.length > 1 ? `  rung ${c.scores.length}` : '';
    const error = c.error ? `  ${c.error}` : '';
    return (
      `α=${c.alpha} β=${c.beta} γ=${c.gamma} ${(c.macs / 1e6).toFixed(2).padStart(9)}M MACs  ` +
      `${c.state.padEnd(9)}${score}${rung}${error}`
    );
  });
  if (chunks.notStarted.length)
    lines.push(`(${chunks.notStarted.length} of ${chunks.total} chunks not started yet: their candidates are pending)`);
  return lines.join('\n');
}

/** The JSON rows: a candidate's spread next to its seeds when it has more than one. */
export function candidateTableJson({ candidates, chunks }: SearchCandidates) {
  return {
    chunks,
    candidates: candidates.map((c) => ({ ...c, ...spreadField(c.samples) })),
  };
}
