/** The workflow bundle's entry: every workflow type the worker registers. */
export { searchWorkflow } from './search.js';
export { chunkWorkflow } from './chunk.js';
