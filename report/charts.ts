import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochMetrics } from '../schemas/candidate.js';
import type { Coefficients } from '../scaling/scale.js';
import { epochsText, heatmapCells, rungLabel, type CandidateCurve, type CellState, type ReportData } from './data.js';
import { paretoSet } from '../search/selection.js';

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

/**
 * Score against multiply-adds: one mark per scored candidate, the Pareto front, the chosen candidate marked, and
 * with repeats an error bar of ± one spread of its seeds.
 */
export function paretoSpec(data: ReportData): TopLevelSpec {
  const scored = data.candidates
    .filter((c) => c.score !== undefined)
    .map((c) => ({
      index: c.index,
      macs: c.macs,
      score: c.score ?? 0,
      ...(c.spread !== undefined && { low: (c.score ?? 0) - c.spread, high: (c.score ?? 0) + c.spread }),
      shared: c.sharesTrainingOf !== undefined ? 'shares a training' : 'own training',
      label:
        `candidate ${c.index}: ${coefficients(c)}, score ${c.score}` +
        (c.spread !== undefined ? ` ± ${c.spread.toFixed(4)}` : '') +
        `, ${compact(c.macs)} multiply-adds`,
    }));
  const front = paretoSet(scored, data.higherIsBetter).map(({ macs, score }) => ({ macs, score }));
  const bars = scored.filter((c) => c.low !== undefined);
  const best = data.best;
  // The floor a trained candidate must clear; drawn even far below the scores, so the reader sees the distance.
  const chance = data.chance === undefined ? [] : [{ score: data.chance, label: `chance: ${data.chance.toFixed(3)}` }];
  const x = {
    field: 'macs',
    type: 'quantitative',
    title: 'multiply-adds per image (log scale)',
    scale: { type: 'log' },
    axis: { format: '~s' },
  } as const;
  // Padded so that a chance line at the bottom of the scores stands clear of the x axis.
  const y = {
    field: 'score',
    type: 'quantitative',
    title: `score (${data.metric})`,
    scale: { zero: false, padding: 8 },
  } as const;
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
        name: 'pareto_errorbar',
        data: { values: bars },
        mark: { type: 'rule', color: '#555', strokeWidth: 1.5 },
        encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' }, description: { field: 'label' } },
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
        name: 'pareto_chance',
        data: { values: chance },
        mark: { type: 'rule', color: '#c62828', strokeDash: [2, 2] },
        encoding: { y, description: { field: 'label' } },
      },
      {
        name: 'pareto_chance_label',
        data: { values: chance },
        mark: { type: 'text', text: 'chance', align: 'right', baseline: 'bottom', dy: -2, color: '#c62828' },
        encoding: { x: { value: 'width' }, y },
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

/** α, β, γ as the heatmaps name them: the symbol and the dimension it scales. */
export const COEFFICIENTS = {
  alpha: { symbol: 'α', dimension: 'depth' },
  beta: { symbol: 'β', dimension: 'width' },
  gamma: { symbol: 'γ', dimension: 'resolution' },
} as const;

/** The heatmaps: each pair of coefficients, then the third, the one each cell's best score is taken over. */
export const HEATMAP_PAIRS = [
  ['alpha', 'beta', 'gamma'],
  ['alpha', 'gamma', 'beta'],
  ['beta', 'gamma', 'alpha'],
] as const satisfies readonly (readonly [keyof Coefficients, keyof Coefficients, keyof Coefficients])[];
export type HeatmapPair = (typeof HEATMAP_PAIRS)[number];

/** How a cell with no score reads, in the legend and in the cell: a grey cross, a white dash. */
export const UNSCORED_CELLS = {
  excluded: { legend: 'excluded (over the limits)', text: '×', fill: '#bdbdbd' },
  unscored: { legend: 'not trained or failed', text: '–', fill: '#ffffff' },
} as const satisfies Record<Exclude<CellState, 'scored'>, unknown>;

/**
 * Whether white text stands out more than black from a scored cell's colour (the score layer's `color` scale):
 * so at viridis' dark end, and black at its light one.
 */
const WHITE_INK =
  "isValid(datum.score) && contrast('white', scale('color', datum.score)) > contrast('black', scale('color', datum.score))";

const coefficientTitle = (c: keyof Coefficients) => `${COEFFICIENTS[c].symbol} (${COEFFICIENTS[c].dimension})`;

/**
 * One heatmap over a pair of coefficients: each cell the best score over the third, written in the cell; cells
 * with no score filled by why; a pair with no candidate left blank. The colour domain is every score drawn, so the
 * three heatmaps share one scale and `legends` need showing on one only.
 */
export function heatmapSpec(data: ReportData, [x, y, over]: HeatmapPair, legends: boolean): TopLevelSpec {
  const scores = data.candidates.flatMap((c) => (c.score !== undefined ? [c.score] : []));
  const cells = heatmapCells(data.candidates, x, y, data.higherIsBetter).map((cell) => {
    const at = `${COEFFICIENTS[x].symbol} ${cell.x}, ${COEFFICIENTS[y].symbol} ${cell.y}`;
    const unscored = cell.state === 'scored' ? undefined : UNSCORED_CELLS[cell.state];
    return {
      ...cell,
      text: unscored?.text ?? cell.score?.toFixed(3),
      status: unscored?.legend,
      label: unscored
        ? `${at}: ${unscored.legend}`
        : `${at}: ${data.metric} ${cell.score} at the best ${COEFFICIENTS[over].symbol}`,
    };
  });
  const encoding = {
    x: { field: 'x', type: 'ordinal', title: coefficientTitle(x), axis: { labelAngle: 0 } },
    y: { field: 'y', type: 'ordinal', title: coefficientTitle(y), sort: 'descending' },
    description: { field: 'label' },
  } as const;
  const unscored = Object.values(UNSCORED_CELLS);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    // Wide enough for a score's three decimals in the cell.
    width: { step: 40 },
    height: { step: 24 },
    layer: [
      {
        name: 'heatmap_score',
        data: { values: cells.filter((c) => c.state === 'scored') },
        mark: { type: 'rect' },
        encoding: {
          ...encoding,
          color: {
            field: 'score',
            type: 'quantitative',
            title: `${data.higherIsBetter ? 'best' : 'lowest'} ${data.metric}`,
            scale: {
              scheme: 'viridis',
              reverse: !data.higherIsBetter,
              domain: [Math.min(...scores), Math.max(...scores)],
            },
            legend: legends ? {} : null,
          },
        },
      },
      {
        name: 'heatmap_unscored',
        data: { values: cells.filter((c) => c.state !== 'scored') },
        mark: { type: 'rect', stroke: '#999', strokeWidth: 0.5 },
        encoding: {
          ...encoding,
          fill: {
            field: 'status',
            type: 'nominal',
            title: 'no score',
            scale: { domain: unscored.map((u) => u.legend), range: unscored.map((u) => u.fill) },
            legend: legends ? { symbolStrokeColor: '#999', labelLimit: 240 } : null,
          },
        },
      },
      {
        name: 'heatmap_text',
        data: { values: cells },
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          x: encoding.x,
          y: encoding.y,
          text: { field: 'text' },
          color: { condition: { test: WHITE_INK, value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Whole epochs, about ten ticks at most, from 0 (vega drops those outside the domain): vega's own ticks over a
 * short run fall on half epochs (1, 1.5, 2, …), whatever tickMinStep says.
 */
export function epochTicks(last: number): number[] {
  const step = [1, 2, 5, 10, 20, 25, 50, 100].find((s) => last / s <= 10) ?? Math.ceil(last / 10);
  return Array.from({ length: Math.floor(last / step) + 1 }, (_, k) => k * step);
}

/** An x axis of epochs up to the last one drawn; `d` keeps vega from writing 1 as "1.0". */
function epochX(epochs: EpochMetrics[][]) {
  const last = Math.max(...epochs.map((run) => run.at(-1)?.epoch ?? 0));
  return {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    axis: { values: epochTicks(last), format: 'd' },
  } as const;
}

/** Each finalist's two curves told apart by line style, a legend naming both: solid validation, dashed training. */
const SPLITS = {
  domain: ['validation', 'training'],
  range: [
    [1, 0],
    [6, 3],
  ],
};

/** Per-epoch validation and training accuracy and loss of the retrained finalists. */
export function curvesSpec(data: ReportData): TopLevelSpec {
  const values = data.curves.flatMap((curve) =>
    curve.epochs.flatMap((e) => [
      { member: curve.member, epoch: e.epoch, split: 'validation', accuracy: e.valAccuracy, loss: e.valLoss },
      { member: curve.member, epoch: e.epoch, split: 'training', accuracy: e.trainAccuracy, loss: e.trainLoss },
    ]),
  );
  const x = epochX(data.curves.map((c) => c.epochs));
  const panel = (field: 'accuracy' | 'loss') => {
    const encoding = {
      x,
      y: { field, type: 'quantitative', title: field, scale: { zero: false } },
      color: { field: 'member', type: 'nominal', title: 'finalist' },
    };
    return {
      width: 300,
      height: 200,
      layer: [
        {
          name: `curve_${field}`,
          mark: { type: 'line' },
          encoding: {
            ...encoding,
            // Its own layer, apart from the points, so that the legend draws each dash in grey (the colour is
            // the finalist's) and not a dot.
            strokeDash: {
              field: 'split',
              type: 'nominal',
              title: 'curve',
              scale: SPLITS,
              legend: { symbolType: 'stroke', symbolSize: 400, symbolStrokeColor: '#555', symbolStrokeWidth: 2 },
            },
          },
        },
        {
          name: `curve_${field}_point`,
          mark: { type: 'point', filled: true },
          encoding: { ...encoding, detail: { field: 'split' } },
        },
      ],
    };
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    hconcat: [panel('accuracy'), panel('loss')],
  } as TopLevelSpec;
}

/** The validation figure a candidate's score is read from: the task's metric, per epoch. */
function validation(metric: string, e: EpochMetrics): number {
  if (metric === 'loss') return e.valLoss;
  return metric === 'error' ? 1 - e.valAccuracy : e.valAccuracy;
}

/** Under halving a curve is named by the rung it stopped at; every exhaustive curve runs all epochs. */
function stoppedAt(data: ReportData, curve: CandidateCurve): string {
  const { strategy } = data;
  return strategy.kind === 'halving' ? rungLabel(strategy, curve.finishedRungs) : epochsText(strategy.rungEpochs[0]);
}

/** Every rung's label, in rung order: a legend that reads as the ladder a candidate climbs. */
const rungLabels = (data: ReportData) => data.strategy.rungEpochs.map((_, k) => rungLabel(data.strategy, k + 1));

/**
 * The validation metric of the search candidates that went furthest, over the epochs they trained, each marked
 * where it stopped; under halving, rules at the rung boundaries show where candidates were promoted or dropped.
 */
export function candidateCurvesSpec(data: ReportData): TopLevelSpec {
  const values = data.candidateCurves.flatMap((c) =>
    c.epochs.map((e) => ({
      candidate: c.index,
      epoch: e.epoch,
      value: validation(data.metric, e),
      stopped: stoppedAt(data, c),
    })),
  );
  const stops = data.candidateCurves.map((c) => {
    const last = c.epochs[c.epochs.length - 1];
    const value = validation(data.metric, last);
    const stopped = stoppedAt(data, c);
    return {
      epoch: last.epoch,
      value,
      stopped,
      label: `candidate ${c.index} stopped after epoch ${last.epoch} (${stopped}), ${data.metric} ${value.toFixed(4)}`,
    };
  });
  const halving = data.strategy.kind === 'halving';
  const boundaries = halving
    ? data.strategy.rungEpochs.map((epoch, k) => ({ epoch, label: `end of rung ${k + 1}` }))
    : [];
  const x = epochX(data.candidateCurves.map((c) => c.epochs));
  const y = {
    field: 'value',
    type: 'quantitative',
    title: `validation ${data.metric}`,
    scale: { zero: false },
  } as const;
  const color = {
    field: 'stopped',
    type: 'ordinal',
    title: halving ? 'stopped at' : 'trained',
    legend: { labelLimit: 240 },
    scale: { domain: halving ? rungLabels(data) : [epochsText(data.strategy.rungEpochs[0])], scheme: 'viridis' },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 300,
    layer: [
      {
        name: 'rung_boundary',
        data: { values: boundaries },
        mark: { type: 'rule', color: '#bbb', strokeDash: [4, 3] },
        encoding: { x, description: { field: 'label' } },
      },
      {
        name: 'candidate_curve',
        data: { values },
        mark: { type: 'line', opacity: 0.7 },
        encoding: { x, y, color, detail: { field: 'candidate', type: 'nominal' } },
      },
      {
        name: 'candidate_curve_stop',
        data: { values: stops },
        mark: { type: 'point', filled: true, size: 50 },
        encoding: { x, y, color, description: { field: 'label' } },
      },
    ],
  };
}

/**
 * Successive halving's promotions: each candidate's score at every rung it finished, one line per candidate
 * promoted at least once, coloured by the rung it reached; grey points are the first rung's candidates never
 * promoted, the field the others were chosen from.
 */
export function rungScoresSpec(data: ReportData): TopLevelSpec {
  const { rungEpochs } = data.strategy;
  const trainings = data.candidates.filter((c) => c.sharesTrainingOf === undefined);
  const promoted = trainings
    .filter((c) => c.scores.length >= 2)
    .flatMap((c) =>
      c.scores.map((score, k) => ({
        candidate: c.index,
        epochs: rungEpochs[k],
        score,
        reached: rungLabel(data.strategy, c.scores.length),
        line: `candidate ${c.index}: ${c.scores.join(' → ')}`,
        label: `candidate ${c.index}, ${rungLabel(data.strategy, k + 1)}: score ${score}`,
      })),
    );
  const dropped = trainings
    .filter((c) => c.scores.length === 1)
    .map((c) => ({ epochs: rungEpochs[0], score: c.scores[0], label: `candidate ${c.index}: score ${c.scores[0]}` }));
  const x = {
    field: 'epochs',
    type: 'ordinal',
    title: 'epochs at the end of the rung',
    axis: { labelAngle: 0 },
  } as const;
  const y = { field: 'score', type: 'quantitative', title: `score (${data.metric})`, scale: { zero: false } } as const;
  const color = {
    field: 'reached',
    type: 'ordinal',
    title: 'reached',
    legend: { labelLimit: 240 },
    scale: { domain: rungLabels(data).slice(1), scheme: 'viridis' },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 420,
    height: 300,
    layer: [
      {
        name: 'rung_dropped',
        data: { values: dropped },
        mark: { type: 'point', filled: true, size: 30, color: '#bbb' },
        encoding: { x, y, description: { field: 'label' } },
      },
      {
        name: 'rung_score',
        data: { values: promoted },
        mark: { type: 'line' },
        encoding: { x, y, color, detail: { field: 'candidate', type: 'nominal' }, description: { field: 'line' } },
      },
      {
        name: 'rung_score_point',
        data: { values: promoted },
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { x, y, color, description: { field: 'label' } },
      },
    ],
  };
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

/**
 * The ablation side by side: the compound member and its single-dimension arms of the same real cost, and the
 * baseline, one bar each, labelled with the score and the real cost multiplier.
 */
export function ablationSpec(data: ReportData): TopLevelSpec {
  const a = data.ablation;
  const bars = a
    ? [
        {
          arm: `compound (${a.compound.member})`,
          score: a.compound.score,
          multiplier: a.compound.multiplier,
          kind: 'compound',
        },
        ...a.arms.map((arm) => ({
          arm: arm.name,
          score: arm.score,
          multiplier: arm.multiplier,
          kind: arm.name === 'baseline' ? 'baseline' : 'single dimension',
        })),
      ]
        .filter((b) => b.score !== undefined)
        .map((b) => ({ ...b, label: `${(b.score ?? 0).toFixed(4)} (×${b.multiplier.toFixed(2)})` }))
    : [];
  const x = { field: 'arm', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } } as const;
  const y = {
    field: 'score',
    type: 'quantitative',
    title: `final score (${data.metric})`,
    scale: { zero: false, padding: 12 },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 560,
    height: 260,
    data: { values: bars },
    layer: [
      {
        name: 'ablation_bar',
        mark: { type: 'bar', width: 48 },
        encoding: {
          x,
          y,
          color: {
            field: 'kind',
            type: 'nominal',
            title: 'scaling',
            scale: { domain: ['compound', 'single dimension', 'baseline'], range: ['#d62728', '#1f77b4', '#999'] },
          },
          description: { field: 'label' },
        },
      },
      {
        name: 'ablation_label',
        mark: { type: 'text', baseline: 'bottom', dy: -3 },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  };
}
