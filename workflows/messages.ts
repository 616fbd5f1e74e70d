import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchExtension } from '../activities/types.js';
import type { SearchProgress } from './state.js';

/** The search workflow's message contract, shared by the workflow and every client (CLI, tests). */

export const progressQuery = defineQuery<SearchProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const setParallelismUpdate = defineUpdate<number, [number]>('setParallelism');
/** Returns the number of new grid points planned (0 when only φ values were added). */
export const extendUpdate = defineUpdate<number, [SearchExtension]>('extend');

/** Custom search attributes: filter searches in the Temporal UI and with `effscale list`. */
export const SearchNameAttribute = defineSearchAttributeKey('EffscaleSearch', SearchAttributeType.KEYWORD);
export const StageAttribute = defineSearchAttributeKey('EffscaleStage', SearchAttributeType.KEYWORD);
export const BestScoreAttribute = defineSearchAttributeKey('EffscaleBestScore', SearchAttributeType.DOUBLE);
export const searchAttributeKeys = [SearchNameAttribute, StageAttribute, BestScoreAttribute];
