#!/usr/bin/env node
// The trainer entry an executor runs for one candidate (schemas/trainer-process.ts); `effscale train` is the same
// trainer behind the full CLI.
import { existsSync } from 'node:fs';

const main = new URL('../dist/trainer/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error(
    'effscale-trainer: not built yet. Run `npm run setup` (or `npm run build`) in the effscale checkout first.',
  );
  process.exit(1);
}
await import(main.href);
