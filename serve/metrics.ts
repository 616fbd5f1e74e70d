/**
 * Prometheus text exposition (format 0.0.4) for the prediction server: no client library is needed for a few
 * counters and histograms, and keeping it here keeps the served process's dependency surface small. The state is
 * plain data so that, with several worker processes, the primary can sum theirs into one exposition.
 */

const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface HistogramState {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Everything the metrics hold: what a worker process sends its primary. */
export interface MetricsState {
  requests: Record<string, number>;
  latency: Record<string, HistogramState>;
  batchSize: HistogramState;
  instances: number;
  padded: number;
  dropped: Record<string, number>;
}

const histogram = (buckets: number[]): HistogramState => ({ buckets, counts: buckets.map(() => 0), sum: 0, count: 0 });

function observe(h: HistogramState, value: number): void {
  h.sum += value;
  h.count += 1;
  h.buckets.forEach((le, i) => {
    if (value <= le) h.counts[i] = (h.counts[i] ?? 0) + 1;
  });
}

function histogramLines(h: HistogramState, name: string, labels: string): string[] {
  const sep = labels ? ',' : '';
  return [
    ...h.buckets.map((le, i) => `${name}_bucket{${labels}${sep}le="${le}"} ${h.counts[i] ?? 0}`),
    `${name}_bucket{${labels}${sep}le="+Inf"} ${h.count}`,
    `${name}_sum${labels ? `{${labels}}` : ''} ${h.sum}`,
    `${name}_count${labels ? `{${labels}}` : ''} ${h.count}`,
  ];
}

function addHistogram(into: HistogramState | undefined, h: HistogramState): HistogramState {
  if (!into) return { ...h, counts: [...h.counts] };
  h.counts.forEach((n, i) => (into.counts[i] = (into.counts[i] ?? 0) + n));
  into.sum += h.sum;
  into.count += h.count;
  return into;
}

function batchBuckets(maxBatch: number): number[] {
  const buckets: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) buckets.push(b);
  buckets.push(maxBatch);
  return buckets;
}

export class ServeMetrics {
  readonly state: MetricsState;

  constructor(
    private readonly model: string,
    maxBatch: number,
  ) {
    this.state = {
      requests: {},
      latency: {},
      batchSize: histogram(batchBuckets(maxBatch)),
      instances: 0,
      padded: 0,
      dropped: {},
    };
  }

  /** One finished request; `route` is the route pattern (never the raw URL, to keep label cardinality low). */
  recordRequest(route: string, code: number | string, seconds: number): void {
    const key = `route="${route}",code="${code}"`;
    this.state.requests[key] = (this.state.requests[key] ?? 0) + 1;
    observe((this.state.latency[route] ??= histogram(LATENCY_BUCKETS_SECONDS)), seconds);
  }

  /** One model invocation of `size` instances, run as a batch of `padded` (the allowed size it was padded to). */
  recordBatch(size: number, padded: number): void {
    observe(this.state.batchSize, size);
    this.state.instances += size;
    this.state.padded += padded - size;
  }

  /** Instances dropped before they ran: their request's deadline passed, or its client went away. */
  recordDropped(reason: string, instances: number): void {
    this.state.dropped[reason] = (this.state.dropped[reason] ?? 0) + instances;
  }

  /** The sum of several processes' metrics (the primary's view with `--workers`). */
  static merge(states: MetricsState[]): MetricsState {
    const [first, ...rest] = states;
    if (!first) throw new Error('no metrics to merge');
    const total: MetricsState = structuredClone(first);
    for (const s of rest) {
      for (const [k, n] of Object.entries(s.requests)) total.requests[k] = (total.requests[k] ?? 0) + n;
      for (const [k, n] of Object.entries(s.dropped)) total.dropped[k] = (total.dropped[k] ?? 0) + n;
      for (const [route, h] of Object.entries(s.latency)) total.latency[route] = addHistogram(total.latency[route], h);
      addHistogram(total.batchSize, s.batchSize);
      total.instances += s.instances;
      total.padded += s.padded;
    }
    return total;
  }

  render(state: MetricsState = this.state): string {
    const model = `model="${this.model}"`;
    const lines = [
      '# HELP effscale_serve_requests_total Requests by route and status (HTTP status, or gRPC code name).',
      '# TYPE effscale_serve_requests_total counter',
      ...Object.entries(state.requests).map(([labels, n]) => `effscale_serve_requests_total{${labels}} ${n}`),
      '# HELP effscale_serve_request_duration_seconds Request latency.',
      '# TYPE effscale_serve_request_duration_seconds histogram',
      ...Object.entries(state.latency).flatMap(([route, h]) =>
        histogramLines(h, 'effscale_serve_request_duration_seconds', `route="${route}"`),
      ),
      '# HELP effscale_serve_batch_size Instances per model invocation after batching.',
      '# TYPE effscale_serve_batch_size histogram',
      ...histogramLines(state.batchSize, 'effscale_serve_batch_size', model),
      '# HELP effscale_serve_instances_total Instances predicted.',
      '# TYPE effscale_serve_instances_total counter',
      `effscale_serve_instances_total{${model}} ${state.instances}`,
      '# HELP effscale_serve_padding_instances_total Empty slots run to pad batches to an allowed size.',
      '# TYPE effscale_serve_padding_instances_total counter',
      `effscale_serve_padding_instances_total{${model}} ${state.padded}`,
      '# HELP effscale_serve_dropped_instances_total Instances dropped before they ran, by reason.',
      '# TYPE effscale_serve_dropped_instances_total counter',
      ...['deadline', 'disconnected'].map(
        (reason) => `effscale_serve_dropped_instances_total{${model},reason="${reason}"} ${state.dropped[reason] ?? 0}`,
      ),
    ];
    return lines.join('\n') + '\n';
  }
}
