import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { readCandidateTable } from '../../../activities/candidate-table.js';
import { loadReportData, reportData, rungLabel, type ReportData } from '../../../report/data.js';
import { SearchSpec } from '../../../spec/search.js';
import type { SearchResult } from '../../../workflows/state.js';
import { renderReport } from '../../../report/html.js';
import { searchDirFixture } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('search report (vega-lite SVG, opened in headless Chromium)', () => {
  let searchDir: string;
  let html: string;
  let scored: number;
  let profile: string;
  let browser: BrowserContext;
  let halvingDir: string;
  let halving: ReportData;

  before(async () => {
    const fixture = await searchDirFixture();
    searchDir = fixture.searchDir;
    const data = await loadReportData(searchDir);
    assert.ok(data);
    scored = data.candidates.filter((c) => c.score !== undefined).length;
    html = await renderReport(data);
    await writeFile(join(searchDir, 'report.html'), html);
    halvingDir = (await searchDirFixture(undefined, undefined, 'halving')).searchDir;
    const halvingData = await loadReportData(halvingDir);
    assert.ok(halvingData);
    halving = halvingData;
    await writeFile(join(halvingDir, 'report.html'), await renderReport(halving));
    profile = await mkdtemp(join(tmpdir(), 'effscale-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      offline: true,
    });
  });
  after(async () => {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
    await rm(searchDir, { recursive: true, force: true });
    await rm(halvingDir, { recursive: true, force: true });
  });

  it('is one self-contained file: no script, no external resource', () => {
    assert.doesNotMatch(html, /<script|<link|src=|@import|url\((?!#)/i);
    // XML namespace names are identifiers, never fetched.
    assert.doesNotMatch(html.replace(/xmlns(:\w+)?="[^"]*"/g, ''), /https?:\/\//);
  });

  it('loads without console errors; the Pareto plot has one mark per scored candidate and the chosen one', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${join(searchDir, 'report.html')}`, { waitUntil: 'load' });
    assert.deepEqual(errors, []);
    assert.deepEqual(
      requests.filter((u) => !u.startsWith('file://')),
      [],
    );
    assert.ok(scored > 5, `fixture has ${scored} scored candidates`);
    assert.equal(await page.locator('#pareto g.pareto_candidate_marks > path').count(), scored);
    assert.equal(await page.locator('#pareto g.pareto_chosen_marks > path').count(), 1);
    const chosenLabel = await page.locator('#pareto g.pareto_chosen_marks > path').getAttribute('aria-label');
    assert.match(chosenLabel ?? '', /chosen: candidate \d+/);
    assert.equal((await page.locator('#heatmaps g[class*="heatmap_"] path').count()) > 0, true);
    assert.ok((await page.locator('#curves g.mark-line path').count()) >= 2, 'validation and training lines');
    assert.equal(
      await page.locator('#candidates tbody tr').count(),
      (await loadReportData(searchDir))?.candidates.length,
    );
    assert.equal(await page.locator('#candidates tr.chosen').count(), 1);
    assert.equal(await page.locator('#family tbody tr').count(), 2);
    const box = await page.locator('#pareto svg').boundingBox();
    assert.ok(box && box.width > 300 && box.height > 200, 'the Pareto plot is laid out');
    await page.screenshot({ path: join(tmpdir(), 'effscale-report.png'), fullPage: true });
    await page.close();
  });

  it('an exhaustive search: its strategy, no rung column nor per-rung chart, and the candidates stopped at its epochs', async () => {
    const page = await browser.newPage();
    await page.goto(`file://${join(searchDir, 'report.html')}`, { waitUntil: 'load' });
    assert.match(await page.locator('dl.summary').innerText(), /exhaustive: every candidate trains 3 epochs/);
    assert.equal(await page.locator('#budget-stop').count(), 0);
    assert.deepEqual(
      (await page.locator('#candidates th').allInnerTexts()).filter((h) => /rung/.test(h)),
      [],
    );
    assert.equal(await page.locator('#rung-scores').count(), 0);
    const curves = (await loadReportData(searchDir))?.candidateCurves ?? [];
    assert.ok(curves.length > 5, `${curves.length} candidate curves`);
    const stops = await page.locator('#candidate-curves g.candidate_curve_stop_marks > path').all();
    assert.equal(stops.length, curves.length);
    for (const stop of stops)
      assert.match((await stop.getAttribute('aria-label')) ?? '', /stopped after epoch 3 \(3 epochs\)/);
    assert.equal(await page.locator('#candidate-curves g.rung_boundary_marks > line').count(), 0);
    await page.close();
  });

  it("a halving search stopped by its budget: the budget note, each candidate's rung and scores, the promotions", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${join(halvingDir, 'report.html')}`, { waitUntil: 'load' });
    assert.deepEqual(errors, []);
    assert.match(
      await page.locator('#budget-stop').innerText(),
      /^The compute budget \(0\.05 device-hours\) ended the grid search early, after 0\.0603 device-hours/,
    );
    const summary = await page.locator('dl.summary').innerText();
    assert.match(summary, /successive halving: rungs of 1\/3\/9 epochs, keep 1\/3 per rung/);
    assert.match(summary, /0\.0603 device-hours of grid training, \d+% of the planned work; budget 0\.05 device-hours/);
    assert.match(summary, /score 0\.8428, rung 3 of 3 \(9 epochs\)/);

    // The fixture stops candidates at every rung, and one before finishing any.
    const finished = halving.candidates.map((c) => c.scores.length);
    assert.deepEqual([...new Set(finished)].sort(), [0, 1, 2, 3]);
    assert.deepEqual(
      await page.locator('#candidates td.rung').allInnerTexts(),
      finished.map((n) => (n ? rungLabel(halving.strategy, n) : '–')),
    );
    assert.equal(await page.locator('#candidates tr.chosen td.rung').innerText(), 'rung 3 of 3 (9 epochs)');
    const cancelled = page.locator('#candidates tr:has(td.state-cancelled)').first();
    assert.equal(await cancelled.locator('td.rung').innerText(), 'rung 2 of 3 (3 epochs)');
    assert.match(await cancelled.innerText(), /0\.\d{4} → 0\.\d{4}/);

    const trainings = halving.candidates.filter((c) => c.sharesTrainingOf === undefined);
    const promoted = trainings.filter((c) => c.scores.length >= 2).length;
    assert.ok(promoted >= 2 && promoted < trainings.length / 2, `${promoted} of ${trainings.length} promoted`);
    assert.equal(await page.locator('#rung-scores g.rung_score_marks > path').count(), promoted);
    assert.equal(
      await page.locator('#rung-scores g.rung_dropped_marks > path').count(),
      trainings.filter((c) => c.scores.length === 1).length,
    );
    // The x axis is the rungs' epochs; the y axis labels are scores, never whole numbers.
    const labels = await page.locator('#rung-scores g.role-axis-label text').allTextContents();
    assert.deepEqual(
      labels.filter((t) => /^\d+$/.test(t)),
      ['1', '3', '9'],
    );

    const stops = await page.locator('#candidate-curves g.candidate_curve_stop_marks > path').all();
    assert.equal(stops.length, halving.candidateCurves.length);
    const stoppedAt = new Set<string>();
    for (const stop of stops) {
      const [, epoch, rung, epochs] =
        /stopped after epoch (\d+) \(rung (\d) of 3 \((\d+) epochs?\)\)/.exec(
          (await stop.getAttribute('aria-label')) ?? '',
        ) ?? [];
      assert.equal(epoch, epochs, 'a curve ends at the epochs of the rung it stopped at');
      stoppedAt.add(rung);
    }
    assert.deepEqual([...stoppedAt].sort(), ['1', '2', '3']);
    assert.equal(await page.locator('#candidate-curves g.rung_boundary_marks > line').count(), 3);
    await page.screenshot({ path: join(tmpdir(), 'effscale-report-halving.png'), fullPage: true });
    await page.close();
  });

  it('names failed and excluded candidates and the dedup groups in the table', async () => {
    const text = await readFile(join(searchDir, 'report.html'), 'utf8');
    assert.match(text, /state-failed">failed<\/td>/);
    assert.match(text, /trainer exited with code 1/);
    assert.match(text, /state-excluded">excluded<\/td>/);
    assert.match(text, /\(= #\d+\)/);
  });

  it('renders a cancelled search with no scores and no family without failing', async () => {
    const { result, searchDir: scratch } = await searchDirFixture();
    await rm(scratch, { recursive: true, force: true });
    const spec = SearchSpec.parse(JSON.parse(await readFile(join(searchDir, 'spec.json'), 'utf8')));
    const cancelled = {
      ...result,
      status: 'cancelled' as const,
      best: null,
      state: { ...result.state, stage: 'cancelled' as const, leaders: [], family: [], finals: [], registered: [] },
    };
    const table = (await readCandidateTable(searchDir)) ?? [];
    const unscored = table.map(({ score: _score, seconds: _seconds, error: _error, ...c }) =>
      c.state === 'excluded' ? c : { ...c, state: 'pending' as const },
    );
    // As read from a summary written before spend was recorded: none.
    const old = JSON.parse(JSON.stringify({ ...cancelled, spend: undefined })) as SearchResult;
    const page = await renderReport(reportData(old, spec, unscored, []));
    assert.match(page, /cancelled \(stage cancelled\)/);
    assert.match(page, /no candidate has a score yet/);
    assert.match(page, /no finalist was retrained/);
    assert.match(page, /<dt>spend<\/dt><dd>not recorded<\/dd>/);
    assert.match(page, /no candidate training curve in the search directory/);
    assert.equal((page.match(/state-pending">pending</g) ?? []).length, table.filter((c) => !c.excluded).length);
  });
});
