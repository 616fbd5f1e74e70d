/**
 * How a search names its parts: chunk workflows and the trainings (candidate directories) of the grid, the finals
 * and the ablation. Ids are deterministic, so a retried or resumed step finds what an earlier attempt made.
 */

/** One stable id per chunk: a chunk started again (a resumed search) continues the same records. */
export function chunkWorkflowId(searchId: string, chunk: number): string {
  return `${searchId}/chunk-${chunk}`;
}

/** The search a workflow (the search itself, or one of its chunks) belongs to. */
export function searchOfWorkflow(workflowId: string): string {
  return workflowId.replace(/\/chunk-\d+$/, '');
}

/** The candidate's training of seed `repeat`: the first keeps the group's id, so repeats: 1 changes nothing. */
export function repeatCandidateId(group: string, repeat: number): string {
  return repeat === 0 ? group : `${group}-r${repeat}`;
}

/** The training (and output directory) of a finalist, and of an ablation arm. */
export const finalCandidateId = (member: string) => `final-${member}`;
export const ablationCandidateId = (arm: string) => `ablation-${arm}`;
