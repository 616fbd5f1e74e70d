import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { MANAGED_SELECTOR } from './names.js';
import { isActive } from './status.js';

/**
 * Check-and-create turns, one chain per cluster and namespace, for a worker's executors to share (its pool holds
 * one): two executors of one namespace (searches with different settings) must not both see the same free slot.
 */
export class QuotaTurns {
  private readonly chains = new Map<string, Promise<unknown>>();

  /** Runs `step` after every earlier step of the same key has settled. */
  take<T>(key: string, step: () => Promise<T>): Promise<T> {
    const turn = (this.chains.get(key) ?? Promise.resolve()).then(step);
    this.chains.set(
      key,
      turn.catch(() => undefined),
    );
    return turn;
  }
}

/**
 * The GPU quota: never more managed trainer pods pending or running in the namespace than `quota`. The count comes
 * from the API (so pods of other workers and searches count too); within one worker the check-and-create is
 * serialized, and across workers a pod that turns out to be over the quota right after creation is withdrawn.
 */
export class PodQuota {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly quota: number | undefined,
    private readonly turns: QuotaTurns,
    private readonly cluster = '',
  ) {}

  async active(): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: MANAGED_SELECTOR });
    return list.items.filter(isActive);
  }

  /** Runs `create` once a slot is free; `wait` is called between checks (heartbeats, cancellation). */
  async withSlot<T>(create: () => Promise<T>, wait: () => Promise<void>): Promise<T> {
    const quota = this.quota;
    if (quota === undefined) return create();
    return this.turns.take(`${this.cluster}/${this.namespace}`, async () => {
      while ((await this.active()).length >= quota) await wait();
      return create();
    });
  }

  /** True when `name` is among the oldest `quota` active pods (ties by name), i.e. it may keep its slot. */
  async holdsSlot(name: string): Promise<boolean> {
    if (this.quota === undefined) return true;
    const created = (pod: V1Pod) => new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
    const order = (await this.active()).sort(
      (a, b) => created(a) - created(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name)),
    );
    const rank = order.findIndex((p) => p.metadata?.name === name);
    return rank >= 0 && rank < this.quota;
  }
}
