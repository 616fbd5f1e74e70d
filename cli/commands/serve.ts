// `effscale serve` lives with the server it runs (serve/command.ts).
export { registerServe } from '../../serve/command.js';
