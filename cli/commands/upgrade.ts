import type { Command } from 'commander';
import { connectionOptions, type ConnectionFlags } from './common.js';

/** Moving searches between effscale releases, and telling when an old release's workers can go (docs/upgrading.md). */
export function registerUpgrade(program: Command): void {
  connectionOptions(
    program
      .command('upgrade')
      .description("move a running search to the deployment's current build (nothing finished is retrained)")
      .argument('<id>', 'workflow id of the search'),
  ).action(async (id: string, flags: ConnectionFlags) => {
    const { openSession } = await import('../../client/session.js');
    const { upgradeSearch } = await import('../../client/upgrade.js');
    const session = await openSession(flags);
    try {
      const move = await upgradeSearch(session.client, id);
      if (move.stage === null) console.log(`${id}: already on the current build ${move.to}`);
      else
        console.log(`${id}: moved from build ${move.from ?? '(unversioned)'} to ${move.to} in its ${move.stage} stage`);
    } finally {
      await session.close();
    }
  });

  const versions = connectionOptions(
    program
      .command('versions')
      .description("the deployment's builds: which is current, which still run searches, which can be removed")
      .option('--json', 'print JSON'),
  ).action(async (flags: ConnectionFlags & { json?: boolean }) => {
    const { openSession } = await import('../../client/session.js');
    const { deploymentVersions } = await import('../../client/versions.js');
    const session = await openSession(flags);
    try {
      const list = await deploymentVersions(session.client);
      if (flags.json) console.log(JSON.stringify(list, null, 2));
      else if (list.length === 0) console.log('no versioned worker has run yet');
      for (const v of flags.json ? [] : list)
        console.log(
          `${v.buildId}  ${v.status}  ${v.openPinned} open workflow(s) pinned` + (v.removable ? '  removable' : ''),
        );
    } finally {
      await session.close();
    }
  });
  connectionOptions(
    versions
      .command('current')
      .description('make a build current: new searches start on it (a rollout, or a rollback to a kept build)')
      .argument('<build>', 'build id (`effscale versions`)'),
  ).action(async (build: string, flags: ConnectionFlags) => {
    const { openSession } = await import('../../client/session.js');
    const { setCurrentVersion } = await import('../../worker/versions.js');
    const { DEPLOYMENT_NAME } = await import('../../worker/release.js');
    const session = await openSession(flags);
    try {
      await setCurrentVersion(session.client.workflowService, session.namespace, {
        deploymentName: DEPLOYMENT_NAME,
        buildId: build,
      });
      console.log(`build ${build} is current: new searches start on it`);
    } finally {
      await session.close();
    }
  });
}
