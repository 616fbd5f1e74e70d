import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Training, TrainingRecord } from '../activities/types.js';
import { bookkeeping, failureMessage, isInterruption, trainings, type TrainingOptions } from './activities.js';
import { chunkBestSignal, chunkProgressQuery, chunkSettingsSignal } from './messages.js';
import {
  emptyCounts,
  LEADERS,
  mergeLeaders,
  ranksBefore,
  type BestCandidate,
  type ChunkProgress,
  type ChunkSummary,
  type SearchOptions,
} from './state.js';
import { TrainingWindow } from './window.js';

export interface ChunkInput {
  searchId: string;
  chunk: number;
  options: TrainingOptions & Pick<SearchOptions, 'higherIsBetter' | 'continueAsNewAfter'>;
  settings: { parallelism: number; paused: boolean };
  /** Failed trainings this chunk may hold before the search's failure budget is exceeded. */
  failuresAllowed: number;
  /** The search's best so far: only a better candidate is signalled to it. */
  best: BestCandidate | null;
}

/** One stable id per chunk: a chunk started again (a resumed search) continues the same records. */
export function chunkWorkflowId(searchId: string, chunk: number): string {
  return `${searchId}/chunk-${chunk}`;
}

type Outcome = 'done' | 'overBudget' | 'continue';

/**
 * One chunk of the search's trainings (at most `execution.chunkSize`), trained in the search's window. Its
 * records go to the candidate table in the store whenever it closes or continues as new; the search gets a
 * summary. A training recorded as finished by an earlier run of the chunk is never launched again.
 */
class ChunkRun {
  private readonly acts = bookkeeping();
  private readonly training;
  private readonly window: TrainingWindow;
  private readonly records = new Map<string, TrainingRecord>();
  private trainings: Training[] = [];
  private cursor = 0;
  private best: BestCandidate | null;

  constructor(private readonly input: ChunkInput) {
    this.training = trainings(input.options);
    this.window = new TrainingWindow(input.settings.parallelism, input.settings.paused);
    this.best = input.best;
  }

  handle(): void {
    setHandler(chunkProgressQuery, () => this.progress());
    setHandler(chunkSettingsSignal, ({ parallelism, paused }) => {
      this.window.parallelism = parallelism;
      this.window.paused = paused;
      this.window.wake();
    });
  }

  async run(): Promise<ChunkSummary> {
    const { searchId, chunk } = this.input;
    const loaded = await this.acts.loadChunk({ searchId, chunk });
    this.trainings = loaded.trainings;
    for (const t of this.trainings) {
      const earlier = loaded.recorded[t.group];
      const finished = earlier?.state === 'succeeded' || earlier?.state === 'failed';
      this.records.set(t.group, finished ? earlier : { state: 'pending' });
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
    if (outcome === 'continue') {
      await condition(allHandlersFinished);
      return await continueAsNew<typeof chunkWorkflow>({
        ...this.input,
        settings: { parallelism: this.window.parallelism, paused: this.window.paused },
        best: this.best,
      });
    }
    return this.summary(outcome === 'overBudget');
  }

  private async trainAll(): Promise<Outcome> {
    for (;;) {
      const overBudget = this.count('failed') > this.input.failuresAllowed;
      const info = workflowInfo();
      const wantsNew = info.continueAsNewSuggested || info.historyLength >= this.input.options.continueAsNewAfter;
      const next = this.nextPending();
      if (next && this.window.hasRoom() && !overBudget && !wantsNew) {
        this.launch(next);
        continue;
      }
      if (this.window.size === 0) {
        if (overBudget) return 'overBudget';
        if (!next) return 'done';
        if (wantsNew) return 'continue';
      }
      await this.window.changed();
    }
  }

  private nextPending(): Training | undefined {
    while (this.cursor < this.trainings.length) {
      const t = this.trainings[this.cursor];
      if (this.records.get(t.group)?.state === 'pending') return t;
      this.cursor++;
    }
    return undefined;
  }

  private launch(t: Training): void {
    this.records.set(t.group, { state: 'running' });
    this.window.launch(t.group, async () => {
      try {
        const out = await this.training.trainCandidate({
          searchId: this.input.searchId,
          candidateId: t.group,
          budget: 'search',
          coefficients: { alpha: t.alpha, beta: t.beta, gamma: t.gamma },
          labels: { alpha: String(t.alpha), beta: String(t.beta), gamma: String(t.gamma) },
        });
        this.records.set(t.group, { state: 'succeeded', score: out.score, seconds: out.seconds });
        this.noteScore(t, out.score);
      } catch (err) {
        if (isInterruption(err)) {
          this.records.set(t.group, { state: 'pending' });
          this.cursor = 0;
          return;
        }
        const cancelled = isCancellation(err);
        this.records.set(t.group, cancelled ? { state: 'cancelled' } : { state: 'failed', error: failureMessage(err) });
      }
    });
  }

  /** A new best of the whole search goes to the search at once: its query and best-score attribute stay live. */
  private noteScore(t: Training, score: number): void {
    const candidate: BestCandidate = { ...t, score };
    if (this.best && !ranksBefore(candidate, this.best, this.input.options.higherIsBetter)) return;
    this.best = candidate;
    const parent = workflowInfo().parent;
    if (!parent) return;
    // The search may already be closing (cancelled): the summary carries the best anyway.
    void getExternalWorkflowHandle(parent.workflowId)
      .signal(chunkBestSignal, candidate)
      .catch(() => undefined);
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

  private scored(): BestCandidate[] {
    const scored: BestCandidate[] = [];
    for (const t of this.trainings) {
      const r = this.records.get(t.group);
      if (r?.state === 'succeeded' && r.score !== undefined) scored.push({ ...t, score: r.score });
    }
    return scored;
  }

  private progress(): ChunkProgress {
    const trainings = emptyCounts();
    const seconds = { sum: 0, count: 0 };
    for (const r of this.records.values()) {
      trainings[r.state]++;
      if (r.seconds !== undefined) {
        seconds.sum += r.seconds;
        seconds.count++;
      }
    }
    const best = mergeLeaders([], this.scored(), this.input.options.higherIsBetter)[0] ?? null;
    return { trainings, best, seconds };
  }

  private summary(overBudget: boolean): ChunkSummary {
    const { trainings, seconds } = this.progress();
    const errors = [...this.records.values()].flatMap((r) => (r.error ? [r.error] : [])).slice(0, 3);
    const leaders = mergeLeaders([], this.scored(), this.input.options.higherIsBetter).slice(0, LEADERS);
    return { counts: trainings, seconds, leaders, errors, overBudget };
  }
}

export async function chunkWorkflow(input: ChunkInput): Promise<ChunkSummary> {
  const chunk = new ChunkRun(input);
  chunk.handle();
  return chunk.run();
}
