/**
 * Prometheus text exposition (format 0.0.4) for the prediction server: no client library is needed for three
 * counters and two histograms, and keeping it here keeps the served process's dependency surface small.
 */

const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    this.buckets.forEach((le, i) => {
      if (value <= le) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }

  lines(name: string, labels: string): string[] {
    const sep = labels ? ',' : '';
    return [
      ...this.buckets.map((le, i) => `${name}_bucket{${labels}${sep}le="${le}"} ${this.counts[i] ?? 0}`),
      `${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`,
      `${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`,
      `${name}_count${labels ? `{${labels}}` : ''} ${this.count}`,
    ];
  }
}

function batchBuckets(maxBatchSize: number): number[] {
  const buckets: number[] = [];
  for (let b = 1; b < maxBatchSize; b *= 2) buckets.push(b);
  buckets.push(maxBatchSize);
  return buckets;
}

export class ServeMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly batchSize: Histogram;
  private instances = 0;

  constructor(
    private readonly model: string,
    maxBatchSize: number,
  ) {
    this.batchSize = new Histogram(batchBuckets(maxBatchSize));
  }

  /** One finished HTTP request; `route` is the route pattern (never the raw URL, to keep label cardinality low). */
  recordRequest(route: string, code: number, seconds: number): void {
    const key = `route="${route}",code="${code}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let histogram = this.latency.get(route);
    if (!histogram) {
      histogram = new Histogram(LATENCY_BUCKETS_SECONDS);
      this.latency.set(route, histogram);
    }
    histogram.observe(seconds);
  }

  /** One model invocation of `size` instances (after micro-batching). */
  recordBatch(size: number): void {
    this.batchSize.observe(size);
    this.instances += size;
  }

  render(): string {
    const model = `model="${this.model}"`;
    const lines = [
      '# HELP effscale_serve_requests_total HTTP requests by route and status code.',
      '# TYPE effscale_serve_requests_total counter',
      ...[...this.requests].map(([labels, n]) => `effscale_serve_requests_total{${labels}} ${n}`),
      '# HELP effscale_serve_request_duration_seconds HTTP request latency.',
      '# TYPE effscale_serve_request_duration_seconds histogram',
      ...[...this.latency].flatMap(([route, h]) =>
        h.lines('effscale_serve_request_duration_seconds', `route="${route}"`),
      ),
      '# HELP effscale_serve_batch_size Instances per model invocation after micro-batching.',
      '# TYPE effscale_serve_batch_size histogram',
      ...this.batchSize.lines('effscale_serve_batch_size', model),
      '# HELP effscale_serve_instances_total Instances predicted.',
      '# TYPE effscale_serve_instances_total counter',
      `effscale_serve_instances_total{${model}} ${this.instances}`,
    ];
    return lines.join('\n') + '\n';
  }
}
