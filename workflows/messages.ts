import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchExtension, BestCandidate } from '../search/types.js';
import type { ChunkCandidate, ChunkProgress, SearchProgress, SearchResult, Spend, Stage } from '../search/state.js';

/** The search workflow's message contract, shared by the workflow and every client (CLI, tests). */

export const progressQuery = defineQuery<SearchProgress>('progress');
/** The search's result so far: how a client shows a cancelled search without reading the workers' store. */
export const resultQuery = defineQuery<SearchResult>('result');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const setParallelismUpdate = defineUpdate<number, [number]>('setParallelism');
/** Returns the number of new distinct trainings planned (0 when only φ values were added). */
export const extendUpdate = defineUpdate<number, [SearchExtension]>('extend');

/**
 * Moves the search to the deployment's current version (`effscale upgrade`): it stops its trainings (each keeps its
 * checkpoint) and continues as new there with its state; returns the stage it hands off from.
 */
export const upgradeUpdate = defineUpdate<Stage, []>('upgrade');

/** Between the search and its chunk workflows. */
export const chunkProgressQuery = defineQuery<ChunkProgress>('chunkProgress');
/** A chunk's rows of the candidate table, live (the store has them too, once the chunk recorded them). */
export const chunkCandidatesQuery = defineQuery<ChunkCandidate[]>('candidates');
/** The search's window settings, sent to its running chunk whenever they change. */
export const chunkSettingsSignal = defineSignal<[{ parallelism: number; paused: boolean }]>('chunkSettings');
/** A chunk's new best candidate, sent to the search so the best score is live in its query and attribute. */
export const chunkBestSignal = defineSignal<[BestCandidate]>('chunkBest');
/** The search is moving to another version: the chunk stops its trainings, records them and closes. */
export const chunkHandoffSignal = defineSignal('chunkHandoff');
/** A chunk's spend so far, at most once a minute: the search's spend attribute stays live within a chunk. */
export const chunkSpendSignal = defineSignal<[Spend]>('chunkSpend');

/** Custom search attributes: filter searches in the Temporal UI and with `effscale list`. */
export const SearchNameAttribute = defineSearchAttributeKey('EffscaleSearch', SearchAttributeType.KEYWORD);
export const StageAttribute = defineSearchAttributeKey('EffscaleStage', SearchAttributeType.KEYWORD);
export const BestScoreAttribute = defineSearchAttributeKey('EffscaleBestScore', SearchAttributeType.DOUBLE);
/** Device-hours the search's trainings have taken so far. */
export const SpendAttribute = defineSearchAttributeKey('EffscaleSpend', SearchAttributeType.DOUBLE);
export const searchAttributeKeys = [SearchNameAttribute, StageAttribute, BestScoreAttribute, SpendAttribute];
