import type { SearchProgress, SearchResult } from '../workflows/state.js';
import { candidateState } from '../workflows/state.js';

/** How a search looks to a user: the `--json` document and the one-line live progress. */

export function resultDocument(result: SearchResult, temporal: { workflowId: string; ui?: string; address: string }) {
  const { state } = result;
  const finals = new Map(state.finals.map((f) => [f.member, f]));
  return {
    searchId: result.searchId,
    name: result.name,
    status: result.status,
    specHash: result.specHash,
    best: result.best && {
      alpha: result.best.alpha,
      beta: result.best.beta,
      gamma: result.best.gamma,
      score: result.best.score,
      macs: result.best.macs,
      candidate: result.best.index,
    },
    candidates: state.candidates.map((c) => {
      const group = state.groups[c.group];
      const s = candidateState(state, c);
      return {
        index: c.index,
        alpha: c.alpha,
        beta: c.beta,
        gamma: c.gamma,
        state: s,
        score: s === 'succeeded' ? (group?.score ?? null) : null,
        macs: c.macs,
        params: c.params,
        group: c.group,
        ...(c.excluded && { excluded: c.excluded }),
        ...(group?.error && s === 'failed' && { error: group.error }),
      };
    }),
    family: state.family.map((m) => ({
      name: m.name,
      phi: m.phi,
      source: m.source,
      factors: m.factors,
      resolution: m.resolution,
      macs: m.macs,
      params: m.params,
      paramBytes: m.paramBytes,
      peakActivationBytes: m.peakActivationBytes,
      final: finals.get(m.name) ?? null,
    })),
    registered: state.registered[0] ?? null,
    models: state.registered,
    runs: state.runs,
    temporal: temporal,
  };
}

export function progressLine(p: SearchProgress): string {
  const t = p.trainings;
  const total = t.pending + t.running + t.succeeded + t.failed + t.cancelled;
  const best = p.best
    ? ` best α=${p.best.alpha} β=${p.best.beta} γ=${p.best.gamma} score=${p.best.score.toFixed(4)}`
    : '';
  const eta = p.etaSeconds !== null && t.pending + t.running > 0 ? ` eta ${p.etaSeconds}s` : '';
  const paused = p.paused ? ' (paused)' : '';
  return `[${p.stage}]${paused} ${t.succeeded}/${total} trained, ${t.running} running, ${t.failed} failed, ${p.counts.excluded} excluded${best}${eta}`;
}

/** Grid points listed in the human summary; the full list is in `--json` and `effscale report`. */
const SUMMARY_CANDIDATES = 20;

type ResultDocument = ReturnType<typeof resultDocument>;

function candidateLines(doc: ResultDocument): string[] {
  const rows = doc.candidates.slice(0, SUMMARY_CANDIDATES).map((c) => {
    const mark = c.index === doc.best?.candidate ? '*' : ' ';
    const outcome = c.score !== null ? c.score.toFixed(4) : (c.error ?? c.excluded ?? '');
    return (
      `  ${mark} α=${c.alpha.toFixed(2)} β=${c.beta.toFixed(2)} γ=${c.gamma.toFixed(2)} ` +
      `${(c.macs / 1e6).toFixed(2).padStart(9)}M MACs ${c.state.padEnd(9)} ${outcome}`
    );
  });
  const more = doc.candidates.length - rows.length;
  if (more > 0) rows.push(`  … ${more} more: \`effscale result ${doc.searchId} --json\` or \`effscale report\``);
  return [`candidates (* = chosen):`, ...rows];
}

export function humanSummary(doc: ResultDocument): string {
  const lines = [`search ${doc.searchId}: ${doc.status}`, ...candidateLines(doc)];
  if (doc.best) lines.push(`best α=${doc.best.alpha} β=${doc.best.beta} γ=${doc.best.gamma} score=${doc.best.score}`);
  lines.push('family:');
  for (const m of doc.family) {
    const score = m.final?.score !== undefined ? ` final score ${m.final.score.toFixed(4)}` : '';
    lines.push(
      `  ${m.name} (${m.source}): d=${m.factors.depth} w=${m.factors.width} r=${m.factors.resolution} ` +
        `${m.resolution}px ${(m.macs / 1e6).toFixed(2)}M MACs ${(m.params / 1e3).toFixed(1)}k params${score}`,
    );
  }
  for (const r of doc.models) lines.push(`registered ${r.name}@${r.version} at ${r.uri}`);
  if (doc.temporal.ui) lines.push(`Temporal UI: ${doc.temporal.ui}`);
  return lines.join('\n');
}
