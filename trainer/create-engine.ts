import type { EngineName } from '../schemas/candidate.js';
import { EagerEngine } from './eager-engine.js';
import type { EngineSetup, TrainingEngine } from './engine.js';
import { GraphEngine } from './graph/engine.js';

export function createEngine(name: EngineName, setup: EngineSetup): TrainingEngine {
  return name === 'graph' ? GraphEngine.create(setup) : new EagerEngine(setup);
}
