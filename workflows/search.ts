import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchActivities } from '../activities/index.js';
import type { PlannedCandidate, SearchExtension, TrainOutcome } from '../activities/types.js';
import {
  BestScoreAttribute,
  StageAttribute,
  extendUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setParallelismUpdate,
} from './messages.js';
import {
  selectBest,
  progressOf,
  resumedState,
  type BestCandidate,
  type SearchInput,
  type SearchResult,
  type SearchState,
  type Stage,
} from './state.js';

/** Error types an activity throws for input no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['BadCandidateInput', 'SpecError'];

/**
 * The compound-scaling search: plan the α/β/γ grid, train every unique candidate in a sliding window, pick the
 * best coefficients, scale the family, retrain the finalists with the final budget and register them. Only
 * decisions and bookkeeping happen here; every side effect is an activity.
 */
export async function searchWorkflow(input: SearchInput): Promise<SearchResult> {
  const o = input.options;
  const acts = proxyActivities<SearchActivities>({
    startToCloseTimeout: '10m',
    retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
  const previous = !input.carried && input.resume ? await acts.previousRun({ searchId: o.searchId }) : undefined;
  const state: SearchState = input.carried ??
    (previous && resumedState(previous.state)) ?? {
      stage: 'plan',
      candidates: [],
      groups: {},
      extraPhis: [],
      parallelism: o.parallelism,
      paused: false,
      runs: 1,
      family: [],
      finals: [],
      registered: [],
    };
  const training = proxyActivities<SearchActivities>({
    startToCloseTimeout: o.candidateTimeout,
    heartbeatTimeout: o.heartbeatTimeout,
    // The workflow only moves on once the training process is really gone.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: o.maxAttempts,
      initialInterval: '1s',
      backoffCoefficient: 2,
      nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
    },
  });

  let tick = 0;
  let extending = 0;
  let extensionChain: Promise<unknown> = Promise.resolve();
  const running = new Map<string, Promise<void>>();
  let best: BestCandidate | null = selectBest(state, o.higherIsBetter);
  const wake = () => {
    tick++;
  };

  const setStage = (stage: Stage) => {
    state.stage = stage;
    upsertSearchAttributes([{ key: StageAttribute, value: stage }]);
  };

  const addPlanned = (planned: PlannedCandidate[]) => {
    for (const c of planned) {
      state.candidates.push(c);
      if (!c.excluded && !state.groups[c.group]) {
        state.groups[c.group] = { state: 'pending', macs: c.macs, representative: c.index };
      }
    }
    wake();
  };

  const extend = async (ext: SearchExtension): Promise<number> => {
    if (ext.phis?.length) state.extraPhis.push(...ext.phis.filter((p) => !state.extraPhis.includes(p)));
    const wantsGrid = ext.alpha || ext.beta || ext.gamma || ext.random || ext.tolerance !== undefined;
    if (!wantsGrid) return 0;
    const before = Object.keys(state.groups).length;
    const planned = await acts.plan({
      searchId: o.searchId,
      spec: o.spec,
      extension: ext,
      existing: state.candidates.length,
    });
    addPlanned(planned.candidates);
    return Object.keys(state.groups).length - before;
  };

  setHandler(progressQuery, () => progressOf(state, o.higherIsBetter));
  setHandler(pauseSignal, () => {
    state.paused = true;
    wake();
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    wake();
  });
  setHandler(
    setParallelismUpdate,
    (n) => {
      state.parallelism = n;
      wake();
      return n;
    },
    {
      validator: (n) => {
        if (!Number.isInteger(n) || n < 1) throw new Error(`parallelism must be an integer ≥ 1, got ${n}`);
      },
    },
  );
  setHandler(
    extendUpdate,
    async (ext) => {
      extending++;
      try {
        await condition(() => state.stage !== 'plan');
        // Extensions are planned one at a time so new grid points get distinct indexes.
        const run = extensionChain.then(() => extend(ext));
        extensionChain = run.catch(() => undefined);
        return await run;
      } finally {
        extending--;
        wake();
      }
    },
    {
      validator: (ext) => {
        if (state.stage !== 'plan' && state.stage !== 'search') {
          throw new Error(`the search is in its ${state.stage} stage; extend it after it has finished`);
        }
        const empty = !ext.phis?.length && !ext.alpha && !ext.beta && !ext.gamma && !ext.random && !ext.tolerance;
        if (empty) throw new Error('an extension needs phis or grid ranges (alpha/beta/gamma/tolerance/random)');
      },
    },
  );

  const describe = (err: unknown): string => {
    if (err instanceof ActivityFailure && err.cause) return err.cause.message;
    return err instanceof Error ? err.message : String(err);
  };

  const trainGroup = (group: string) => {
    const record = state.groups[group];
    const rep = state.candidates[record.representative];
    record.state = 'running';
    const done = training
      .trainCandidate({
        searchId: o.searchId,
        candidateId: group,
        budget: 'search',
        labels: { alpha: String(rep.alpha), beta: String(rep.beta), gamma: String(rep.gamma) },
      })
      .then(
        (out: TrainOutcome) => {
          record.state = 'succeeded';
          record.score = out.score;
          record.seconds = out.seconds;
          const next = selectBest(state, o.higherIsBetter);
          if (next && next.score !== best?.score)
            upsertSearchAttributes([{ key: BestScoreAttribute, value: next.score }]);
          best = next;
        },
        (err: unknown) => {
          record.state = isCancellation(err) ? 'cancelled' : 'failed';
          if (!isCancellation(err)) record.error = describe(err);
        },
      )
      .finally(() => {
        running.delete(group);
        wake();
      });
    running.set(group, done);
  };

  const failures = () => Object.values(state.groups).filter((g) => g.state === 'failed');

  /** The sliding window: returns 'continue' when the history is long enough to continue as new. */
  const searchCandidates = async (): Promise<'done' | 'continue'> => {
    for (;;) {
      const overBudget = failures().length > o.failureBudget;
      const info = workflowInfo();
      const wantsNew = info.continueAsNewSuggested || info.historyLength >= o.continueAsNewAfter;
      const pending = Object.keys(state.groups).find((g) => state.groups[g].state === 'pending');
      if (pending && !state.paused && !overBudget && !wantsNew && running.size < state.parallelism) {
        trainGroup(pending);
        continue;
      }
      if (running.size === 0 && extending === 0) {
        if (overBudget) {
          const errors = failures().map((g) => g.error);
          throw ApplicationFailure.nonRetryable(
            `${errors.length} candidates failed, more than the failure budget of ${o.failureBudget}: ${errors.join('; ')}`,
            'FailureBudgetExceeded',
          );
        }
        if (wantsNew) return 'continue';
        if (!pending) return 'done';
      }
      const seen = tick;
      await condition(() => tick !== seen);
    }
  };

  const finish = async (): Promise<BestCandidate | null> => {
    setStage('select');
    const chosen = selectBest(state, o.higherIsBetter);
    if (!chosen) {
      const why =
        state.emptyReason ??
        failures()
          .map((g) => g.error)
          .join('; ');
      throw ApplicationFailure.nonRetryable(`no candidate succeeded: ${why || 'the grid is empty'}`, 'NoCandidate');
    }
    setStage('scale');
    state.family = await acts.scaleFamily({ searchId: o.searchId, best: chosen, extraPhis: state.extraPhis });
    setStage('final');
    const finalists = [...state.family].sort((a, b) => b.phi - a.phi).slice(0, o.finalists);
    state.finals = finalists.map((m) => ({ member: m.name, state: 'running' }));
    // allSettled: on cancellation every finalist's training is stopped before the search ends.
    const settled = await Promise.allSettled(
      finalists.map(async (member, i) => {
        const record = state.finals[i];
        try {
          const out = await training.trainCandidate({
            searchId: o.searchId,
            candidateId: `final-${member.name}`,
            architectureUri: member.architectureUri,
            budget: 'final',
            labels: { phi: String(member.phi) },
          });
          Object.assign(record, { state: 'succeeded', score: out.score, modelUri: out.modelUri });
          return out;
        } catch (err) {
          if (isCancellation(err)) throw err;
          Object.assign(record, { state: 'failed', error: describe(err) });
          return null;
        }
      }),
    );
    const stopped = settled.find((s) => s.status === 'rejected');
    if (stopped) throw stopped.reason;
    const outcomes = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
    setStage('register');
    for (const [i, out] of outcomes.entries()) {
      if (!out) continue;
      const registered = await acts.registerModel({
        searchId: o.searchId,
        specHash: o.specHash,
        best: chosen,
        member: finalists[i],
        outcome: out,
      });
      state.registered.push(registered);
    }
    return chosen;
  };

  const result = (status: SearchResult['status']): SearchResult => ({
    searchId: o.searchId,
    name: o.name,
    specHash: o.specHash,
    status,
    best: selectBest(state, o.higherIsBetter),
    state,
  });

  let outcome: 'done' | 'continue' = 'done';
  try {
    if (state.stage === 'plan') {
      const planned = await acts.plan({ searchId: o.searchId, spec: o.spec, existing: 0 });
      addPlanned(planned.candidates);
      state.emptyReason = planned.emptyReason;
      setStage('search');
    }
    for (const ext of input.extensions ?? []) await extend(ext);
    if (state.stage === 'search') outcome = await searchCandidates();
    if (outcome === 'done') {
      await finish();
      setStage('done');
      await acts.recordSummary({ searchId: o.searchId, result: result('completed') });
      return result('completed');
    }
  } catch (err) {
    await CancellationScope.nonCancellable(async () => {
      await Promise.allSettled(running.values());
      const status = isCancellation(err) ? 'cancelled' : 'failed';
      setStage(status);
      await acts.recordSummary({ searchId: o.searchId, result: { ...result('cancelled'), status } });
    });
    throw err;
  }
  await condition(allHandlersFinished);
  return await continueAsNew<typeof searchWorkflow>({
    options: { ...o, parallelism: state.parallelism },
    carried: { ...state, runs: state.runs + 1 },
  });
}
