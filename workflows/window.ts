import { condition } from '@temporalio/workflow';

/**
 * The sliding window every training of a search goes through (grid candidates in their chunk, finalists in the
 * search): at most `parallelism` at once, none launched while paused. Handlers change the settings and wake
 * whoever waits for a slot.
 */
export class TrainingWindow {
  private readonly running = new Map<string, Promise<void>>();
  private tick = 0;

  constructor(
    public parallelism: number,
    public paused: boolean,
  ) {}

  get size(): number {
    return this.running.size;
  }

  hasRoom(): boolean {
    return !this.paused && this.running.size < this.parallelism;
  }

  /** Something changed (a slot freed, a setting, new work): wakes `changed()`. */
  wake(): void {
    this.tick++;
  }

  /** Waits for a change, or at most `timeoutMs` (a deadline the caller must check, such as the budget's). */
  async changed(timeoutMs?: number): Promise<void> {
    const seen = this.tick;
    if (timeoutMs === undefined) await condition(() => this.tick !== seen);
    else await condition(() => this.tick !== seen, Math.max(1, Math.ceil(timeoutMs)));
  }

  /** Runs `work` in a slot; its errors are the caller's to handle inside `work`. */
  launch(key: string, work: () => Promise<void>): void {
    const done = work().finally(() => {
      this.running.delete(key);
      this.wake();
    });
    this.running.set(key, done);
  }

  /** Waits for every training in the window to end (used before closing, and on cancellation). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.running.values());
  }
}
