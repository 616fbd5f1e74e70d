import { Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { LABEL } from '../../executors/kubernetes/names.js';

/**
 * Every pod the API server ever showed in a namespace, by search and candidate label, from a watch started before
 * the tests create any: succeeded pods are deleted once read, so a listing after the fact cannot tell whether a
 * candidate ran once or twice.
 */
export class PodHistory {
  /** search label → candidate label → pod names */
  private readonly seen = new Map<string, Map<string, Set<string>>>();
  private abort?: AbortController;
  private stopped = false;
  private resourceVersion?: string;

  private constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly namespace: string,
  ) {}

  static async start(kubeConfig: KubeConfig, namespace: string): Promise<PodHistory> {
    const history = new PodHistory(kubeConfig, namespace);
    await history.watch();
    return history;
  }

  /** Pod names per candidate label of one search. */
  podsOfSearch(searchLabel: string): Map<string, string[]> {
    return new Map([...(this.seen.get(searchLabel) ?? [])].map(([candidate, pods]) => [candidate, [...pods]]));
  }

  /** Pod names of one candidate label, whatever its search. */
  podsFor(candidateLabel: string): string[] {
    return [...this.seen.values()].flatMap((candidates) => [...(candidates.get(candidateLabel) ?? [])]);
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private record(pod: V1Pod): void {
    const labels = pod.metadata?.labels ?? {};
    const search = labels[LABEL.search];
    const candidate = labels[LABEL.candidate];
    if (!search || !candidate || !pod.metadata?.name) return;
    const candidates = this.seen.get(search) ?? new Map<string, Set<string>>();
    this.seen.set(search, candidates);
    const names = candidates.get(candidate) ?? new Set<string>();
    candidates.set(candidate, names);
    names.add(pod.metadata.name);
  }

  /** (Re)starts the watch from the last version seen: the API server ends watches after a while. */
  private async watch(): Promise<void> {
    const options = this.resourceVersion ? { resourceVersion: this.resourceVersion } : {};
    this.abort = await new Watch(this.kubeConfig).watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      options,
      (_type: string, pod: V1Pod) => {
        this.resourceVersion = pod.metadata?.resourceVersion ?? this.resourceVersion;
        this.record(pod);
      },
      () => {
        if (!this.stopped) void this.watch();
      },
    );
  }
}
