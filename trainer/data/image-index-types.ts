import type { ImageFormat } from './image-signature.js';

export interface SkipReport {
  /** reason → count, e.g. 'not an image extension', 'hidden file', 'corrupt signature' */
  counts: Record<string, number>;
  /** up to 10 example paths (relative to the root) with their reason */
  examples: { path: string; reason: string }[];
  total: number;
}

/**
 * The images of a dataset split, built once per search and read by every trainer without reopening an image. Held
 * as a few typed arrays, not an object per image: ~40 bytes per ImageNet image.
 */
export interface ImageIndex {
  /** absolute folder the relative paths resolve against */
  readonly root: string;
  readonly classNames: readonly string[];
  readonly count: number;
  /** Bytes of the per-image arrays, in memory and (plus a small header) on disk. */
  readonly byteLength: number;
  /** '/'-separated, beneath the root. */
  relativePath(i: number): string;
  /** root + '/' + relativePath as UTF-8 bytes: what the TensorFlow input pipeline is fed (string tensor) */
  pathBytes(i: number): Uint8Array;
  label(i: number): number;
  /** What the file's signature says, whatever its extension. */
  format(i: number): ImageFormat;
  readonly skipped: SkipReport;
  /** Counts per format, for messages such as "1,500 images (1,200 JPEG, 300 PNG)" */
  formatCounts(): Partial<Record<ImageFormat, number>>;
}
