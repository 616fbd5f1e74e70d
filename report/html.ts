import { curvesSpec, familySpec, heatmapSpec, paretoSpec, toSvg } from './charts.js';
import type { CandidateRow, ReportData } from './data.js';

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
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
`;

function summary(data: ReportData): string {
  const t = data.totals;
  const best = data.best;
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
    [
      'chosen',
      best
        ? `candidate ${best.index}: α = ${best.alpha}, β = ${best.beta}, γ = ${best.gamma}, score ${fixed(best.score)}, ${compact(best.macs)} multiply-adds`
        : `none${data.emptyReason ? ` (${data.emptyReason})` : ''}`,
    ],
    ['family', data.family.map((m) => `${m.name} (φ = ${fixed(m.phi, 3)})`).join(', ') || '–'],
  ];
  return `<dl class="summary">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function candidateRow(c: CandidateRow, chosen: number | undefined): string {
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
    fixed(c.score),
    seconds(c.seconds),
  ].map((v) => `<td>${escapeHtml(v)}</td>`);
  const group = c.sharesTrainingOf !== undefined ? `${c.group} (= #${c.sharesTrainingOf})` : c.group;
  return (
    `<tr data-candidate="${c.index}"${c.index === chosen ? ' class="chosen"' : ''}>${cells.join('')}` +
    `<td class="l state-${c.state}">${c.state}</td><td class="l">${escapeHtml(group)}</td>` +
    `<td class="note">${escapeHtml(c.note ?? '')}</td></tr>`
  );
}

function candidatesTable(data: ReportData): string {
  const head = [
    '#',
    'α',
    'β',
    'γ',
    'depth d′',
    'width w′',
    'resolution r′',
    'multiply-adds',
    'params',
    'score',
    'duration',
  ]
    .map((h) => `<th>${h}</th>`)
    .join('');
  const rows = data.candidates.map((c) => candidateRow(c, data.best?.index)).join('\n');
  return (
    `<div class="scroll"><table id="candidates"><thead><tr>${head}<th class="l">state</th><th class="l">dedup group</th>` +
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
      compact(m.params),
      bytes(m.paramBytes),
      bytes(m.peakActivationBytes),
      m.finalScore !== undefined ? fixed(m.finalScore) : (m.finalState ?? 'not retrained'),
      m.registered ?? '–',
    ]
      .map((v, i) => `<td${i === 0 || i === 2 || i === 12 ? ' class="l"' : ''}>${escapeHtml(v)}</td>`)
      .join(''),
  );
  return `<table id="family"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r}</tr>`)
    .join('')}</tbody></table>`;
}

const plot = (id: string, svg: string) => `<div class="plot" id="${id}">${svg}</div>`;
const empty = (text: string) => `<p class="sub">${escapeHtml(text)}</p>`;

export async function renderReport(data: ReportData, generatedAt = new Date()): Promise<string> {
  const scored = data.candidates.some((c) => c.score !== undefined);
  const sections = [
    `<h1>effscale search ${escapeHtml(data.name)}</h1><p class="sub">report generated ${generatedAt.toISOString()}</p>`,
    `<h2>Summary</h2>${summary(data)}`,
    `<h2>Score against multiply-adds</h2>` +
      (scored ? plot('pareto', await toSvg(paretoSpec(data))) : empty('no candidate has a score yet')),
    `<h2>Score over the grid</h2>` +
      (scored ? plot('heatmaps', await toSvg(heatmapSpec(data))) : empty('no candidate has a score yet')),
    `<h2>Training curves of the finalists</h2>` +
      (data.curves.length ? plot('curves', await toSvg(curvesSpec(data))) : empty('no finalist was retrained')),
    `<h2>Scaled family</h2>` +
      (data.family.length
        ? plot('family-cost', await toSvg(familySpec(data))) + familyTable(data)
        : empty('no family yet')),
    `<h2>Candidates</h2>${candidatesTable(data)}`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>effscale report: ${escapeHtml(data.name)}</title><style>${CSS}</style></head>
<body>
${sections.join('\n')}
</body></html>
`;
}
