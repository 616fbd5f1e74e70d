import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { K8S_VERSION } from './cluster.js';

/**
 * Container images for the real node, built locally with buildah (no image registry is reachable from these
 * machines) and kept as OCI archives in $EFFSCALE_CACHE/k8s-$K8S_VERSION/images, keyed by a hash of what goes in,
 * so a warm run only imports them into containerd. buildah's storage lives in the same cache, never in
 * /var/lib/containers, and uses the vfs driver so a build leaves no mounts behind.
 */

export interface LocalImage {
  /** The reference pods and containerd's sandbox_image use, e.g. `localhost/effscale/pause:<key>`. */
  name: string;
  /** An OCI archive for `ctr images import`. */
  archive: string;
}

export function cacheDir(): string {
  const cache = process.env.EFFSCALE_CACHE ?? join(homedir(), '.cache', 'effscale');
  return join(cache, `k8s-${K8S_VERSION}`);
}

/**
 * buildah's defaults fail on these VMs: its default rlimits exceed the hard limits (`setrlimit RLIMIT_NPROC:
 * Operation not permitted`) and crun does not support the hybrid cgroup layout. A containers.conf fixes both.
 */
function buildahEnv(root: string): NodeJS.ProcessEnv {
  const conf = join(root, 'containers.conf');
  writeFileSync(
    conf,
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      '[network]',
      `network_config_dir = "${join(root, 'networks')}"`,
      '',
    ].join('\n'),
  );
  return { ...process.env, CONTAINERS_CONF: conf, BUILDAH_ISOLATION: 'chroot' };
}

/** What buildah creates outside its storage whatever it is told (root's blob-info cache, network state). */
const BUILDAH_SIDE_PATHS = ['/var/lib/containers', '/run/containers'];

function buildah(args: string[], root: string): void {
  const storage = ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
  execFileSync('buildah', [...storage, ...args], { env: buildahEnv(root), stdio: 'pipe', maxBuffer: 64 << 20 });
}

/**
 * Builds `context` (which holds a Dockerfile) as `name`, unless an archive of the same key is cached. The image is
 * removed from buildah's storage once archived: the archive is the cache.
 */
function buildImage(repository: string, key: string, populate: (context: string) => void): LocalImage {
  const name = `localhost/effscale/${repository}:${key}`;
  const images = join(cacheDir(), 'images');
  const archive = join(images, `${repository}-${key}.tar`);
  if (existsSync(archive)) return { name, archive };
  const root = join(cacheDir(), 'buildah');
  mkdirSync(root, { recursive: true });
  mkdirSync(images, { recursive: true });
  const context = mkdtempSync(join(tmpdir(), `effscale-image-${repository}-`));
  const absent = BUILDAH_SIDE_PATHS.filter((p) => !existsSync(p));
  try {
    populate(context);
    buildah(['bud', '--layers=false', '--pull=never', '-t', name, '-f', join(context, 'Dockerfile'), context], root);
    const partial = `${archive}.partial`;
    rmSync(partial, { force: true });
    buildah(['push', name, `oci-archive:${partial}:${name}`], root);
    buildah(['rmi', '-f', name], root);
    renameSync(partial, archive);
    return { name, archive };
  } finally {
    rmSync(context, { recursive: true, force: true });
    for (const p of absent) rmSync(p, { recursive: true, force: true });
  }
}

function hash(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 12);
}

/** A static Go program that sleeps until SIGTERM/SIGINT: the sandbox ("pause") container of every pod. */
const PAUSE_SOURCE = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`;

export function pauseImage(): LocalImage {
  return buildImage('pause', hash(PAUSE_SOURCE, process.version), (context) => {
    writeFileSync(join(context, 'main.go'), PAUSE_SOURCE);
    writeFileSync(join(context, 'go.mod'), 'module local/pause\n\ngo 1.22\n');
    execFileSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', 'pause', '.'], {
      cwd: context,
      env: { ...process.env, CGO_ENABLED: '0' },
      stdio: 'pipe',
    });
    writeFileSync(
      join(context, 'Dockerfile'),
      'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
    );
  });
}

/** The shared libraries `ldd` lists for a binary, with the dynamic loader. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]);
}

/**
 * Node.js from scratch: the host's `node` binary (the one running the tests) and the libraries it links, at the
 * same paths. About 100 MB; runs `node -e` and plain scripts, as a non-root user.
 */
export function nodeImage(): LocalImage {
  const node = process.execPath;
  const files = [node, ...sharedLibraries(node)];
  const dockerfile = 'FROM scratch\nCOPY rootfs/ /\nUSER 1000:1000\nENTRYPOINT ["' + node + '"]\n';
  const key = hash(process.version, dockerfile, ...files.map((f) => `${f}:${statSync(f).size}:${statSync(f).mtimeMs}`));
  return buildImage('node', key, (context) => {
    for (const file of files) {
      const target = join(context, 'rootfs', file);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(file, target);
    }
    mkdirSync(join(context, 'rootfs', 'tmp'), { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
  });
}
