import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { searchPaths } from '../../../store/search-dir.js';
import type { AblationArm } from '../../../search/types.js';
import { candidateTableText, searchCandidates } from '../../../client/candidates.js';
import { humanSummary, resultDocument } from '../../../client/output.js';
import { loadReportData } from '../../../report/data.js';
import { renderReport } from '../../../report/html.js';
import { Architecture } from '../../../scaling/architecture.js';
import { resolveBaseline } from '../../../scaling/input.js';
import { TrainResult } from '../../../schemas/candidate.js';
import { resultPath } from '../../../trainer/result.js';
import { mean, tied } from '../../../search/noise.js';
import { type SearchResult } from '../../../search/state.js';
import { launchChromium } from '../../chromium.js';
import {
  activitySummaries,
  candidateTable,
  createTestWorker,
  readJson,
  replayAndRecord,
  retrainedAfterFinish,
  runs,
  searchDirOf,
  start,
  withTestServer,
  tempStateDir,
  testSpec,
  trainingsOf,
} from './harness.js';
import { paretoSet } from '../../../search/selection.js';
import { repeatCandidateId, ablationCandidateId } from '../../../search/ids.js';

/**
 * Honest selection: seeds per candidate and the noise they measure, the selection rules over the whole candidate
 * table, and the ablation of compound against single-dimension scaling, trained for real.
 */

const dataset = { format: 'fashion-mnist' as const };

describe('repeats, selection rules and the ablation', () => {
  const env = withTestServer();

  test('real training: two seeds per candidate, a Pareto selection, and the ablation on the same real cost', async () => {
    const stateDir = await tempStateDir('honest');
    const base = testSpec('honest');
    const spec = testSpec('honest', {
      task: { dataset, trainLimit: 512, valLimit: 256, repeats: 2 },
      training: { epochs: 1, batchSize: 32, learningRate: 0.003 },
      scaling: {
        ...base.scaling,
        grid: {
          ...base.scaling.grid,
          alpha: { min: 1, max: 1.2, step: 0.2 },
          beta: { min: 1, max: 1.2, step: 0.1 },
          gamma: { min: 1, max: 1.2, step: 0.1 },
        },
        targets: { phis: [1] },
      },
      execution: { parallelism: 2, chunkSize: 2, heartbeatTimeout: '60s', local: {} },
      selection: { rule: 'pareto' },
      final: { finalists: 1, ablation: true },
    });
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    const { handle, workflowId } = await start(env().client, spec);
    const [result, queried] = await worker.runUntil(async () => {
      const done: SearchResult = await handle.result();
      // Closed chunks answer from their history, while a worker runs.
      return [done, await searchCandidates(env().client, workflowId)] as const;
    });
    assert.equal(result.status, 'completed');
    const searchDir = searchDirOf(stateDir, workflowId);

    // Every candidate trained once per seed, on TensorFlow, with seed + r; its score is their mean.
    const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
    assert.equal(trainings.length, 3);
    for (const t of trainings) {
      const seeds = await Promise.all(
        [0, 1].map(async (r) =>
          TrainResult.parse(
            await readJson(resultPath(searchPaths(searchDir).candidate(repeatCandidateId(t.group, r)))),
          ),
        ),
      );
      assert.deepEqual(
        seeds.map((s) => s.backend),
        ['tensorflow', 'tensorflow'],
      );
      assert.deepEqual(t.samples, [seeds[0].score, seeds[1].score]);
      assert.equal(t.score, mean(t.samples ?? []));
      // Scores near chance can coincide; the training itself differs with the seed.
      assert.notEqual(seeds[0].epochs[0].trainLoss, seeds[1].epochs[0].trainLoss, `${t.group}: another seed`);
      assert.ok((seeds[0].latencyMs ?? 0) > 0, 'the trainer measured its latency');
    }
    assert.deepEqual(retrainedAfterFinish(await runs(stateDir, workflowId)), []);

    // The choice, its margin against the noise and its ties, recomputed here from the seeds.
    const selection = result.state.selection;
    assert.ok(selection?.chosen);
    const ranked = [...trainings].sort((a, b) => (b.score ?? 0) - (a.score ?? 0) || a.macs - b.macs);
    assert.equal(selection.chosen.group, ranked[0].group);
    assert.equal(result.best?.group, ranked[0].group);
    assert.equal(selection.margin, (ranked[0].score ?? 0) - (ranked[1].score ?? 0));
    const asScored = (c: (typeof ranked)[number]) => ({ score: c.score ?? 0, samples: c.samples ?? [] });
    assert.equal(selection.withinNoise, tied(asScored(ranked[0]), asScored(ranked[1])));
    assert.deepEqual(
      selection.tied?.map((c) => c.group),
      ranked
        .slice(1)
        .filter((c) => tied(asScored(ranked[0]), asScored(c)))
        .map((c) => c.group),
    );
    const front = paretoSet(
      ranked.map((c) => ({ ...c, score: c.score ?? 0 })),
      true,
    ).map((c) => c.index);
    assert.deepEqual(selection.pareto, front);
    assert.ok(front.includes(selection.chosen.index), 'the best score is always on the Pareto front');

    // The ablation: baseline and three single-dimension arms at the compound member's real cost, all trained.
    const member = result.state.family[0];
    const arms = result.state.ablation ?? [];
    assert.deepEqual(
      arms.map((a) => a.name),
      ['baseline', 'depth-only', 'width-only', 'resolution-only'],
    );
    const baselineMacs = arms[0].macs;
    for (const arm of arms) {
      assert.equal(arm.state, 'succeeded', `${arm.name}: ${arm.error ?? ''}`);
      const trained = TrainResult.parse(
        await readJson(resultPath(searchPaths(searchDir).final(ablationCandidateId(arm.name)))),
      );
      assert.equal(trained.backend, 'tensorflow');
      assert.equal(trained.score, arm.score);
      assert.equal(trained.macs, arm.macs, 'trained the architecture it reports');
      if (arm.name === 'baseline') continue;
      assertSingleDimension(arm, await readJson(arm.architectureUri));
      assert.ok(Math.abs(arm.macs - member.macs) / member.macs < 0.25, `${arm.name} ×${arm.multiplier}`);
    }
    assert.equal(arms[0].multiplier, 1);
    assert.ok(member.macs / baselineMacs > 1.5, 'the compound member is about twice the baseline');
    assert.match(
      result.state.ablationVerdict ?? '',
      /^compound scaling \(phi1, [\d.]+\) (won|lost|tied) .* best single dimension \((depth|width|resolution)-only, [\d.]+\), (within|beyond) the noise/,
    );

    // What a user reads: the summary, the Temporal UI's activity summaries, the candidates query.
    const doc = resultDocument(result, { workflowId, address: 'test' }, await candidateTable(stateDir, workflowId));
    const text = humanSummary(doc);
    assert.match(text, /score=0\.\d+ ± 0\.\d+/);
    assert.match(text, /chosen by rule pareto .*: it (leads the runner-up by|ties the runner-up exactly)/);
    assert.match(
      text,
      /ablation \(final budget, same real multiply-adds\):\n {2}compound phi1: 0\.\d{4}\n {2}baseline:/,
    );
    const summaries = [
      ...(await activitySummaries(env().client, `${workflowId}/chunk-0`)),
      ...(await activitySummaries(env().client, workflowId)),
    ];
    assert.ok(
      summaries.some((s) => /^search α=.* seed 2\/2$/.test(s)),
      summaries.join('\n'),
    );
    assert.ok(summaries.includes('ablation width-only (×' + arms[2].multiplier + ')'), summaries.join('\n'));
    assert.equal(queried.chunks.total, 2);
    assert.deepEqual(queried.chunks.notStarted, []);
    assert.deepEqual(
      queried.candidates.map((c) => [c.group, c.state, c.score, c.samples]),
      trainings.map((t) => [t.group, t.state, t.score, t.samples]),
    );
    const lines = candidateTableText(queried).split('\n');
    assert.equal(lines.length, trainings.length);
    for (const line of lines)
      assert.match(line, /^α=[\d.]+ β=[\d.]+ γ=[\d.]+ +[\d.]+M MACs {2}succeeded +0\.\d+ ± 0\.\d+$/);

    await checkReport(searchDir, trainings.length);
    await replayAndRecord(env().client, workflowId, 'repeats-ablation');
  });

  test('max-under chooses the best candidate within the limits, passing over better ones beyond them', async () => {
    const stateDir = await tempStateDir('max-under');
    const worker = await createTestWorker(env().nativeConnection, { stateDir });
    // A worker runs once: every search of this test goes through the one run.
    await worker.runUntil(async () => {
      // The no-op score rises with multiply-adds (11.4–21.3 M here): the limit must pass over the largest.
      for (const [name, selection] of [
        ['max-under-macs', { rule: 'max-under' as const, maxMacs: 17e6 }],
        ['max-under-latency', { rule: 'max-under' as const, maxLatencyMs: 0.17 }],
      ] as const) {
        const { handle, workflowId } = await start(env().client, testSpec(name, { selection }));
        const result: SearchResult = await handle.result();
        const trainings = trainingsOf(await candidateTable(stateDir, workflowId));
        const within = trainings.filter((t) => t.macs <= 17e6);
        const best = within.reduce((a, b) => ((b.score ?? 0) > (a.score ?? 0) ? b : a));
        assert.equal(result.best?.group, best.group, name);
        assert.ok((result.state.leaders[0]?.macs ?? 0) > 17e6, 'the top leader is beyond the limit');
        assert.equal(result.state.selection?.eligible, within.length);
        assert.equal(result.state.selection?.ineligible, trainings.length - within.length);
        assert.ok(result.state.family[0].macs > 0, 'the family is scaled from the chosen one');
      }

      const none = testSpec('max-under-none', { selection: { rule: 'max-under', maxMacs: 1e6 } });
      const failure = await (await start(env().client, none)).handle.result().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(failure instanceof WorkflowFailedError);
      assert.match(
        String(failure.cause?.message),
        /no candidate succeeded: no trained candidate is within selection\.maxMacs 1000000 \(least 11\d{6}\)/,
      );
    });
  });
});

/** Only the arm's own dimension differs from the baseline: stage repeats, channels or resolution. */
function assertSingleDimension(arm: AblationArm, raw: unknown): void {
  const arch = Architecture.parse(raw);
  const baseline = resolveBaseline('micro-28', 'baseline');
  const depth = arch.stages.some((s, i) => s.repeats !== baseline.stages[i].repeats);
  const width = arch.stages.some((s, i) => s.filters !== baseline.stages[i].filters);
  const resolution = arch.resolution !== baseline.resolution;
  assert.deepEqual(
    { depth, width, resolution },
    { depth: arm.name === 'depth-only', width: arm.name === 'width-only', resolution: arm.name === 'resolution-only' },
    arm.name,
  );
}

/** The report with repeats and the ablation, as headless Chromium renders it. */
async function checkReport(searchDir: string, trainings: number): Promise<void> {
  const data = await loadReportData(searchDir);
  assert.ok(data?.ablation);
  const file = join(searchDir, 'report.html');
  await writeFile(file, await renderReport(data));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    assert.deepEqual(errors, []);
    assert.equal(
      await page.locator('#pareto g.pareto_errorbar_marks > line').count(),
      trainings,
      'one bar per candidate',
    );
    const bar = await page.locator('#pareto g.pareto_errorbar_marks > line').first().getAttribute('aria-label');
    assert.match(bar ?? '', /score 0\.\d+ ± 0\.\d{4}/);
    assert.equal(await page.locator('#ablation-chart g.ablation_bar_marks > path').count(), 5, 'compound + 4 arms');
    assert.equal(await page.locator('#ablation tbody tr').count(), 5);
    assert.match((await page.locator('#ablation-verdict').textContent()) ?? '', /^compound scaling \(phi1/);
    assert.match(
      (await page.locator('dl.summary').textContent()) ?? '',
      /2 seeds per candidate: scores are mean ± spread/,
    );
    assert.match((await page.locator('#candidates tr.chosen').textContent()) ?? '', /★.*◆|★◆/);
    assert.match((await page.locator('#candidates tr.chosen').textContent()) ?? '', /0\.\d+ ± 0\.\d+/);
    await page.screenshot({ path: join(searchDir, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  await rm(file);
}
