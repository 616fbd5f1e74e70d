import { Worker } from 'node:worker_threads';

export const IMAGE_FORMATS = ['jpeg', 'png', 'gif', 'bmp', 'webp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Enough for the longest signature (WebP's 'RIFF' + size + 'WEBP'). */
export const SIGNATURE_BYTES = 12;
/** The format code of a file that is not one of IMAGE_FORMATS. */
export const NOT_AN_IMAGE = 0xff;
export const FORMAT_NAMES = 'JPEG/PNG/GIF/BMP/WebP';

const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0));
const SIGNATURES: { format: ImageFormat; at: number; bytes: number[] }[][] = [
  [{ format: 'jpeg', at: 0, bytes: [0xff, 0xd8, 0xff] }],
  [{ format: 'png', at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }],
  [{ format: 'gif', at: 0, bytes: ascii('GIF87a') }],
  [{ format: 'gif', at: 0, bytes: ascii('GIF89a') }],
  [{ format: 'bmp', at: 0, bytes: ascii('BM') }],
  [
    { format: 'webp', at: 0, bytes: ascii('RIFF') },
    { format: 'webp', at: 8, bytes: ascii('WEBP') },
  ],
];

/** The IMAGE_FORMATS index the first `length` bytes of `head` announce, or NOT_AN_IMAGE. */
export function detectFormat(head: Uint8Array, length: number): number {
  for (const parts of SIGNATURES) {
    const matches = parts.every(
      ({ at, bytes }) => at + bytes.length <= length && bytes.every((b, i) => head[at + i] === b),
    );
    if (matches) return IMAGE_FORMATS.indexOf(parts[0].format);
  }
  return NOT_AN_IMAGE;
}

/** How a rejected file starts, in hex and printable ASCII, so an HTML error page saved as .jpg is recognisable. */
export function describeStart(head: Uint8Array): string {
  if (head.length === 0) return 'empty file';
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `starts with ${hex} "${text}"`;
}

/** A file of a batch whose signature could not be read or is not an image's. */
export interface SignatureProblem {
  /** Position in the batch. */
  at: number;
  /** The bytes read, when the file was read but is not an image. */
  head?: Uint8Array;
  /** The errno code (ENOENT, EISDIR, …), when it could not be read. */
  code?: string;
  message?: string;
}

export interface SignatureBatch {
  /** Per file: its IMAGE_FORMATS index, or NOT_AN_IMAGE with an entry in `problems`. */
  formats: Uint8Array;
  problems: SignatureProblem[];
}

interface Job {
  paths: string[];
  resolve(batch: SignatureBatch): void;
  reject(err: Error): void;
}

/**
 * Threads reading signatures with blocking reads. On a warm cache a blocking open/read/close is ~3× faster than
 * libuv's asynchronous calls (no thread-pool round trip per call); on a cold one throughput grows with reads in
 * flight, i.e. with threads. Threads are started as batches queue up, so a small folder starts only one.
 */
export class SignatureReaders {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Job>();
  private readonly queue: Job[] = [];

  constructor(private readonly maxThreads: number) {}

  check(paths: string[]): Promise<SignatureBatch> {
    return new Promise((resolve, reject) => {
      this.queue.push({ paths, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers.length < this.maxThreads ? this.start() : undefined);
      if (!worker) return;
      const job = this.queue.shift() as Job;
      this.running.set(worker, job);
      worker.postMessage(job.paths);
    }
  }

  private start(): Worker {
    const worker = new Worker(new URL('./signature-worker.js', import.meta.url));
    worker.on('message', (batch: SignatureBatch) => {
      const job = this.running.get(worker);
      this.running.delete(worker);
      this.idle.push(worker);
      job?.resolve(batch);
      this.dispatch();
    });
    worker.on('error', (err) => {
      for (const job of [...this.running.values(), ...this.queue.splice(0)]) job.reject(err);
      this.running.clear();
    });
    this.workers.push(worker);
    return worker;
  }
}
