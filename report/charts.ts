import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ReportData } from './data.js';

/**
 * The report's plots as vega-lite specs, rendered to SVG in Node (no browser, no network to view). Mark layers
 * carry names, which vega writes as CSS classes (`<name>_marks`) so a test can count marks per layer.
 */

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const compact = (n: number) => Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 }).format(n);

const coefficients = (c: { alpha: number; beta: number; gamma: number }) => `α=${c.alpha} β=${c.beta} γ=${c.gamma}`;

/** Score against multiply-adds: one mark per scored candidate, the Pareto front, the chosen candidate marked. */
export function paretoSpec(data: ReportData): TopLevelSpec {
  const scored = data.candidates
    .filter((c) => c.score !== undefined)
    .map((c) => ({
      index: c.index,
      macs: c.macs,
      score: c.score,
      shared: c.sharesTrainingOf !== undefined ? 'shares a training' : 'own training',
      label: `candidate ${c.index}: ${coefficients(c)}, score ${c.score}, ${compact(c.macs)} multiply-adds`,
    }));
  const better = (a: number, b: number) => (data.higherIsBetter ? a > b : a < b);
  const front: { macs: number; score: number }[] = [];
  for (const c of [...scored].sort((a, b) => a.macs - b.macs || (better(a.score ?? 0, b.score ?? 0) ? -1 : 1))) {
    const last = front.at(-1);
    if (!last || better(c.score ?? 0, last.score)) front.push({ macs: c.macs, score: c.score ?? 0 });
  }
  const best = data.best;
  const x = {
    field: 'macs',
    type: 'quantitative',
    title: 'multiply-adds per image (log scale)',
    scale: { type: 'log' },
    axis: { format: '~s' },
  } as const;
  const y = { field: 'score', type: 'quantitative', title: `score (${data.metric})`, scale: { zero: false } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 320,
    layer: [
      {
        name: 'pareto_front',
        data: { values: front },
        mark: { type: 'line', interpolate: 'step-after', color: '#bbb', strokeDash: [4, 3] },
        encoding: { x, y },
      },
      {
        name: 'pareto_candidate',
        data: { values: scored },
        mark: { type: 'point', filled: true, size: 60, opacity: 0.8 },
        encoding: {
          x,
          y,
          color: { field: 'shared', type: 'nominal', title: 'training' },
          description: { field: 'label' },
        },
      },
      {
        name: 'pareto_chosen',
        data: {
          values: best ? [{ macs: best.macs, score: best.score, label: `chosen: candidate ${best.index}` }] : [],
        },
        mark: { type: 'point', shape: 'diamond', size: 320, color: '#d62728', strokeWidth: 2.5, filled: false },
        encoding: { x, y, description: { field: 'label' } },
      },
    ],
  };
}

/** Pairwise heatmaps over the grid: the best score in each cell, over the third coefficient. */
export function heatmapSpec(data: ReportData): TopLevelSpec {
  const values = data.candidates
    .filter((c) => c.score !== undefined)
    .map((c) => ({ alpha: c.alpha, beta: c.beta, gamma: c.gamma, score: c.score }));
  const pairs = [
    ['alpha', 'beta', 'α (depth)', 'β (width)'],
    ['alpha', 'gamma', 'α (depth)', 'γ (resolution)'],
    ['beta', 'gamma', 'β (width)', 'γ (resolution)'],
  ] as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    hconcat: pairs.map(([a, b, ta, tb]) => ({
      name: `heatmap_${a}_${b}`,
      width: 170,
      height: 170,
      mark: { type: 'rect' },
      encoding: {
        x: { field: a, type: 'ordinal', title: ta },
        y: { field: b, type: 'ordinal', title: tb, sort: 'descending' },
        color: {
          aggregate: data.higherIsBetter ? 'max' : 'min',
          field: 'score',
          type: 'quantitative',
          title: `${data.higherIsBetter ? 'best' : 'lowest'} ${data.metric}`,
          scale: { scheme: 'viridis', reverse: !data.higherIsBetter },
        },
      },
    })),
    resolve: { scale: { color: 'shared' } },
  };
}

/** Per-epoch validation and training accuracy and loss of the retrained finalists. */
export function curvesSpec(data: ReportData): TopLevelSpec {
  const values = data.curves.flatMap((curve) =>
    curve.epochs.flatMap((e) => [
      { member: curve.member, epoch: e.epoch, split: 'validation', accuracy: e.valAccuracy, loss: e.valLoss },
      { member: curve.member, epoch: e.epoch, split: 'training', accuracy: e.trainAccuracy, loss: e.trainLoss },
    ]),
  );
  const panel = (field: 'accuracy' | 'loss') => ({
    name: `curve_${field}`,
    width: 300,
    height: 200,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field, type: 'quantitative', title: field, scale: { zero: false } },
      color: { field: 'member', type: 'nominal', title: 'finalist' },
      strokeDash: { field: 'split', type: 'nominal', title: 'split' },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    hconcat: [panel('accuracy'), panel('loss')],
  } as TopLevelSpec;
}

/** The scaled family: multiply-adds and parameters per member. */
export function familySpec(data: ReportData): TopLevelSpec {
  const values = data.family.flatMap((m) => [
    { member: m.name, phi: m.phi, cost: 'multiply-adds', value: m.macs },
    { member: m.name, phi: m.phi, cost: 'parameters', value: m.params },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    facet: { column: { field: 'cost', type: 'nominal', title: null } },
    spec: {
      name: 'family_cost',
      width: 260,
      height: 180,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'member', type: 'nominal', title: 'member', sort: { field: 'phi' } },
        y: { field: 'value', type: 'quantitative', title: null, axis: { format: '~s' } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}
