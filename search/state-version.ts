import type { SearchResult, SearchState } from './state.js';

/**
 * The search state's format, carried from run to run (continue-as-new) and recorded in `summary.json`. A release
 * reads the state of every earlier one: a change to SearchState bumps STATE_VERSION and adds the step from the
 * version before, so a search moved to a new release (`effscale upgrade`, a resume) keeps all it trained.
 */
export const STATE_VERSION = 2;

type RawState = Record<string, unknown>;

/** MIGRATIONS[v] turns a state of version v into one of version v + 1. */
const MIGRATIONS: Record<number, (state: RawState) => RawState> = {
  // 0.1.0 recorded no version, and did not know the builds its runs ran on.
  1: (state) => ({ ...state, builds: [] }),
};

export class StateVersionError extends Error {}

/** A state of any earlier version, as this release's SearchState. */
export function migrateState(raw: unknown, where = 'search state'): SearchState {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new StateVersionError(`${where}: expected an object, got ${JSON.stringify(raw)}`);
  let state = raw as RawState;
  let version = state.stateVersion ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    throw new StateVersionError(`${where}: stateVersion must be an integer ≥ 1, got ${JSON.stringify(version)}`);
  if (version > STATE_VERSION)
    throw new StateVersionError(
      `${where}: stateVersion ${version} was written by a newer effscale than this one (which reads up to ` +
        `${STATE_VERSION}); continue the search with that release or a later one`,
    );
  for (; version < STATE_VERSION; version++) state = MIGRATIONS[version](state);
  return { ...state, stateVersion: STATE_VERSION } as unknown as SearchState;
}

/** A recorded result (summary.json) of any earlier version, its state migrated. */
export function migrateResult(raw: SearchResult, where = 'summary.json'): SearchResult {
  return { ...raw, state: migrateState(raw.state, `${where}: state`) };
}
