import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Architecture } from '../scaling/architecture.js';
import { TrainResult, type CandidateSpec, type TrainProgress } from '../spec/candidate.js';
import type { Execution, SearchSpec } from '../spec/search.js';
import { scaleArchitecture, scalingFactors } from '../scaling/scale.js';
import { CandidateInputError, type Executor } from './executor.js';
import { appendRun, baselineOf, readJsonIfExists, readSearchSpec, searchPaths } from './search-dir.js';
import type { TrainInput, TrainOutcome } from './types.js';

const HEARTBEAT_EVERY_MS = 1000;

function outcomeOf(result: TrainResult, reused: boolean): TrainOutcome {
  return {
    candidateId: result.candidateId,
    score: result.score,
    macs: result.macs,
    seconds: result.seconds,
    modelUri: result.modelUri,
    resumedFromEpoch: result.resumedFromEpoch,
    reused,
  };
}

function heartbeatOf(p: TrainProgress): Record<string, unknown> {
  switch (p.type) {
    case 'batch':
      return { epoch: p.epoch, batch: p.batch, batches: p.batches, loss: p.loss };
    case 'epoch':
      return { epoch: p.metrics.epoch, valAccuracy: p.metrics.valAccuracy };
    case 'start':
      return { started: true, resumedFromEpoch: p.resumedFromEpoch };
    case 'result':
      return { done: true, score: p.result.score };
  }
}

/** A finalist's architecture is a file of the family; a search candidate's is scaled again from its α, β, γ. */
async function architectureOf(input: TrainInput, spec: SearchSpec): Promise<Architecture> {
  if (input.architectureUri) return Architecture.parse(JSON.parse(await readFile(input.architectureUri, 'utf8')));
  if (!input.coefficients) throw new Error(`training ${input.candidateId}: neither an architecture nor α, β, γ`);
  const { rule, phi } = spec.scaling.grid;
  return scaleArchitecture(baselineOf(spec), scalingFactors(rule, input.coefficients, phi));
}

/**
 * One candidate's training as a durable activity. A finished candidate (its result.json exists) is never
 * trained again, whatever attempt or worker asks; otherwise the executor trains into the candidate's directory,
 * resuming from its checkpoint. Heartbeats carry the latest progress and deliver cancellation.
 */
export function trainCandidateActivity(
  searchDirOf: (searchId: string) => string,
  executorFor: (execution: Execution) => Executor,
) {
  return async function trainCandidate(input: TrainInput): Promise<TrainOutcome> {
    const searchDir = searchDirOf(input.searchId);
    const paths = searchPaths(searchDir);
    const outDir =
      input.budget === 'search' ? paths.candidate(input.candidateId) : join(searchDir, 'final', input.candidateId);
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const done = await readJsonIfExists<unknown>(join(outDir, 'result.json'));
    if (done !== undefined) {
      await appendRun(searchDir, {
        event: 'reuse',
        candidateId: input.candidateId,
        attempt,
        at: new Date().toISOString(),
      });
      const { execution } = await readSearchSpec(searchDir);
      // Tidying up must not fail a finished candidate: a leftover pod is only clutter.
      await executorFor(execution)
        .release?.(input.searchId, input.candidateId)
        .catch((e: unknown) => ctx.log.warn(`could not release ${input.candidateId}: ${String(e)}`));
      return outcomeOf(TrainResult.parse(done), true);
    }
    const spec = await readSearchSpec(searchDir);
    const architecture = await architectureOf(input, spec);
    const training = input.budget === 'final' ? (spec.final.training ?? spec.training) : spec.training;
    const candidate: CandidateSpec = { id: input.candidateId, architecture, task: spec.task, training };

    let details: Record<string, unknown> = { started: false };
    const beat = setInterval(() => ctx.heartbeat(details), HEARTBEAT_EVERY_MS);
    try {
      const result = await executorFor(spec.execution).train(
        { searchId: input.searchId, candidateId: input.candidateId, spec: candidate, outDir, labels: input.labels },
        {
          signal: ctx.cancellationSignal,
          onProgress: (p) => {
            details = heartbeatOf(p);
            ctx.heartbeat(details);
          },
          onLaunch: (info) =>
            void appendRun(searchDir, {
              event: 'launch',
              candidateId: input.candidateId,
              attempt,
              ...info,
              at: new Date().toISOString(),
            }),
        },
      );
      await appendRun(searchDir, {
        event: 'finish',
        candidateId: input.candidateId,
        attempt,
        at: new Date().toISOString(),
      });
      return outcomeOf(result, false);
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`training of ${input.candidateId} cancelled`);
      if (err instanceof CandidateInputError) throw ApplicationFailure.nonRetryable(err.message, 'BadCandidateInput');
      throw err;
    } finally {
      clearInterval(beat);
    }
  };
}
