import { readFileSync } from 'node:fs';

/** The effscale release this code is (package.json's version): workers, trainers and images carry it. */
export const packageVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
