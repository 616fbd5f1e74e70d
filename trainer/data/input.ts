import { batches } from './batches.js';
import { filesInput, recordsInput } from './input-images.js';
import type { InputSettings, Split, SplitInput } from './splits.js';
import type { ImageSource } from './source.js';

/** The batches of a split for training (`augment`) or evaluation. */
export function splitInput(split: Split, settings: InputSettings, augment: boolean): SplitInput {
  if (split.kind === 'arrays') return arraysInput(split.source, settings);
  return split.kind === 'files' ? filesInput(split, settings, augment) : recordsInput(split, settings, augment);
}

/** Array datasets keep the JavaScript batcher: the wait is the time it takes to build each batch. */
function arraysInput(source: ImageSource, { tf, architecture, task, batchSize }: InputSettings): SplitInput {
  return {
    count: source.count,
    async *epoch({ shuffle, startBatch }) {
      const stream = batches(tf, source, {
        batchSize,
        classes: architecture.classes,
        input: architecture,
        ...(shuffle && { shuffle, augment: task.augment }),
        startBatch,
      });
      for (;;) {
        const t0 = performance.now();
        const next = await stream.next();
        if (next.done) return;
        yield { batch: next.value, waitSeconds: (performance.now() - t0) / 1000 };
      }
    },
    skippedInLastPass: () => 0,
    dispose: () => undefined,
  };
}
