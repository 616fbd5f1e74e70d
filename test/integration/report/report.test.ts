import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { readCandidateTable } from '../../../activities/candidate-table.js';
import { loadReportData, reportData } from '../../../report/data.js';
import { SearchSpec } from '../../../spec/search.js';
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

  before(async () => {
    const fixture = await searchDirFixture();
    searchDir = fixture.searchDir;
    const data = await loadReportData(searchDir);
    assert.ok(data);
    scored = data.candidates.filter((c) => c.score !== undefined).length;
    html = await renderReport(data);
    await writeFile(join(searchDir, 'report.html'), html);
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
    const page = await renderReport(reportData(cancelled, spec, unscored, []));
    assert.match(page, /cancelled \(stage cancelled\)/);
    assert.match(page, /no candidate has a score yet/);
    assert.match(page, /no finalist was retrained/);
    assert.equal((page.match(/state-pending">pending</g) ?? []).length, table.filter((c) => !c.excluded).length);
  });
});
