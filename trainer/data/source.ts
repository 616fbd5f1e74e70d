/** One decoded training image: row-major height × width × channels bytes. */
export interface RawImage {
  pixels: Uint8Array;
  height: number;
  width: number;
  channels: number;
  label: number;
}

/**
 * A dataset split read on demand: only the images of the current batch are in memory, whatever the dataset size,
 * so any index order (a seeded shuffle) costs the same.
 */
export interface ImageSource {
  /** The files it reads, for messages. */
  readonly description: string;
  readonly count: number;
  read(indices: readonly number[]): Promise<RawImage[]>;
  close(): Promise<void>;
}

/** A bad dataset (missing, corrupt or inconsistent files): a user error, reported before any training. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** A source restricted to some of its indices (a split or a limit); `read` takes positions within the subset. */
export function subset(source: ImageSource, indices: readonly number[], description: string): ImageSource {
  return {
    description,
    count: indices.length,
    read: (positions) => source.read(positions.map((p) => indices[p])),
    close: () => source.close(),
  };
}
