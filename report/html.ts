import {
  ablationSpec,
  candidateCurvesSpec,
  COEFFICIENTS,
  curvesSpec,
  HEATMAP_PAIRS,
  familySpec,
  heatmapSpec,
  paretoSpec,
  rungScoresSpec,
  toSvg,
  UNSCORED_CELLS,
  type HeatmapPair,
} from './charts.js';
import { CANDIDATE_CURVES, epochsText, rungLabel, type CandidateRow, type ReportData } from './data.js';
import { hours } from '../search/estimate.js';
import { formatScore } from './format.js';
import { selectionVerdict } from '../search/selection.js';

/**
 * One self-contained HTML page: inline CSS and inline SVG plots, no script and no external resource, so it opens
 * offline and from an e-mail attachment alike.
 */

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const compact = (n: number) => Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 }).format(n);
const fixed = (n: number | undefined, digits = 4) => (n === undefined ? '–' : n.toFixed(digits).replace(/\.?0+$/, ''));
const seconds = (s: number | undefined) =>
  s === undefined ? '–' : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
const bytes = (b: number) => `${compact(b)}B`;
const deviceHours = (s: number) => `${hours(s)} device-hours`;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1180px;padding:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}
dl.summary dt{color:#666}dl.summary dd{margin:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;position:sticky;top:0}td.l,th.l{text-align:left}
tr.chosen td{background:#fff3cd;font-weight:600}.note{color:#a33;white-space:normal;text-align:left}
.plot svg{max-width:100%;height:auto}.state-failed{color:#a33}.state-excluded{color:#888}
.heatmaps{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}.heatmaps figure{margin:0;display:table}
.heatmaps figcaption{display:table-caption;caption-side:bottom;color:#666;font-size:12px}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
.alert{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px;margin:0 0 16px}
tr.tied td{background:#fffbe8}.mark{color:#555;text-align:left}
`;

const halving = (data: ReportData) => data.strategy.kind === 'halving';

function strategyText(data: ReportData): string {
  const { rungEpochs, eta } = data.strategy;
  return halving(data)
    ? `successive halving: rungs of ${rungEpochs.join('/')} epochs, keep 1/${eta} per rung`
    : `exhaustive: every candidate trains ${epochsText(rungEpochs[0])}`;
}

function budgetText(budget: NonNullable<ReportData['budget']>): string {
  const parts = [
    ...(budget.gpuHours !== undefined ? [deviceHours(budget.gpuHours * 3600)] : []),
    ...(budget.wallTime !== undefined ? [`${budget.wallTime} of wall time`] : []),
  ];
  return parts.join(', ');
}

/** Device-hours of the grid's trainings, how much of the planned work they did, and the budget they had. */
function spendText(data: ReportData): string {
  const { spend } = data;
  const done =
    spend?.work && data.plannedWork > 0
      ? `, ${Math.round((100 * spend.work) / data.plannedWork)}% of the planned work`
      : '';
  const budget = data.budget ? `; budget ${budgetText(data.budget)}` : '';
  return `${spend ? `${deviceHours(spend.seconds)} of grid training` : 'not recorded'}${done}${budget}`;
}

/** Said before anything else: the chosen candidate is only the best of what the budget let the search train. */
function budgetNote(data: ReportData): string {
  if (data.stoppedBy !== 'budget') return '';
  const budget = data.budget ? ` (${budgetText(data.budget)})` : '';
  const spent = data.spend ? `, after ${deviceHours(data.spend.seconds)}` : '';
  const text =
    `The compute budget${budget} ended the grid search early${spent}: the trainings then running were stopped ` +
    `and the rest never started; the chosen candidate is the best of what was trained by then.`;
  return `<p class="alert" id="budget-stop">${escapeHtml(text)}</p>`;
}

function chosenText(data: ReportData): string {
  const best = data.best;
  if (!best) return `none${data.emptyReason ? ` (${data.emptyReason})` : ''}`;
  const rung = halving(data) ? `, ${rungLabel(data.strategy, (best.rung ?? 0) + 1)}` : '';
  return `candidate ${best.index}: α = ${best.alpha}, β = ${best.beta}, γ = ${best.gamma}, score ${formatScore(best.score, best.samples)}${rung}, ${compact(best.macs)} multiply-adds`;
}

function summary(data: ReportData): string {
  const t = data.totals;
  const rows: [string, string][] = [
    ['search', data.searchId],
    ['status', `${data.status} (stage ${data.stage})`],
    ['dataset', data.dataset],
    ['metric', `${data.metric} (${data.higherIsBetter ? 'higher' : 'lower'} is better)`],
    ['rule', `${data.rule}, coefficients searched at φ = ${data.searchPhi}`],
    [
      'grid',
      `${t.points} points, ${t.trainings} unique trainings after de-duplication, ${t.scored} scored, ` +
        `${t.excluded} excluded by the limits, ${t.failed} failed` +
        (data.sampled
          ? `; ${data.candidates.length} of them drawn and listed (the best, failures, an even sample)`
          : ''),
    ],
    ['strategy', strategyText(data)],
    ['spend', spendText(data)],
    [
      'repeats',
      data.repeats > 1
        ? `${data.repeats} seeds per candidate: scores are mean ± spread`
        : '1 seed per candidate: the noise is not measured',
    ],
    ['chosen', chosenText(data)],
    ...(data.selection ? [['selection', selectionVerdict(data.selection)] as [string, string]] : []),
    ...(data.ablation?.verdict ? [['ablation', data.ablation.verdict] as [string, string]] : []),
    ['family', data.family.map((m) => `${m.name} (φ = ${fixed(m.phi, 3)})`).join(', ') || '–'],
  ];
  return `<dl class="summary">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

/** Under halving: the last rung a candidate finished, and its score at each. */
function rungCells(data: ReportData, c: CandidateRow): string {
  if (!halving(data)) return '';
  const rung = c.scores.length ? rungLabel(data.strategy, c.scores.length) : '–';
  const scores = c.scores.map((s) => fixed(s)).join(' → ') || '–';
  return `<td class="l rung">${escapeHtml(rung)}</td><td class="l">${escapeHtml(scores)}</td>`;
}

function candidateRow(data: ReportData, c: CandidateRow): string {
  const cells = [
    String(c.index),
    fixed(c.alpha),
    fixed(c.beta),
    fixed(c.gamma),
    fixed(c.factors.depth, 3),
    fixed(c.factors.width, 3),
    fixed(c.factors.resolution, 3),
    compact(c.macs),
    compact(c.params),
    c.score === undefined ? '–' : formatScore(c.score, c.samples),
  ].map((v) => `<td>${escapeHtml(v)}</td>`);
  const group = c.sharesTrainingOf !== undefined ? `${c.group} (= #${c.sharesTrainingOf})` : c.group;
  const tied = data.selection?.tied?.some((t) => t.index === c.index);
  const rowClass = c.index === data.best?.index ? ' class="chosen"' : tied ? ' class="tied"' : '';
  return (
    `<tr data-candidate="${c.index}"${rowClass}>${cells.join('')}<td class="mark">${escapeHtml(marks(data, c))}</td>` +
    `${rungCells(data, c)}<td>${escapeHtml(seconds(c.seconds))}</td>` +
    `<td class="l state-${c.state}">${c.state}</td><td class="l">${escapeHtml(group)}</td>` +
    `<td class="note">${escapeHtml(c.note ?? '')}</td></tr>`
  );
}

/** ★ chosen, ≈ statistically tied with it, ◆ on the Pareto front of score against multiply-adds. */
function marks(data: ReportData, c: CandidateRow): string {
  const s = data.selection;
  return [
    c.index === data.best?.index ? '★' : '',
    s?.tied?.some((t) => t.index === c.index) ? '≈' : '',
    s?.pareto.includes(c.index) ? '◆' : '',
  ].join('');
}

function candidatesTable(data: ReportData): string {
  const head = ['#', 'α', 'β', 'γ', 'depth d′', 'width w′', 'resolution r′', 'multiply-adds', 'params', 'score']
    .map((h) => `<th>${h}</th>`)
    .join('');
  const legend = '<th class="l" title="★ chosen, ≈ tied with it within the noise, ◆ Pareto front">★≈◆</th>';
  const rungs = halving(data) ? '<th class="l">rung</th><th class="l">per-rung scores</th>' : '';
  const rows = data.candidates.map((c) => candidateRow(data, c)).join('\n');
  return (
    `<div class="scroll"><table id="candidates"><thead><tr>${head}${legend}${rungs}<th>duration</th><th class="l">state</th><th class="l">dedup group</th>` +
    `<th class="l">note</th></tr></thead><tbody>\n${rows}\n</tbody></table></div>`
  );
}

function familyTable(data: ReportData): string {
  const head = [
    'member',
    'φ',
    'from',
    'depth d',
    'width w',
    'resolution r',
    'input',
    'multiply-adds',
    'real cost (target)',
    'params',
    'param bytes',
    'peak activations',
    'final score',
    'registered',
  ];
  const rows = data.family.map((m) =>
    [
      m.name,
      fixed(m.phi, 3),
      m.source,
      fixed(m.factors.depth, 3),
      fixed(m.factors.width, 3),
      fixed(m.factors.resolution, 3),
      `${m.resolution}×${m.resolution}`,
      compact(m.macs),
      // Summaries from before real costs were recorded have no multiplier.
      m.multiplier === undefined
        ? '–'
        : `×${fixed(m.multiplier, 2)} (×${fixed(m.target, 2)})${m.costWarning ? ' ⚠' : ''}`,
      compact(m.params),
      bytes(m.paramBytes),
      bytes(m.peakActivationBytes),
      m.finalScore !== undefined ? fixed(m.finalScore) : (m.finalState ?? 'not retrained'),
      m.registered ?? '–',
    ]
      .map(
        (v, i) =>
          `<td${i === 0 || i === 2 || i === 13 ? ' class="l"' : ''}${i === 8 && m.costWarning ? ` title="${escapeHtml(m.costWarning)}"` : ''}>${escapeHtml(v)}</td>`,
      )
      .join(''),
  );
  return `<table id="family"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r}</tr>`)
    .join('')}</tbody></table>`;
}

const plot = (id: string, svg: string) => `<div class="plot" id="${id}">${svg}</div>`;
const empty = (text: string) => `<p class="sub">${escapeHtml(text)}</p>`;

/** What a heatmap's cells say, and why a cell can be empty: no candidate there, or none with a score. */
function heatmapCaption(data: ReportData, [x, y, over]: HeatmapPair): string {
  const [a, b, c] = [x, y, over].map((k) => COEFFICIENTS[k].symbol);
  const sample = data.sampled ? ' (or the drawn sample left it out)' : '';
  return (
    `Each cell: the ${data.higherIsBetter ? 'highest' : 'lowest'} ${data.metric} over ${c} at that ${a}, ${b}. ` +
    `Blank: no candidate, as no grid point there satisfies the constraint${sample}. ` +
    `${UNSCORED_CELLS.excluded.text}: ${UNSCORED_CELLS.excluded.legend}, every candidate there. ` +
    `${UNSCORED_CELLS.unscored.text}: ${UNSCORED_CELLS.unscored.legend}, no candidate there has a score.`
  );
}

/** One figure per pair of coefficients, its caption under it; the shared colour legends on the last one. */
async function heatmaps(data: ReportData): Promise<string> {
  const figures = await Promise.all(
    HEATMAP_PAIRS.map(async (pair, k) => {
      const svg = await toSvg(heatmapSpec(data, pair, k === HEATMAP_PAIRS.length - 1));
      return (
        `<figure class="plot" id="heatmap-${pair[0]}-${pair[1]}">${svg}` +
        `<figcaption>${escapeHtml(heatmapCaption(data, pair))}</figcaption></figure>`
      );
    }),
  );
  return `<div class="heatmaps" id="heatmaps">${figures.join('')}</div>`;
}

/** Under halving only: the promotions, rung by rung. */
async function rungSection(data: ReportData): Promise<string> {
  if (!halving(data)) return '';
  const promoted = data.candidates.some((c) => c.scores.length >= 2);
  return (
    `<h2>Score per rung (successive halving)</h2>` +
    (promoted
      ? plot('rung-scores', await toSvg(rungScoresSpec(data)))
      : empty('no candidate was promoted past the first rung'))
  );
}

async function candidateCurvesSection(data: ReportData): Promise<string> {
  const order = halving(data) ? 'the most rungs finished, then the best score' : 'the best score';
  return (
    `<h2>Validation curves of the search candidates</h2>` +
    (data.candidateCurves.length
      ? `<p class="sub">At most ${CANDIDATE_CURVES} trainings, ${order} first; a dot marks where each one stopped.</p>` +
        plot('candidate-curves', await toSvg(candidateCurvesSpec(data)))
      : empty('no candidate training curve in the search directory'))
  );
}

/** final.ablation: the paper's Table 3 on the user's task, as a chart and a table. */
async function ablationSection(data: ReportData): Promise<string> {
  const a = data.ablation;
  if (!a) return '';
  const score = (x: { score?: number; state?: string }) => (x.score !== undefined ? fixed(x.score) : (x.state ?? '–'));
  const rows = [
    [
      `compound (${a.compound.member})`,
      '–',
      '–',
      '–',
      compact(a.compound.macs),
      `×${fixed(a.compound.multiplier, 2)}`,
      score(a.compound),
    ],
    ...a.arms.map((arm) => [
      arm.name,
      fixed(arm.factors.depth, 3),
      fixed(arm.factors.width, 3),
      fixed(arm.factors.resolution, 3),
      compact(arm.macs),
      `×${fixed(arm.multiplier, 2)}`,
      score(arm),
    ]),
  ];
  const head = ['scaling', 'depth d', 'width w', 'resolution r', 'multiply-adds', 'real cost', 'final score'];
  const table =
    `<table id="ablation"><thead><tr>${head.map((h, i) => `<th${i === 0 ? ' class="l"' : ''}>${h}</th>`).join('')}</tr></thead><tbody>` +
    rows
      .map((r) => `<tr>${r.map((v, i) => `<td${i === 0 ? ' class="l"' : ''}>${escapeHtml(v)}</td>`).join('')}</tr>`)
      .join('') +
    '</tbody></table>';
  return (
    `<h2>Compound scaling against one dimension</h2>` +
    `<p class="sub" id="ablation-verdict">${escapeHtml(a.verdict ?? 'the ablation has not finished')}. Each arm scales the baseline along one dimension to the real multiply-adds of the compound member and trains with the final budget.</p>` +
    plot('ablation-chart', await toSvg(ablationSpec(data))) +
    table
  );
}

export async function renderReport(data: ReportData, generatedAt = new Date()): Promise<string> {
  const scored = data.candidates.some((c) => c.score !== undefined);
  const sections = [
    `<h1>effscale search ${escapeHtml(data.name)}</h1><p class="sub">report generated ${generatedAt.toISOString()}</p>`,
    `<h2>Summary</h2>${budgetNote(data)}${summary(data)}`,
    `<h2>Score against multiply-adds</h2>` +
      (scored ? plot('pareto', await toSvg(paretoSpec(data))) : empty('no candidate has a score yet')),
    `<h2>Score over the grid</h2>` + (scored ? await heatmaps(data) : empty('no candidate has a score yet')),
    await rungSection(data),
    await candidateCurvesSection(data),
    `<h2>Training curves of the finalists</h2>` +
      (data.curves.length ? plot('curves', await toSvg(curvesSpec(data))) : empty('no finalist was retrained')),
    `<h2>Scaled family</h2>` +
      (data.family.length
        ? plot('family-cost', await toSvg(familySpec(data))) + familyTable(data)
        : empty('no family yet')),
    await ablationSection(data),
    `<h2>Candidates</h2><p class="sub">★ chosen, ≈ statistically tied with it (Welch 95 %), ◆ on the Pareto front of score against multiply-adds.</p>${candidatesTable(data)}`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>effscale report: ${escapeHtml(data.name)}</title><style>${CSS}</style></head>
<body>
${sections.join('\n')}
</body></html>
`;
}
