import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  makeContinueAsNewFunc,
  patched,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { PlanOutput, SearchExtension, TrainingState, TrainOutcome, BestCandidate } from '../search/types.js';
import {
  bookkeeping,
  disruptionOf,
  failureMessage,
  failureType,
  isInterruption,
  isTrainerTooOld,
  train,
  trainings,
} from './activities.js';
import { TRAINER_TOO_OLD } from '../search/errors.js';
import { disruptionBackoffMs, withDisruption } from '../search/disruptions.js';
import { ablationVerdict } from '../search/ablation.js';
import { chunkWorkflow, type ChunkBudget } from './chunk.js';
import { addsGridPoints, validateExtension } from '../search/extension.js';
import { validateUpgrade } from '../search/upgrade.js';
import { migrateState } from '../search/state-version.js';
import {
  BestScoreAttribute,
  SpendAttribute,
  StageAttribute,
  chunkBestSignal,
  chunkHandoffSignal,
  chunkSpendSignal,
  chunkSettingsSignal,
  extendUpdate,
  pauseSignal,
  progressQuery,
  resultQuery,
  resumeSignal,
  setParallelismUpdate,
  upgradeUpdate,
} from './messages.js';
import {
  addSpend,
  initialState,
  keepErrors,
  progressOf,
  resumedState,
  type Spend,
  type ChunkSummary,
  type SearchInput,
  type SearchOptions,
  type SearchResult,
  type SearchState,
  type Stage,
} from '../search/state.js';
import { TrainingWindow } from './window.js';
import type { SearchSpec } from '../schemas/search.js';
import { mergeLeaders } from '../search/ranking.js';
import { chunkWorkflowId, ablationCandidateId, finalCandidateId } from '../search/ids.js';

/**
 * One compound-scaling search: plan the α/β/γ grid into the candidate table, train its distinct architectures
 * chunk by chunk (each chunk a child workflow, so the search's history and payloads stay small at any grid size),
 * pick the best coefficients, scale the family, retrain the finalists and register them. Only decisions and
 * bookkeeping happen here; every side effect is an activity. The state and its message handlers live here; the
 * workflow function below is wiring.
 */
class Search {
  private readonly acts = bookkeeping();
  private readonly training;
  /** The finalists' window; its settings are the search's, and every running chunk gets them too. */
  private readonly window: TrainingWindow;
  private chunk: { id: string; handle: ChildWorkflowHandle<typeof chunkWorkflow> } | null = null;
  private extending = 0;
  private extensions: Promise<unknown> = Promise.resolve();
  /** The running chunk's spend as it last reported it. */
  private chunkSpend: Spend = { seconds: 0, work: 0 };
  /** Asked to move to the current version: stop the trainings at hand and continue as new there. */
  private upgrading = false;
  /** The finalists' trainings: a move to another version stops them (each keeps its checkpoint). */
  private readonly finals = new CancellationScope();

  constructor(
    private readonly o: SearchOptions,
    private readonly state: SearchState,
    /** The spec the client sent, until this run's first plan has written it to the store. */
    private spec: SearchSpec | undefined,
  ) {
    this.training = trainings(o);
    this.window = new TrainingWindow(state.parallelism, state.paused);
  }

  handle(): void {
    setHandler(progressQuery, () => progressOf(this.state, this.o, this.chunk?.id ?? null, Date.now()));
    setHandler(resultQuery, () => this.result(this.state.stage === 'cancelled' ? 'cancelled' : 'completed'));
    setHandler(pauseSignal, () => this.steer({ paused: true }));
    setHandler(resumeSignal, () => this.steer({ paused: false }));
    setHandler(
      setParallelismUpdate,
      (n) => {
        this.steer({ parallelism: n });
        return n;
      },
      {
        validator: (n) => {
          if (!Number.isInteger(n) || n < 1) throw new Error(`parallelism must be an integer ≥ 1, got ${n}`);
        },
      },
    );
    setHandler(extendUpdate, (ext) => this.extendWhilePlanned(ext), {
      validator: (ext) => validateExtension(ext, this.state.stage),
    });
    setHandler(upgradeUpdate, () => this.upgrade(), { validator: () => validateUpgrade(this.state.stage) });
    setHandler(chunkBestSignal, (best) => this.noteLeaders([best]));
    setHandler(chunkSpendSignal, (spend) => {
      this.chunkSpend = spend;
      this.noteSpend();
    });
  }

  async run(extensions: SearchExtension[]): Promise<SearchResult> {
    // A resumed or extended search is a new execution: its attributes start from the state it carries.
    if (this.state.leaders[0])
      upsertSearchAttributes([{ key: BestScoreAttribute, value: this.state.leaders[0].score }]);
    if (this.state.chunks.some((c) => c.spend)) this.noteSpend();
    // Outside the try: continuing as new is not a failure to record.
    if ((await this.untilDone(extensions)) === 'continue') return await this.startNewRun();
    return this.result('completed');
  }

  private async untilDone(extensions: SearchExtension[]): Promise<'done' | 'continue'> {
    try {
      if (this.state.stage === 'plan') await this.plan();
      for (const ext of extensions) await this.extend(ext);
      if (this.state.stage === 'search' && (await this.trainChunks()) === 'continue') return 'continue';
      if ((await this.finish()) === 'continue') return 'continue';
      this.setStage('done');
      await this.acts.recordSummary({ searchId: this.o.searchId, result: this.result('completed') });
      return 'done';
    } catch (err) {
      const status = isCancellation(err) ? 'cancelled' : 'failed';
      // The failure is what the search reports, even when its summary cannot be recorded (the store refuses).
      const unrecorded = await CancellationScope.nonCancellable(async () => {
        await this.window.settle();
        this.setStage(status);
        return this.acts.recordSummary({ searchId: this.o.searchId, result: this.result(status) }).then(
          () => '',
          (e: unknown) => `; its summary was not recorded: ${failureMessage(e)}`,
        );
      });
      if (status === 'cancelled') throw err;
      // What finished travels with the failure: a client on another machine than the workers still shows it.
      throw ApplicationFailure.create({
        message: failureMessage(err) + unrecorded,
        type: failureType(err) ?? 'SearchFailed',
        nonRetryable: true,
        details: [this.result('failed')],
      });
    }
  }

  private async plan(): Promise<void> {
    const planned = await this.planned(undefined);
    if (planned.emptyReason !== undefined) this.state.emptyReason = planned.emptyReason;
    this.setStage('search');
  }

  /** Plans (the grid, or an extension) into the candidate table and adds its chunks. */
  private async planned(extension: SearchExtension | undefined): Promise<PlanOutput> {
    const { searchId } = this.o;
    const { spec } = this;
    const planId = this.state.plans;
    const out = await this.acts.plan({ searchId, planId, ...(spec && { spec }), ...(extension && { extension }) });
    this.spec = undefined;
    if (out.firstChunk !== this.state.chunks.length)
      throw ApplicationFailure.nonRetryable(`plan ${planId} starts at chunk ${out.firstChunk}`, 'CorruptTable');
    this.state.plans++;
    this.state.points += out.points;
    this.state.excluded += out.excluded;
    this.state.trainings += out.trainings;
    this.state.work += out.work;
    this.state.imagesPerEpoch = out.imagesPerEpoch;
    for (let k = 0; k < out.chunks; k++) this.state.chunks.push({ state: 'pending' });
    this.window.wake();
    return out;
  }

  private async extendWhilePlanned(ext: SearchExtension): Promise<number> {
    this.extending++;
    try {
      await condition(() => this.state.stage !== 'plan');
      // One extension at a time: each gets the next plan id and the grid points after the existing ones.
      const run = this.extensions.then(() => this.extend(ext));
      this.extensions = run.catch(() => undefined);
      return await run;
    } finally {
      this.extending--;
      this.window.wake();
    }
  }

  /** Returns the number of new distinct trainings. */
  private async extend(ext: SearchExtension): Promise<number> {
    for (const phi of ext.phis ?? []) if (!this.state.extraPhis.includes(phi)) this.state.extraPhis.push(phi);
    if (!addsGridPoints(ext)) return 0;
    return (await this.planned(ext)).trainings;
  }

  /** Chunks run one after another, each with the whole window: returns 'continue' when the history is long. */
  private async trainChunks(): Promise<'done' | 'continue'> {
    for (;;) {
      if (this.upgrading) return 'continue';
      if (this.state.stoppedBy) return 'done';
      const next = this.state.chunks.findIndex((c) => c.state === 'pending');
      if (next >= 0) {
        if (this.wantsNew()) return 'continue';
        this.absorb(next, await this.trainChunk(next));
        continue;
      }
      if (this.extending === 0) return 'done';
      await this.window.changed();
    }
  }

  private async trainChunk(chunk: number): Promise<ChunkSummary> {
    const id = chunkWorkflowId(this.o.searchId, chunk);
    const settings = { parallelism: this.state.parallelism, paused: this.state.paused };
    const handle = await startChild(chunkWorkflow, {
      workflowId: id,
      args: [
        {
          searchId: this.o.searchId,
          chunk,
          options: this.o,
          settings,
          failuresAllowed: this.o.failureBudget - this.failed(),
          best: this.state.leaders[0] ?? null,
          budget: this.chunkBudget(),
        },
      ],
    });
    this.chunk = { id, handle };
    try {
      // A pause, a new parallelism or a move that arrived while the chunk was starting.
      if (settings.parallelism !== this.state.parallelism || settings.paused !== this.state.paused)
        await this.forwardSettings();
      if (this.upgrading) await this.handOffChunk();
      return await handle.result();
    } finally {
      this.chunk = null;
      this.chunkSpend = { seconds: 0, work: 0 };
    }
  }

  /** What is left of the budget for the next chunk: the device-seconds not spent, and the wall-clock deadline. */
  private chunkBudget(): ChunkBudget | null {
    const budget = this.o.budget;
    if (!budget) return null;
    return {
      ...(budget.deviceSeconds !== undefined && {
        deviceSeconds: Math.max(0, budget.deviceSeconds - this.spend().seconds),
      }),
      ...(budget.wallSeconds !== undefined && { deadline: this.state.startedAt + budget.wallSeconds * 1000 }),
    };
  }

  /** Spend of the finished chunks and, as last reported, the running one. */
  private spend(): Spend {
    return this.state.chunks.reduce((sum, c) => (c.spend ? addSpend(sum, c.spend) : sum), this.chunkSpend);
  }

  private noteSpend(): void {
    upsertSearchAttributes([{ key: SpendAttribute, value: this.spend().seconds / 3600 }]);
  }

  private absorb(chunk: number, summary: ChunkSummary): void {
    // A chunk handed off or refused stays pending: a later run finishes it from the store's records.
    if (summary.handedOff || summary.refused !== undefined) {
      this.noteLeaders(summary.leaders);
      if (summary.refused !== undefined) throw ApplicationFailure.nonRetryable(summary.refused, TRAINER_TOO_OLD);
      return;
    }
    const { counts, spend, rungs, disruptions } = summary;
    this.state.chunks[chunk] = { state: 'done', counts, spend, rungs, ...(disruptions && { disruptions }) };
    this.state.errors = keepErrors(this.state.errors, summary.errors);
    this.noteLeaders(summary.leaders);
    this.noteSpend();
    if (summary.budgetReached) this.state.stoppedBy = 'budget';
    const failed = this.failed();
    if (summary.overBudget || failed > this.o.failureBudget) {
      throw ApplicationFailure.nonRetryable(
        `${failed} candidates failed, more than the failure budget of ${this.o.failureBudget}: ` +
          this.state.errors.join('; '),
        'FailureBudgetExceeded',
      );
    }
  }

  /** Trainings failed for good in the finished chunks. */
  private failed(): number {
    return this.state.chunks.reduce((n, c) => n + (c.counts?.failed ?? 0), 0);
  }

  private noteLeaders(candidates: BestCandidate[]): void {
    const before = this.state.leaders[0];
    this.state.leaders = mergeLeaders(this.state.leaders, candidates, this.o.higherIsBetter);
    const best = this.state.leaders[0];
    if (best && best !== before) upsertSearchAttributes([{ key: BestScoreAttribute, value: best.score }]);
  }

  private steer(change: { parallelism?: number; paused?: boolean }): void {
    if (change.parallelism !== undefined) this.state.parallelism = change.parallelism;
    if (change.paused !== undefined) this.state.paused = change.paused;
    this.window.parallelism = this.state.parallelism;
    this.window.paused = this.state.paused;
    this.window.wake();
    void this.forwardSettings();
  }

  /** Accepted in any stage before registering (search/upgrade.ts); the move happens at the next safe point. */
  private upgrade(): Stage {
    this.upgrading = true;
    this.window.wake();
    if (this.state.stage === 'final') this.finals.cancel();
    void this.handOffChunk();
    return this.state.stage;
  }

  private async handOffChunk(): Promise<void> {
    await this.chunk?.handle.signal(chunkHandoffSignal).catch(() => undefined);
  }

  private async forwardSettings(): Promise<void> {
    const settings = { parallelism: this.state.parallelism, paused: this.state.paused };
    // A chunk that just closed no longer needs them; the next one starts with them.
    await this.chunk?.handle.signal(chunkSettingsSignal, settings).catch(() => undefined);
  }

  /** Select, scale, train the finalists and register them; 'continue' when a move stopped the finals. */
  private async finish(): Promise<'done' | 'continue'> {
    this.setStage('select');
    const chosen = await this.choose();
    this.setStage('scale');
    this.state.family = await this.acts.scaleFamily({
      searchId: this.o.searchId,
      best: chosen,
      extraPhis: this.state.extraPhis,
    });
    this.setStage('final');
    const finalists = [...this.state.family].sort((a, b) => b.phi - a.phi).slice(0, this.o.finalists);
    this.state.finals = finalists.map((m) => ({ member: m.name, state: 'pending' }));
    const arms =
      this.o.ablation && finalists[0]
        ? await this.acts.ablationArms({ searchId: this.o.searchId, member: finalists[0] })
        : [];
    if (arms.length) this.state.ablation = arms.map((a) => ({ ...a, state: 'pending' }));
    const outcomes = await this.trainFinals([
      ...finalists.map((member, i) => ({
        candidateId: finalCandidateId(member.name),
        architectureUri: member.architectureUri,
        summary: `final φ=${member.phi} (${member.name})`,
        labels: { phi: String(member.phi) },
        record: this.state.finals[i],
      })),
      ...(this.state.ablation ?? []).map((arm) => ({
        candidateId: ablationCandidateId(arm.name),
        architectureUri: arm.architectureUri,
        summary: `ablation ${arm.name} (×${arm.multiplier})`,
        labels: { ablation: arm.name },
        record: arm,
      })),
    ]);
    // The next run selects and scales again (the same answer) and reuses every finished finalist's result.
    if (this.upgrading) return 'continue';
    if (this.state.ablation)
      this.state.ablationVerdict = ablationVerdict(
        { name: finalists[0].name, score: this.state.finals[0].score },
        this.state.ablation,
        this.o.higherIsBetter,
        chosen.samples,
      );
    this.setStage('register');
    for (const [i, member] of finalists.entries()) {
      const out = outcomes[i];
      if (!out) continue;
      const registered = await this.acts.registerModel({
        searchId: this.o.searchId,
        specHash: this.o.specHash,
        best: chosen,
        member,
        outcome: out,
      });
      this.state.registered.push(registered);
    }
    return 'done';
  }

  /**
   * The candidate to scale. The select step reads the whole candidate table (a resource limit may rule out every
   * leader) and says how sure the choice is; searches started before it existed replay their choice of the leader.
   */
  private async choose(): Promise<BestCandidate> {
    if (patched('select-activity'))
      this.state.selection = await this.acts.selectCandidate({ searchId: this.o.searchId });
    const chosen = this.chosen();
    if (chosen) return chosen;
    const budget = this.state.stoppedBy && 'the compute budget ran out before any candidate finished a rung';
    const why = this.state.selection?.refusal ?? (budget || (this.state.emptyReason ?? this.state.errors.join('; ')));
    throw ApplicationFailure.nonRetryable(`no candidate succeeded: ${why || 'the grid is empty'}`, 'NoCandidate');
  }

  /**
   * Finalists and ablation arms go through the same window as the grid's trainings: parallelism and pause hold for
   * them too. Each record follows its training; the outcomes come back in order (null where one did not succeed).
   */
  private async trainFinals(jobs: FinalJob[]): Promise<(TrainOutcome | null)[]> {
    const outcomes: (TrainOutcome | null)[] = jobs.map(() => null);
    let stopped: unknown;
    for (let next = 0; next < jobs.length && !this.upgrading;) {
      if (!this.window.hasRoom()) {
        await this.window.changed();
        continue;
      }
      const i = next++;
      const job = jobs[i];
      job.record.state = 'running';
      this.window.launch(job.candidateId, async () => {
        // An interrupted training (its worker went away) is trained again, from its checkpoint.
        for (;;) {
          try {
            const { candidateId, architectureUri, labels } = job;
            const input = { searchId: this.o.searchId, candidateId, architectureUri, budget: 'final' as const, labels };
            const out = await this.finals.run(() => train(this.training, input, job.summary));
            Object.assign(job.record, {
              state: 'succeeded',
              score: out.score,
              ...(job.record.member && { modelUri: out.modelUri }),
            });
            outcomes[i] = out;
          } catch (err) {
            if (isInterruption(err)) continue;
            const disrupted = disruptionOf(err);
            if (disrupted) {
              this.state.finalDisruptions = withDisruption(this.state.finalDisruptions, disrupted);
              const backoff = disruptionBackoffMs(this.state.finalDisruptions.count);
              await this.finals.run(() => sleep(backoff)).catch(() => undefined);
              continue;
            }
            if (isCancellation(err) && this.upgrading) return;
            if (isCancellation(err) || isTrainerTooOld(err)) stopped = err;
            Object.assign(
              job.record,
              isCancellation(err) ? { state: 'cancelled' } : { state: 'failed', error: failureMessage(err) },
            );
          }
          return;
        }
      });
    }
    await this.window.settle();
    if (stopped) throw stopped;
    return outcomes;
  }

  private wantsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength >= this.o.continueAsNewAfter;
  }

  /**
   * A new run of the search with its state: on the same version when the history grew long, on the deployment's
   * current version when asked to move (the next run's first task goes there, and it is pinned there).
   */
  private async startNewRun(): Promise<never> {
    await condition(allHandlersFinished);
    const next = this.upgrading
      ? makeContinueAsNewFunc<typeof searchWorkflow>({ initialVersioningBehavior: 'AUTO_UPGRADE' })
      : continueAsNew<typeof searchWorkflow>;
    return next({
      options: { ...this.o, parallelism: this.state.parallelism },
      carried: { ...this.state, runs: this.state.runs + 1 },
    });
  }

  private setStage(stage: Stage): void {
    this.state.stage = stage;
    upsertSearchAttributes([{ key: StageAttribute, value: stage }]);
  }

  private result(status: SearchResult['status']): SearchResult {
    const { searchId, name, specHash } = this.o;
    return { searchId, name, specHash, status, best: this.chosen(), spend: this.spend(), state: this.state };
  }

  /** The best so far; once the select step ran, its choice (a selection rule may pass over the top leader). */
  private chosen(): BestCandidate | null {
    return (this.state.selection ? this.state.selection.chosen : this.state.leaders[0]) ?? null;
  }
}

/** One training of the finals step: a finalist or an ablation arm, and the record that follows it. */
interface FinalJob {
  candidateId: string;
  architectureUri: string;
  summary: string;
  labels: Record<string, string>;
  record: { state: TrainingState; score?: number; error?: string; modelUri?: string; member?: string };
}

export async function searchWorkflow(input: SearchInput): Promise<SearchResult> {
  const o = input.options;
  const { spec } = input;
  const previous =
    !input.carried && input.resume
      ? await bookkeeping().previousRun({ searchId: o.searchId, ...(spec && { spec }) })
      : undefined;
  const state =
    (input.carried && migrateState(input.carried, 'carried state')) ??
    (previous && resumedState(previous.state, Date.now())) ??
    initialState(o.parallelism, Date.now());
  noteBuild(state);
  // A resumed search's spec is recorded by previousRun; a new one's by its first plan.
  const search = new Search(o, state, input.resume ? undefined : spec);
  search.handle();
  return search.run(input.extensions ?? []);
}

/** The build running this run (none on an unversioned worker, e.g. in replay): the search's record of its builds. */
function noteBuild(state: SearchState): void {
  const build = workflowInfo().currentDeploymentVersion?.buildId;
  if (build && state.builds.at(-1) !== build) state.builds.push(build);
}
