import { sleep, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

/**
 * A workflow change no earlier history replays: every workflow starts with a timer. Bundled into a second build
 * of this tree (`workflowInterceptorModules`), it stands for the next release that broke replay.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        await sleep(1);
        return next(input);
      },
    },
  ],
});
