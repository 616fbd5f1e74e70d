import { Watch, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

/**
 * Follows one pod: list (for a resourceVersion), then watch from there; when the server ends the watch (timeout)
 * it re-watches from the last version seen, and on 410 Gone (that version was compacted) it lists again.
 * `onChange(undefined)` means the pod no longer exists.
 */
export class PodWatch {
  private stopped = false;
  private controller?: AbortController;
  private resourceVersion?: string;
  /** Counts lists after the first: how often the watch had to start over (410 Gone, errors). */
  relists = 0;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly name: string,
    private readonly timeoutSeconds: number,
    private readonly onChange: (pod: V1Pod | undefined) => void,
  ) {}

  async start(): Promise<void> {
    await this.list();
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async list(): Promise<void> {
    const list = await this.core.listNamespacedPod({
      namespace: this.namespace,
      fieldSelector: `metadata.name=${this.name}`,
    });
    this.resourceVersion = list.metadata?.resourceVersion;
    this.onChange(list.items[0]);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      if (outcome === 'gone' || outcome === 'error') {
        if (outcome === 'error') await delay(Math.min(30_000, 500 * 2 ** failures++));
        try {
          await this.list();
          this.relists++;
          failures = 0;
        } catch {
          failures++;
        }
      } else {
        failures = 0;
      }
    }
  }

  private watchOnce(): Promise<'closed' | 'gone' | 'error'> {
    return new Promise((resolve) => {
      let gone = false;
      new Watch(this.kubeConfig)
        .watch(
          `/api/v1/namespaces/${this.namespace}/pods`,
          {
            fieldSelector: `metadata.name=${this.name}`,
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.timeoutSeconds,
          },
          (type: string, object: { code?: number; metadata?: { resourceVersion?: string } }) => {
            if (type === 'ERROR') {
              gone = object.code === 410;
              return;
            }
            this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
            if (type === 'BOOKMARK') return;
            this.onChange(type === 'DELETED' ? undefined : (object as V1Pod));
          },
          (err: unknown) => {
            const status = (err as { statusCode?: number; code?: number } | null) ?? null;
            if (gone || status?.statusCode === 410 || status?.code === 410) resolve('gone');
            else resolve(err && !this.stopped ? 'error' : 'closed');
          },
        )
        .then(
          (controller) => {
            this.controller = controller;
            if (this.stopped) controller.abort();
          },
          () => resolve('error'),
        );
    });
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
