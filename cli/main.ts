import { Command } from 'commander';
import { runCli } from './run.js';
import { registerGrid } from './commands/grid.js';
import { registerInspect } from './commands/inspect.js';
import { registerPhi } from './commands/phi.js';
import { registerScale } from './commands/scale.js';
import { registerSearch } from './commands/search.js';

const program = new Command()
  .name('effscale')
  .description('Compound scaling (EfficientNet) of convolutional networks to a compute budget')
  .showHelpAfterError();

// Each command lives in its own module under commands/ and registers itself here.
const commands: ((program: Command) => void)[] = [
  registerScale,
  registerGrid,
  registerPhi,
  registerInspect,
  registerSearch,
];
for (const register of commands) register(program);

await runCli(program, process.argv);
