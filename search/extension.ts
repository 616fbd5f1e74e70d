import type { SearchExtension } from './types.js';
import type { Stage } from './state.js';

/** The one rule for whether an extension plans new grid points (a tolerance of 0 is a request too). */
export function addsGridPoints(ext: SearchExtension): boolean {
  return Boolean(ext.alpha || ext.beta || ext.gamma || ext.random || ext.tolerance !== undefined);
}

/** Rejects an extension before it enters the history: too late to add points, or nothing to add. */
export function validateExtension(ext: SearchExtension, stage: Stage): void {
  if (stage !== 'plan' && stage !== 'search')
    throw new Error(`the search is in its ${stage} stage; extend it after it has finished`);
  if (!ext.phis?.length && !addsGridPoints(ext))
    throw new Error('an extension needs phis or grid ranges (alpha/beta/gamma/tolerance/random)');
}
