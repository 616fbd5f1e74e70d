import { Command } from 'commander';
import { runCli } from './run.js';
import { registerGrid } from './commands/grid.js';
import { registerInspect } from './commands/inspect.js';
import { registerPhi } from './commands/phi.js';
import { registerScale } from './commands/scale.js';
import { registerSearch } from './commands/search.js';
import { registerStatus } from './commands/status.js';
import { registerList } from './commands/list.js';
import { registerCancel } from './commands/cancel.js';
import { registerControl } from './commands/control.js';
import { registerExtend } from './commands/extend.js';
import { registerResult } from './commands/result.js';
import { registerCandidates } from './commands/candidates.js';
import { registerInit } from './commands/init.js';
import { registerModels } from './commands/models.js';
import { registerDev } from './commands/dev.js';
import { registerWorker } from './commands/worker.js';
import { registerTrain } from './commands/train.js';
import { registerServe } from './commands/serve.js';
import { registerReport } from './commands/report.js';
import { registerExport } from './commands/export.js';
import { registerUpgrade } from './commands/upgrade.js';
import { registerCodecServer } from './commands/codec-server.js';

const program = new Command()
  .name('effscale')
  .description('Compound scaling (EfficientNet) of convolutional networks to a compute budget')
  .showHelpAfterError();

// Each command lives in its own module under commands/ and registers itself here. A command imports what it
// runs (Temporal, TensorFlow, vega) inside its action, so `effscale --help` and each command load only their own.
const commands: ((program: Command) => void)[] = [
  registerScale,
  registerGrid,
  registerPhi,
  registerInspect,
  registerSearch,
  registerStatus,
  registerList,
  registerCancel,
  registerControl,
  registerExtend,
  registerResult,
  registerCandidates,
  registerInit,
  registerModels,
  registerDev,
  registerWorker,
  registerUpgrade,
  registerCodecServer,
  registerTrain,
  registerServe,
  registerReport,
  registerExport,
];
for (const register of commands) register(program);

await runCli(program, process.argv);
