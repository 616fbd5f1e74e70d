import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  sleep,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { PlannedTraining, TrainingRecord, BestCandidate } from '../search/types.js';
import { atLastRung, nextPromotion, rungCounts, scoresOf } from '../search/halving.js';
import { mean } from '../search/noise.js';
import {
  bookkeeping,
  disruptionOf,
  failureMessage,
  isInterruption,
  isTrainerTooOld,
  train,
  trainings,
} from './activities.js';
import { disruptionBackoffMs, sumDisruptions, withDisruption } from '../search/disruptions.js';
import {
  chunkBestSignal,
  chunkCandidatesQuery,
  chunkHandoffSignal,
  chunkProgressQuery,
  chunkSettingsSignal,
  chunkSpendSignal,
} from './messages.js';
import { emptyCounts, type ChunkProgress, type ChunkSummary, type SearchOptions, type Spend } from '../search/state.js';
import { TrainingWindow } from './window.js';
import { LEADERS, mergeLeaders, ranksBefore } from '../search/ranking.js';
import { repeatCandidateId } from '../search/ids.js';

export interface ChunkInput {
  searchId: string;
  chunk: number;
  /** The search's options (search/run.ts). */
  options: SearchOptions;
  settings: { parallelism: number; paused: boolean };
  /** Failed trainings this chunk may hold before the search's failure budget is exceeded. */
  failuresAllowed: number;
  /** The search's best so far: only a better candidate is signalled to it. */
  best: BestCandidate | null;
  /** The compute budget left when the chunk started: device-seconds, and the wall-clock deadline (ms). */
  budget: ChunkBudget | null;
}

export interface ChunkBudget {
  deviceSeconds?: number;
  deadline?: number;
}

const SPEND_REPORT_MS = 60_000;

type Outcome = 'done' | 'overBudget' | 'budgetReached' | 'continue' | 'handoff' | 'refused';

/**
 * One chunk of the search's trainings (at most `execution.chunkSize`), trained in the search's window, rung by
 * rung under successive halving (halving.ts). Its records go to the candidate table in the store whenever it
 * closes or continues as new; the search gets a summary. A rung recorded as finished by an earlier run of the
 * chunk is never trained again. When the compute budget runs out it stops its trainings (each checkpoints) and
 * launches no more.
 */
class ChunkRun {
  private readonly acts = bookkeeping();
  private readonly training;
  private readonly window: TrainingWindow;
  /** The trainings' scope: the budget cancels it, and with it every running training, not the chunk. */
  private readonly launches = new CancellationScope();
  private readonly records = new Map<string, TrainingRecord>();
  /** When each running training was launched (workflow time): its spend so far. */
  private readonly launchedAt = new Map<string, number>();
  private budgetReached = false;
  /**
   * Why the chunk stops its trainings (their checkpoints kept) and leaves them pending: the search moves to another
   * version, or the trainer refused a candidate as too new for it (search/errors.ts, TRAINER_TOO_OLD).
   */
  private stop: { outcome: 'handoff' } | { outcome: 'refused'; message: string } | null = null;
  private spendReportedAt = 0;
  private trainings: PlannedTraining[] = [];
  private cursor = 0;
  private best: BestCandidate | null;

  constructor(private readonly input: ChunkInput) {
    this.training = trainings(input.options);
    this.window = new TrainingWindow(input.settings.parallelism, input.settings.paused);
    this.best = input.best;
  }

  handle(): void {
    setHandler(chunkProgressQuery, () => this.progress());
    setHandler(chunkCandidatesQuery, () =>
      this.trainings.map((t) => ({ ...t, ...(this.records.get(t.group) ?? { state: 'pending' as const }) })),
    );
    setHandler(chunkSettingsSignal, ({ parallelism, paused }) => {
      this.window.parallelism = parallelism;
      this.window.paused = paused;
      this.window.wake();
    });
    setHandler(chunkHandoffSignal, () => this.stopAll({ outcome: 'handoff' }));
  }

  async run(): Promise<ChunkSummary> {
    const { searchId, chunk } = this.input;
    const loaded = await this.acts.loadChunk({ searchId, chunk });
    this.trainings = loaded.trainings;
    for (const t of this.trainings) {
      const earlier = loaded.recorded[t.group];
      const finished = earlier?.state === 'succeeded' || earlier?.state === 'failed';
      // A training stopped mid-rung trains that rung again, from its checkpoint; its earlier rungs stay.
      this.records.set(t.group, finished ? earlier : { ...earlier, state: 'pending' });
    }
    let outcome: Outcome;
    try {
      outcome = await this.trainAll();
    } catch (err) {
      await CancellationScope.nonCancellable(async () => {
        await this.window.settle();
        await this.record();
      });
      throw err;
    }
    await this.record();
    // A move that arrived as the chunk was about to continue as new: its next run belongs to the new version.
    if (outcome === 'continue' && this.stop) return this.summary(this.stop.outcome);
    if (outcome === 'continue') {
      await condition(allHandlersFinished);
      return await continueAsNew<typeof chunkWorkflow>({
        ...this.input,
        settings: { parallelism: this.window.parallelism, paused: this.window.paused },
        best: this.best,
      });
    }
    return this.summary(outcome);
  }

  private stopAll(stop: NonNullable<ChunkRun['stop']>): void {
    this.stop ??= stop;
    this.launches.cancel();
    this.window.wake();
  }

  private async trainAll(): Promise<Outcome> {
    for (;;) {
      if (this.stop) {
        if (this.window.size === 0) return this.stop.outcome;
        await this.window.changed();
        continue;
      }
      if (!this.budgetReached && this.budgetLeft() <= 0) {
        this.budgetReached = true;
        this.launches.cancel();
      }
      const overBudget = this.count('failed') > this.input.failuresAllowed;
      const info = workflowInfo();
      const wantsNew = info.continueAsNewSuggested || info.historyLength >= this.input.options.continueAsNewAfter;
      const next = this.budgetReached ? undefined : this.nextWork();
      if (next && this.window.hasRoom() && !overBudget && !wantsNew) {
        this.launch(next);
        continue;
      }
      if (this.window.size === 0) {
        if (this.budgetReached) return 'budgetReached';
        if (overBudget) return 'overBudget';
        if (!next) return 'done';
        if (wantsNew) return 'continue';
      }
      const left = this.budgetLeft();
      await this.window.changed(Number.isFinite(left) && !this.budgetReached ? left * 1000 : undefined);
    }
  }

  /** ASHA: a due promotion first (highest rung first), else a training that has not finished its rung. */
  private nextWork(): PlannedTraining | undefined {
    const { rungs, eta, higherIsBetter, costLimits } = this.input.options;
    const promotion = nextPromotion(this.trainings, this.records, rungs.length, eta, higherIsBetter, costLimits);
    if (promotion) {
      const record = this.records.get(promotion.training.group);
      this.records.set(promotion.training.group, { ...record, state: 'pending', rung: promotion.rung });
      return promotion.training;
    }
    return this.nextPending();
  }

  /** Seconds until the budget runs out at the present rate of spending; Infinity without a budget. */
  private budgetLeft(): number {
    const budget = this.input.budget;
    if (!budget) return Infinity;
    const now = Date.now();
    let left = budget.deadline === undefined ? Infinity : (budget.deadline - now) / 1000;
    if (budget.deviceSeconds !== undefined)
      left = Math.min(left, (budget.deviceSeconds - this.spend(now).seconds) / Math.max(1, this.window.size));
    return left;
  }

  private nextPending(): PlannedTraining | undefined {
    while (this.cursor < this.trainings.length) {
      const t = this.trainings[this.cursor];
      if (this.records.get(t.group)?.state === 'pending') return t;
      this.cursor++;
    }
    return undefined;
  }

  private launch(t: PlannedTraining): void {
    const before = this.records.get(t.group) ?? { state: 'pending' };
    const rung = before.rung ?? 0;
    const disruptions = before.disruptions && { disruptions: before.disruptions };
    const scores = scoresOf(before).slice(0, rung);
    const launchedAt = Date.now();
    // Every attempt costs its slot's time, launch to end, as this workflow saw it (trainer start-up included).
    const spentSoFar = () => (before.seconds ?? 0) + (Date.now() - launchedAt) / 1000;
    this.records.set(t.group, { ...before, state: 'running', rung });
    this.launchedAt.set(t.group, launchedAt);
    this.window.launch(t.group, async () => {
      try {
        const samples = await this.launches.run(() => this.trainRung(t, rung));
        const score = mean(samples);
        const done = { rung, scores: [...scores, score], score, seconds: spentSoFar(), ...disruptions };
        this.records.set(t.group, { state: 'succeeded', ...done, ...(samples.length > 1 && { samples }) });
        this.noteScore(t, score, rung, samples);
      } catch (err) {
        // Stopped or failed attempts cost what they ran; the rungs finished before stay.
        const kept = { rung, scores, seconds: spentSoFar(), ...disruptions };
        const disrupted = disruptionOf(err);
        if (disrupted) {
          const counted = withDisruption(before.disruptions, disrupted);
          // The slot waits with it: a full disk or a drained node pool needs a while.
          await this.launches.run(() => sleep(disruptionBackoffMs(counted.count))).catch(() => undefined);
          this.records.set(t.group, { state: 'pending', ...kept, disruptions: counted });
          this.cursor = 0;
          return;
        }
        if (isTrainerTooOld(err)) this.stopAll({ outcome: 'refused', message: failureMessage(err) });
        if (isInterruption(err) || isTrainerTooOld(err) || (this.stop && isCancellation(err))) {
          this.records.set(t.group, { state: 'pending', ...kept });
          this.cursor = 0;
          return;
        }
        const cancelled = isCancellation(err);
        this.records.set(
          t.group,
          cancelled ? { state: 'cancelled', ...kept } : { state: 'failed', ...kept, error: failureMessage(err) },
        );
      } finally {
        this.launchedAt.delete(t.group);
        this.reportSpend();
      }
    });
  }

  /**
   * One rung of a candidate: each of its seeds in turn, in the candidate's slot (a slot is one device). A seed that
   * finished the rung before (an interrupted slot run again) returns its result without training.
   */
  private async trainRung(t: PlannedTraining, rung: number): Promise<number[]> {
    const { rungs, repeats = 1 } = this.input.options;
    const halving = rungs.length > 1;
    const samples: number[] = [];
    for (let repeat = 0; repeat < repeats; repeat++) {
      const out = await train(
        this.training,
        {
          searchId: this.input.searchId,
          candidateId: repeatCandidateId(t.group, repeat),
          budget: 'search',
          coefficients: { alpha: t.alpha, beta: t.beta, gamma: t.gamma },
          ...(halving && { epochs: rungs[rung] }),
          ...(repeat > 0 && { repeat }),
          labels: {
            alpha: String(t.alpha),
            beta: String(t.beta),
            gamma: String(t.gamma),
            ...(halving && { rung: String(rung) }),
            ...(repeats > 1 && { repeat: String(repeat) }),
          },
        },
        `search α=${t.alpha} β=${t.beta} γ=${t.gamma}` +
          (halving ? ` rung ${rung + 1}/${rungs.length}, to epoch ${rungs[rung]}` : '') +
          (repeats > 1 ? ` seed ${repeat + 1}/${repeats}` : ''),
      );
      samples.push(out.score);
    }
    return samples;
  }

  /** The search's spend attribute follows the chunk's, at most once a minute (each report is a history event). */
  private reportSpend(): void {
    const now = Date.now();
    if (now - this.spendReportedAt < SPEND_REPORT_MS) return;
    this.spendReportedAt = now;
    signalSearch(chunkSpendSignal, this.spend(now));
  }

  /** A new best of the whole search goes to the search at once: its query and best-score attribute stay live. */
  private noteScore(t: PlannedTraining, score: number, rung: number, samples: number[]): void {
    const candidate: BestCandidate = { ...t, score, rung, ...(samples.length > 1 && { samples }) };
    if (this.best && !ranksBefore(candidate, this.best, this.input.options.higherIsBetter)) return;
    this.best = candidate;
    signalSearch(chunkBestSignal, candidate);
  }

  private async record(): Promise<void> {
    await this.acts.recordChunk({
      searchId: this.input.searchId,
      chunk: this.input.chunk,
      records: Object.fromEntries(this.records),
    });
  }

  private count(state: TrainingRecord['state']): number {
    let n = 0;
    for (const r of this.records.values()) if (r.state === state) n++;
    return n;
  }

  /** Every training with a finished rung, scored at its last one (a later rung stopped by the budget included). */
  private scored(): BestCandidate[] {
    return this.trainings.flatMap((t) => atLastRung(t, this.records.get(t.group)) ?? []);
  }

  /** Device-seconds of every attempt so far (running ones until `now`) and the work of the finished rungs. */
  private spend(now: number): Spend {
    const { rungs } = this.input.options;
    let seconds = 0;
    let work = 0;
    for (const t of this.trainings) {
      const r = this.records.get(t.group);
      seconds += r?.seconds ?? 0;
      const finished = scoresOf(r).length;
      if (finished) work += t.macs * rungs[finished - 1] * (this.input.options.repeats ?? 1);
    }
    for (const at of this.launchedAt.values()) seconds += (now - at) / 1000;
    return { seconds, work };
  }

  private progress(): ChunkProgress {
    const trainings = emptyCounts();
    for (const r of this.records.values()) trainings[r.state]++;
    return {
      trainings,
      rungs: rungCounts(this.records.values(), this.input.options.rungs),
      best: mergeLeaders([], this.scored(), this.input.options.higherIsBetter)[0] ?? null,
      spend: this.spend(Date.now()),
      disruptions: sumDisruptions([...this.records.values()].map((r) => r.disruptions)),
    };
  }

  private summary(outcome: Outcome): ChunkSummary {
    const { trainings, rungs, spend, disruptions } = this.progress();
    const errors = [...this.records.values()].flatMap((r) => (r.error ? [r.error] : [])).slice(0, 3);
    const leaders = mergeLeaders([], this.scored(), this.input.options.higherIsBetter).slice(0, LEADERS);
    return {
      counts: trainings,
      rungs,
      spend,
      leaders,
      errors,
      overBudget: outcome === 'overBudget',
      budgetReached: outcome === 'budgetReached',
      ...(outcome === 'handoff' && { handedOff: true }),
      ...(this.stop?.outcome === 'refused' && { refused: this.stop.message }),
      ...(disruptions.count > 0 && { disruptions }),
    };
  }
}

/**
 * Tells the search (the chunk's parent; none when a chunk runs alone) without waiting. The search may already be
 * closing (cancelled): the chunk's summary carries the same facts anyway.
 */
function signalSearch<T>(signal: SignalDefinition<[T]>, value: T): void {
  const parent = workflowInfo().parent;
  if (!parent) return;
  void getExternalWorkflowHandle(parent.workflowId)
    .signal(signal, value)
    .catch(() => undefined);
}

export async function chunkWorkflow(input: ChunkInput): Promise<ChunkSummary> {
  const chunk = new ChunkRun(input);
  chunk.handle();
  return chunk.run();
}
