import type { CandidateRow } from '../store/candidate-table.js';
import { hours } from '../search/estimate.js';
import { spreadField } from '../search/noise.js';
import { disruptionsOf, type SearchProgress, type SearchResult, type SelectionOutcome } from '../search/state.js';
import type { Outcome } from './follow.js';
import { formatScore } from '../report/format.js';
import { selectionVerdict } from '../search/selection.js';
import type { Disruptions, TrainingHeartbeat } from '../search/types.js';

/** How a search looks to a user: the `--json` document and the one-line live progress. */

/** Which rows of the candidate table a result document lists (`effscale result --offset --limit`). */
export interface TablePage {
  offset: number;
  limit: number;
}

export const DEFAULT_PAGE: TablePage = { offset: 0, limit: 1000 };

/**
 * `table` is the candidate table read from the store (absent when this machine cannot see the workers' store, in
 * cluster mode without `--state-dir`): the document then lists the leaders only.
 */
export function resultDocument(
  result: SearchResult,
  temporal: { workflowId: string; ui?: string; address: string },
  table: CandidateRow[] | undefined,
  page: TablePage = DEFAULT_PAGE,
) {
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
      ...noiseOf(result.best.samples),
      macs: result.best.macs,
      candidate: result.best.index,
    },
    selection: state.selection ? { ...state.selection, verdict: selectionVerdict(state.selection) } : null,
    points: { total: state.points, excluded: state.excluded, trainings: state.trainings },
    spend: {
      deviceHours: result.spend.seconds / 3600,
      work: result.spend.work,
      stoppedByBudget: state.stoppedBy === 'budget',
    },
    disruptions: disruptionsOf(state),
    leaders: state.leaders,
    candidatesTotal: table?.length ?? null,
    candidatesOffset: page.offset,
    candidates: table?.slice(page.offset, page.offset + page.limit).map(candidateJson) ?? null,
    family: state.family.map((m) => ({
      name: m.name,
      phi: m.phi,
      source: m.source,
      target: m.target,
      multiplier: m.multiplier,
      ...(m.costWarning && { costWarning: m.costWarning }),
      factors: m.factors,
      resolution: m.resolution,
      macs: m.macs,
      params: m.params,
      paramBytes: m.paramBytes,
      peakActivationBytes: m.peakActivationBytes,
      final: finals.get(m.name) ?? null,
    })),
    ablation: state.ablation
      ? { verdict: state.ablationVerdict ?? null, compound: state.finals[0] ?? null, arms: state.ablation }
      : null,
    registered: state.registered[0] ?? null,
    models: state.registered,
    runs: state.runs,
    temporal: temporal,
  };
}

function candidateJson(c: CandidateRow) {
  return {
    index: c.index,
    alpha: c.alpha,
    beta: c.beta,
    gamma: c.gamma,
    state: c.state,
    score: c.score ?? null,
    ...noiseOf(c.samples),
    ...(c.scores && { rung: c.rung ?? 0, scores: c.scores }),
    macs: c.macs,
    params: c.params,
    group: c.group,
    ...(c.excluded && { excluded: c.excluded }),
    ...(c.error && { error: c.error }),
  };
}

/** A score's seeds and their spread, when it has more than one. */
function noiseOf(samples: number[] | undefined): { spread?: number; samples?: number[] } {
  const field = spreadField(samples);
  return field.spread === undefined ? {} : { ...field, samples };
}

/** The select step's verdict, and the candidates tied with the winner. */
function selectionLines(s: (SelectionOutcome & { verdict: string }) | undefined): string[] {
  if (!s) return [];
  const tied = (s.tied ?? []).map(
    (c) => `    ≈ α=${c.alpha} β=${c.beta} γ=${c.gamma} ${formatScore(c.score, c.samples)}`,
  );
  return [s.verdict, ...tied];
}

export function progressLine(p: SearchProgress): string {
  const t = p.trainings;
  const total = t.pending + t.running + t.succeeded + t.failed + t.cancelled;
  const best = p.best
    ? ` best α=${p.best.alpha} β=${p.best.beta} γ=${p.best.gamma} score=${formatScore(p.best.score, p.best.samples)}`
    : '';
  const eta = p.etaSeconds !== null && t.pending + t.running > 0 ? ` eta ${p.etaSeconds}s` : '';
  const paused = p.paused ? ' (paused)' : '';
  return (
    `[${p.stage}]${paused} ${t.succeeded}/${total} trained, ${t.running} running, ${t.failed} failed, ` +
    `${p.points.excluded} excluded${disruptedText(p.disruptions)}${rungsText(p)}${best}${spendText(p)}${eta}`
  );
}

/** `, 3 disrupted` (node loss, preemption, eviction: trained again, not failures); nothing when none was. */
function disruptedText(d: Disruptions | undefined): string {
  return d?.count ? `, ${d.count} disrupted` : '';
}

/** `rungs 1/3/9 ep: 12/4/1 done` under successive halving; nothing for an exhaustive search. */
function rungsText(p: SearchProgress): string {
  if (p.rungs.length < 2) return '';
  const epochs = p.rungs.map((r) => r.epochs).join('/');
  const done = p.rungs.map((r) => r.finished).join('/');
  const active = p.rungs.flatMap((r, k) => (r.running > 0 ? [k + 1] : []));
  return `, rungs ${epochs} ep: ${done} done${active.length ? ` (training rung ${active.join(', ')})` : ''}`;
}

/** Device-hours spent, of the budget, and the measured estimate still to spend. */
function spendText(p: SearchProgress): string {
  if (!p.spend.seconds) return '';
  const budget = p.budget?.deviceSeconds ? ` of ${hours(p.budget.deviceSeconds)}` : '';
  const left = p.toFinishSeconds ? `, ~${hours(p.toFinishSeconds)} to go` : '';
  const stopped = p.stoppedBy === 'budget' ? ' (budget reached)' : '';
  return ` spent ${hours(p.spend.seconds)}${budget} device-h${left}${stopped}`;
}

type ResultDocument = ReturnType<typeof resultDocument>;

/** The best few candidates (the search keeps them) and a few failures; `--json` and `report` have the rest. */
function candidateLines(doc: ResultDocument): string[] {
  const p = doc.points;
  const lines = [
    `${p.total} grid points, ${p.trainings} distinct trainings, ${p.excluded} excluded; best (* = chosen):`,
  ];
  const halving = doc.leaders.some((c) => (c.rung ?? 0) > 0);
  for (const c of doc.leaders) {
    const mark = c.index === doc.best?.candidate ? '*' : ' ';
    const rung = halving ? `  rung ${(c.rung ?? 0) + 1}` : '';
    lines.push(
      `  ${mark} α=${c.alpha.toFixed(2)} β=${c.beta.toFixed(2)} γ=${c.gamma.toFixed(2)} ` +
        `${(c.macs / 1e6).toFixed(2).padStart(9)}M MACs  ${formatScore(c.score, c.samples)}${rung}`,
    );
  }
  const failed = doc.candidates?.filter((c) => c.state === 'failed') ?? [];
  for (const c of failed.slice(0, 3)) lines.push(`    α=${c.alpha} β=${c.beta} γ=${c.gamma} failed: ${c.error ?? ''}`);
  lines.push(`  every candidate: \`effscale result ${doc.searchId} --json\` or \`effscale report ${doc.searchId}\``);
  return lines;
}

export function humanSummary(doc: ResultDocument): string {
  const lines = [`search ${doc.searchId}: ${doc.status}`, ...candidateLines(doc)];
  if (doc.best) {
    const score = formatScore(doc.best.score, doc.best.samples);
    lines.push(`best α=${doc.best.alpha} β=${doc.best.beta} γ=${doc.best.gamma} score=${score}`);
  }
  lines.push(...selectionLines(doc.selection ?? undefined));
  const spent = `the grid's trainings took ${hours(doc.spend.deviceHours * 3600)} device-hours`;
  lines.push(doc.spend.stoppedByBudget ? `${spent}: the compute budget ended the search early` : spent);
  const { disruptions } = doc;
  if (disruptions.count)
    lines.push(
      `${disruptions.count} trainings disrupted (node loss, preemption, eviction) and trained again from their ` +
        `checkpoints, ${hours(disruptions.recomputedSeconds)} device-hours recomputed; not counted as failures`,
    );
  lines.push('family:');
  for (const m of doc.family) {
    const score = m.final?.score !== undefined ? ` final score ${m.final.score.toFixed(4)}` : '';
    lines.push(
      `  ${m.name} (${m.source}): d=${m.factors.depth} w=${m.factors.width} r=${m.factors.resolution} ` +
        `${m.resolution}px ${(m.macs / 1e6).toFixed(2)}M MACs (×${m.multiplier.toFixed(2)} of ×${m.target}) ` +
        `${(m.params / 1e3).toFixed(1)}k params${score}`,
    );
    if (m.costWarning) lines.push(`    warning: ${m.costWarning}`);
  }
  lines.push(...ablationLines(doc.ablation));
  for (const r of doc.models) lines.push(`registered ${r.name}@${r.version} at ${r.uri}`);
  if (doc.temporal.ui) lines.push(`Temporal UI: ${doc.temporal.ui}`);
  return lines.join('\n');
}

/** The ablation arms next to the compound member they are compared with, and the verdict. */
function ablationLines(a: ResultDocument['ablation']): string[] {
  if (!a) return [];
  const score = (x: { score?: number; state: string }) => (x.score !== undefined ? x.score.toFixed(4) : x.state);
  const lines = ['ablation (final budget, same real multiply-adds):'];
  if (a.compound) lines.push(`  compound ${a.compound.member}: ${score(a.compound)}`);
  for (const arm of a.arms)
    lines.push(
      `  ${arm.name}: d=${arm.factors.depth} w=${arm.factors.width} r=${arm.factors.resolution} ` +
        `×${arm.multiplier.toFixed(2)} ${score(arm)}`,
    );
  if (a.verdict) lines.push(`  ${a.verdict}`);
  return lines;
}

/** One running training: `g96ee1bc382d4 epoch 1/3 batch 30/80 loss 0.712 410 img/s`. */
export function trainingLine(h: TrainingHeartbeat): string {
  const parts = [h.candidateId];
  if (h.epoch !== undefined) parts.push(`epoch ${h.epoch}${h.epochs ? `/${h.epochs}` : ''}`);
  if (h.batch !== undefined) parts.push(`batch ${h.batch}/${h.batches}`);
  if (h.loss !== undefined) parts.push(`loss ${h.loss.toFixed(3)}`);
  if (h.imagesPerSecond !== undefined) parts.push(`${Math.round(h.imagesPerSecond)} img/s`);
  return parts.join(' ');
}

const TRAINING_LINES_EVERY_MS = 10_000;

/**
 * The live progress on stderr: the search's line when it changes, the running trainings every 10 s. The 10 s
 * start from the first report that shows a training's progress: trainers still starting (only an id to show) do
 * not hold the first real progress back for 10 s, nor make a short search show none.
 */
export function progressPrinter(): (p: SearchProgress, running?: TrainingHeartbeat[]) => void {
  let last = '';
  let lastTrainings = -Infinity;
  return (p, running = []) => {
    const line = progressLine(p);
    if (line !== last) console.error(`effscale: ${line}`);
    last = line;
    const progressing = running.filter((h) => h.batch !== undefined);
    if (progressing.length && performance.now() - lastTrainings >= TRAINING_LINES_EVERY_MS) {
      lastTrainings = performance.now();
      for (const h of progressing) console.error(`effscale:   ${trainingLine(h)}`);
    }
  };
}

/** Exit codes of `search`, `result` and `extend`: 0 completed, 1 failed, 3 cancelled, 128 + signal interrupted. */
export const EXIT = { completed: 0, failed: 1, cancelled: 3 } as const;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Prints what a followed search came to (the result on stdout, the rest on stderr); returns the exit code. */
export function printOutcome(
  outcome: Outcome & { interrupted?: NodeJS.Signals },
  how: { temporal: { workflowId: string; ui?: string; address: string }; json: boolean; resume: string },
): number {
  const id = how.temporal.workflowId;
  if (outcome.interrupted) {
    console.error(`effscale: search ${id} interrupted; finished trainings are kept. Continue it with: ${how.resume}`);
    return SIGNAL_EXIT[outcome.interrupted] ?? 130;
  }
  if (outcome.result) {
    const doc = resultDocument(outcome.result, how.temporal, outcome.table);
    console.log(how.json ? JSON.stringify(doc, null, 2) : humanSummary(doc));
  }
  if (outcome.error) {
    console.error(`effscale: search ${id} failed: ${outcome.error}`);
    return EXIT.failed;
  }
  if (outcome.result?.status === 'cancelled') {
    console.error(`effscale: search ${id} was cancelled; \`${how.resume}\` does not restart a cancelled search`);
    return EXIT.cancelled;
  }
  return outcome.result ? EXIT.completed : EXIT.failed;
}
