import { closeSync, constants, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import {
  detectFormat,
  NOT_AN_IMAGE,
  SIGNATURE_BYTES,
  type SignatureBatch,
  type SignatureProblem,
} from './image-signature.js';

/** A SignatureReaders thread: reads the first bytes of each file of a batch. */
const head = new Uint8Array(SIGNATURE_BYTES);
// Non-blocking so a FIFO named by a manifest reads as empty instead of hanging the thread; no effect on files.
const flags = constants.O_RDONLY | constants.O_NONBLOCK;

parentPort?.on('message', (paths: string[]) => {
  const formats = new Uint8Array(paths.length);
  const problems: SignatureProblem[] = [];
  paths.forEach((path, at) => {
    formats[at] = NOT_AN_IMAGE;
    try {
      const fd = openSync(path, flags);
      try {
        const length = readSync(fd, head, 0, SIGNATURE_BYTES, 0);
        formats[at] = detectFormat(head, length);
        if (formats[at] === NOT_AN_IMAGE) problems.push({ at, head: head.slice(0, length) });
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      const { code, message } = err as NodeJS.ErrnoException;
      problems.push({ at, code, message });
    }
  });
  parentPort?.postMessage({ formats, problems } satisfies SignatureBatch);
});
