import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../chromium.js';
import { readCandidateTable } from '../../../store/candidate-table.js';
import { COEFFICIENTS, HEATMAP_PAIRS, UNSCORED_CELLS } from '../../../report/charts.js';
import { heatmapCells, loadReportData, reportData, rungLabel, type ReportData } from '../../../report/data.js';
import { SearchSpec } from '../../../schemas/search.js';
import type { SearchResult } from '../../../search/state.js';
import { renderReport } from '../../../report/html.js';
import { searchDirFixture } from './fixture.js';

/** The relative luminance of a colour as the browser computes it (`rgb(r, g, b)`), after WCAG 2. */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio; 4.5 is the least it asks of normal text. */
function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

describe('search report (vega-lite SVG, opened in headless Chromium)', () => {
  let searchDir: string;
  let html: string;
  let exhaustive: ReportData;
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
    exhaustive = data;
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

  it("the finalists' curves: a legend names validation (solid) and training (dashed), each line drawn so", async () => {
    const page = await browser.newPage();
    await page.goto(`file://${join(searchDir, 'report.html')}`, { waitUntil: 'load' });
    const legend = page.locator(`#curves g.role-legend[aria-label*="titled 'curve'"]`);
    assert.deepEqual(await legend.locator('g.role-legend-label text').allTextContents(), ['validation', 'training']);
    const symbols = await legend
      .locator('g.role-legend-symbol path')
      .evaluateAll((paths) =>
        paths.map((p) => [p.getAttribute('stroke-dasharray'), p.ownerDocument.defaultView?.getComputedStyle(p).stroke]),
      );
    assert.deepEqual(symbols, [
      ['1,0', 'rgb(85, 85, 85)'],
      ['6,3', 'rgb(85, 85, 85)'],
    ]);
    for (const panel of ['accuracy', 'loss']) {
      const lines = await page
        .locator(`#curves g.curve_${panel}_marks > path`)
        .evaluateAll((paths) => paths.map((p) => [p.getAttribute('aria-label'), p.getAttribute('stroke-dasharray')]));
      assert.equal(lines.length, 2 * exhaustive.curves.length, panel);
      for (const [label, dash] of lines)
        assert.equal(dash, /curve: validation$/.test(label ?? '') ? '1,0' : '6,3', `${panel}: ${label}`);
    }
    await page.close();
  });

  it('every epoch axis ticks whole epochs only', async () => {
    const epochLabels = async (dir: string, plot: string) => {
      const page = await browser.newPage();
      await page.goto(`file://${join(dir, 'report.html')}`, { waitUntil: 'load' });
      const axes = page.locator(`#${plot} g.role-axis[aria-label^="X-axis titled 'epoch'"]`);
      const labels = await Promise.all(
        (await axes.all()).map((axis) => axis.locator('g.role-axis-label text').allTextContents()),
      );
      await page.close();
      return labels;
    };
    // Both panels of the finalists' 3 epochs: vega alone ticks them 1, 1.5, 2, 2.5, 3.
    assert.deepEqual(await epochLabels(searchDir, 'curves'), [
      ['1', '2', '3'],
      ['1', '2', '3'],
    ]);
    assert.deepEqual(await epochLabels(searchDir, 'candidate-curves'), [['0', '1', '2', '3']]);
    assert.deepEqual(await epochLabels(halvingDir, 'candidate-curves'), [
      ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    ]);
  });

  it("the Pareto plot draws a 'chance' line at 1/classes of the baseline on its score axis", async () => {
    const page = await browser.newPage();
    await page.goto(`file://${join(searchDir, 'report.html')}`, { waitUntil: 'load' });
    // micro-28 classifies 10 classes.
    assert.equal(exhaustive.chance, 0.1);
    const rule = page.locator('#pareto g.pareto_chance_marks > line');
    assert.equal(await rule.count(), 1);
    assert.equal(await rule.getAttribute('aria-label'), 'chance: 0.100');
    assert.deepEqual(await page.locator('#pareto g.pareto_chance_label_marks text').allTextContents(), ['chance']);
    // Where the score axis puts 0.1, from two of its ticks: vega rounds ticks to whole pixels.
    const ticks = await page.locator(`#pareto g.role-axis[aria-label^="Y-axis"]`).evaluate((axis) =>
      [...axis.querySelectorAll('g.role-axis-tick line')].map((tick, k) => ({
        value: Number(axis.querySelectorAll('g.role-axis-label text')[k].textContent),
        y: tick.getBoundingClientRect().y,
      })),
    );
    const [a, b] = [ticks[0], ticks.at(-1)];
    assert.ok(a && b && a.value !== b.value, JSON.stringify(ticks));
    const expected = a.y + ((0.1 - a.value) * (b.y - a.y)) / (b.value - a.value);
    const box = await rule.boundingBox();
    assert.ok(box && Math.abs(box.y - expected) < 1.5, `chance rule at y ${box?.y}, 0.1 at ${expected}`);
    const label = await page.locator('#pareto g.pareto_chance_label_marks text').boundingBox();
    assert.ok(label && Math.abs(label.y + label.height - expected) < 6, 'the label sits on the rule');
    await page.close();

    // Loss has no chance score: no line.
    const spec = SearchSpec.parse(JSON.parse(await readFile(join(searchDir, 'spec.json'), 'utf8')));
    const result = JSON.parse(await readFile(join(searchDir, 'summary.json'), 'utf8')) as SearchResult;
    const table = (await readCandidateTable(searchDir)) ?? [];
    const loss = await renderReport(reportData(result, { ...spec, task: { ...spec.task, metric: 'loss' } }, table, []));
    assert.match(loss, /pareto_candidate_marks/);
    assert.doesNotMatch(loss, /aria-label="chance|>chance</);
  });

  it('heatmap cells: the score to 3 decimals in a legible ink, no score told apart, blank cells explained', async () => {
    const page = await browser.newPage();
    await page.goto(`file://${join(searchDir, 'report.html')}`, { waitUntil: 'load' });
    const inks = new Set<string>();
    const unscored = new Set<string>();
    let blanks = 0;
    for (const [x, y, over] of HEATMAP_PAIRS) {
      const figure = page.locator(`#heatmap-${x}-${y}`);
      const cells = heatmapCells(exhaustive.candidates, x, y, true);
      // Each text names its cell's position: "α (depth): 1; β (width): 1.1; text: 0.832".
      // Each text with the fill of the cell under its centre, both as the browser paints them.
      const texts = await figure.locator('g.heatmap_text_marks > text').evaluateAll((nodes) =>
        nodes.map((t) => {
          const fill = (e: typeof t) => t.ownerDocument.defaultView?.getComputedStyle(e).fill;
          const box = t.getBoundingClientRect();
          const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
          const cell = [...(t.closest('figure')?.querySelectorAll('g[class*="heatmap_"] > path') ?? [])].find((r) => {
            const b = r.getBoundingClientRect();
            return x > b.left && x < b.right && y > b.top && y < b.bottom;
          });
          return {
            label: t.getAttribute('aria-label') ?? '',
            text: t.textContent,
            ink: fill(t),
            cell: cell && fill(cell),
          };
        }),
      );
      const expected = cells.map((c) => ({
        at: `${c.x} ${c.y}`,
        text: c.state === 'scored' ? c.score?.toFixed(3) : UNSCORED_CELLS[c.state].text,
      }));
      const drawn = texts.map((t) => {
        const [, cx, cy] = /: ([\d.]+); .*: ([\d.]+); text:/.exec(t.label) ?? [];
        return { at: `${cx} ${cy}`, text: t.text };
      });
      const byPlace = (p: { at: string }, q: { at: string }) => p.at.localeCompare(q.at);
      assert.deepEqual(drawn.sort(byPlace), expected.sort(byPlace), `${x}-${y}`);
      for (const t of texts) {
        assert.ok(t.ink && t.cell, `${t.label} lies on its cell`);
        const ratio = contrast(t.ink, t.cell);
        assert.ok(ratio >= 4.5, `${t.label}: ${t.ink} on ${t.cell}, contrast ${ratio.toFixed(2)}`);
        inks.add(t.ink);
      }

      // A cell with no score is filled by why; a pair with no candidate has no cell at all.
      const rects = await figure
        .locator('g.heatmap_unscored_marks > path')
        .evaluateAll((nodes) => nodes.map((r) => [r.getAttribute('aria-label'), r.getAttribute('fill')]));
      for (const [label, fill] of rects) {
        const state = label?.endsWith(UNSCORED_CELLS.excluded.legend) ? 'excluded' : 'unscored';
        assert.equal(fill, UNSCORED_CELLS[state].fill, label ?? '');
        unscored.add(state);
      }
      assert.equal(await figure.locator('g[class*="heatmap_"][class*="rect"] > path').count(), cells.length);
      const values = (k: 'alpha' | 'beta' | 'gamma') => new Set(exhaustive.candidates.map((c) => c[k])).size;
      blanks += values(x) * values(y) - cells.length;

      const [a, b, c] = [x, y, over].map((k) => COEFFICIENTS[k].symbol);
      const caption = await figure.locator('figcaption').innerText();
      assert.match(caption, new RegExp(`^Each cell: the highest accuracy over ${c} at that ${a}, ${b}\\.`));
      assert.match(caption, /Blank: no candidate, as no grid point there satisfies the constraint\./);
      assert.match(caption, /×: excluded \(over the limits\), every candidate there\./);
      assert.match(caption, /–: not trained or failed, no candidate there has a score\./);
    }
    // The fixture has dark and light cells, both kinds of cell with no score, and pairs no grid point reaches.
    assert.deepEqual([...inks].sort(), ['rgb(0, 0, 0)', 'rgb(255, 255, 255)']);
    assert.deepEqual([...unscored].sort(), ['excluded', 'unscored']);
    assert.ok(blanks > 0, `${blanks} blank cells`);
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
