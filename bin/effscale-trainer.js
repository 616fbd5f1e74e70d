#!/usr/bin/env node
// The trainer entry an executor runs for one candidate (schemas/trainer-process.ts); `effscale train` is the same
// trainer behind the full CLI.
import { existsSync } from 'node:fs';

// What effscale writes (specs, histories in the dev server's database, models) is its user's alone: 0600 files,
// 0700 folders, for this process and the ones it starts (trainers, the dev server). EFFSCALE_UMASK (octal) overrides
// it where trainers run as another user than the worker on a volume without fsGroup (a hostPath).
const umask = process.env.EFFSCALE_UMASK ?? '077';
if (!/^[0-7]{1,4}$/.test(umask)) {
  console.error(`EFFSCALE_UMASK=${umask}: expected an octal umask such as 077`);
  process.exit(2);
}
process.umask(parseInt(umask, 8));

const main = new URL('../dist/trainer/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error(
    'effscale-trainer: not built yet. Run `npm run setup` (or `npm run build`) in the effscale checkout first.',
  );
  process.exit(1);
}
await import(main.href);
