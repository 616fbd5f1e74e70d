import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { K8S_VERSION } from './cluster.js';
import { mountPoints } from './host.js';

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
  /** Seconds the build took in this process; undefined when the archive was already cached. */
  buildSeconds?: number;
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

/** Runs buildah on the cache's storage; with `log`, its output goes to that file (and its tail into an error). */
function buildah(args: string[], root: string, log?: string): void {
  const storage = ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
  if (!log) {
    execFileSync('buildah', [...storage, ...args], { env: buildahEnv(root), stdio: 'pipe', maxBuffer: 64 << 20 });
    return;
  }
  const fd = openSync(log, 'a');
  try {
    execFileSync('buildah', [...storage, ...args], { env: buildahEnv(root), stdio: ['ignore', fd, fd] });
  } catch (e) {
    const tail = readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(`buildah ${args[0]} failed (${String(e)}); the end of ${log}:\n${tail}`);
  } finally {
    closeSync(fd);
  }
}

interface BuildOptions {
  /** The Dockerfile, relative to the context (default `Dockerfile`). */
  dockerfile?: string;
  /** `--target`: the stage to build. */
  target?: string;
  buildArgs?: Record<string, string>;
  /** `--secret id=…,src=…`: files mounted into RUN steps that ask for them, never stored in the image. */
  secrets?: Record<string, string>;
  /** Locally built images the Dockerfile starts FROM: loaded into buildah's storage from their archives. */
  bases?: LocalImage[];
}

/**
 * Builds `context` (which holds a Dockerfile) as `name`, unless an archive of the same key is cached. The image is
 * removed from buildah's storage once archived: the archive is the cache, and archives of the same repository with
 * other keys are deleted. buildah's output goes to `<archive>.log`.
 */
function buildImage(
  repository: string,
  key: string,
  populate: (context: string) => void,
  options: BuildOptions = {},
): LocalImage {
  const name = `localhost/effscale/${repository}:${key}`;
  const images = join(cacheDir(), 'images');
  const archive = join(images, `${repository}-${key}.tar`);
  if (existsSync(archive)) return { name, archive };
  const began = Date.now();
  const root = join(cacheDir(), 'buildah');
  mkdirSync(root, { recursive: true });
  mkdirSync(images, { recursive: true });
  const context = mkdtempSync(join(tmpdir(), `effscale-image-${repository}-`));
  const absent = BUILDAH_SIDE_PATHS.filter((p) => !existsSync(p));
  const before = new Set(mountPoints());
  const log = `${archive}.log`;
  rmSync(log, { force: true });
  const bases = options.bases ?? [];
  try {
    populate(context);
    for (const base of bases) buildah(['pull', `oci-archive:${base.archive}`], root, log);
    const flags = [
      '--layers=false',
      '--pull=never',
      '-t',
      name,
      '-f',
      join(context, options.dockerfile ?? 'Dockerfile'),
    ];
    if (options.target) flags.push('--target', options.target);
    for (const [arg, value] of Object.entries(options.buildArgs ?? {})) flags.push('--build-arg', `${arg}=${value}`);
    for (const [id, src] of Object.entries(options.secrets ?? {})) flags.push('--secret', `id=${id},src=${src}`);
    buildah(['bud', ...flags, context], root, log);
    const partial = `${archive}.partial`;
    rmSync(partial, { force: true });
    buildah(['push', name, `oci-archive:${partial}:${name}`], root, log);
    renameSync(partial, archive);
    // Exactly `<repository>-<key>.tar`: `trainer-…` must not match `trainer-gpu-…`.
    const same = new RegExp(`^${repository}-[0-9a-f]{12}\\.tar$`);
    for (const old of readdirSync(images)) {
      if (same.test(old) && old !== `${repository}-${key}.tar`) {
        rmSync(join(images, old), { force: true });
        rmSync(join(images, `${old}.log`), { force: true });
      }
    }
    return { name, archive, buildSeconds: (Date.now() - began) / 1000 };
  } finally {
    for (const image of [name, ...bases.map((b) => b.name)]) {
      try {
        buildah(['rmi', '-f', image], root);
      } catch {
        // not there: the build failed before making it
      }
    }
    // A populate step that mounts (debootstrap mounts /proc and /sys in its target) and failed half-way.
    const left = mountPoints().filter((p) => p.startsWith(`${context}/`) && !before.has(p));
    for (const m of left.sort((a, b) => b.length - a.length)) {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    }
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

/** Where apt finds Debian (and its security archive) on this host; Debian's own defaults otherwise. */
function hostDebianMirrors(): { mirror: string; security: string } {
  const entries: { uri: string; suites: string[] }[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
  for (const file of files.filter((f) => f.endsWith('.sources'))) {
    // deb822 stanzas: `URIs:` and `Suites:` fields, stanzas separated by blank lines.
    for (const stanza of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const field = (n: string) => new RegExp(`^${n}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
      if (!field('Types').includes('deb') || field('Enabled')[0] === 'no') continue;
      for (const uri of field('URIs')) entries.push({ uri, suites: field('Suites') });
    }
  }
  for (const file of ['/etc/apt/sources.list', ...files.filter((f) => f.endsWith('.list'))]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m) entries.push({ uri: m[1], suites: [m[2]] });
    }
  }
  const find = (suite: string) => entries.find((e) => e.suites.includes(suite))?.uri.replace(/\/+$/, '');
  return {
    mirror: find(DEBIAN_SUITE) ?? 'http://deb.debian.org/debian',
    security: find(`${DEBIAN_SUITE}-security`) ?? 'http://deb.debian.org/debian-security',
  };
}

const DEBIAN_SUITE = 'bookworm';
const CHROOT = '/usr/sbin/chroot';

/**
 * The CA bundle this host trusts for HTTPS (where an intercepting proxy's CA is added, the registries are only
 * reachable with it): NODE_EXTRA_CA_CERTS, SSL_CERT_FILE or Debian's bundle. Builds get it as the secret `ca`.
 */
function hostCaBundle(): string | undefined {
  const candidates = [process.env.NODE_EXTRA_CA_CERTS, process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt'];
  return candidates.find((f): f is string => !!f && existsSync(f));
}

/**
 * apt settings the host needs for its mirror (a snapshot mirror serves Release files past their Valid-Until),
 * carried into the base image so that `apt-get update` works there too.
 */
function hostAptSettings(): string {
  const keys = ['Acquire::Check-Valid-Until', 'Acquire::Check-Date'];
  let dump = '';
  try {
    dump = execFileSync('apt-config', ['dump'], { encoding: 'utf8' });
  } catch {
    return '';
  }
  return dump
    .split('\n')
    .filter((line) => keys.some((k) => line.startsWith(`${k} `)))
    .map((line) => `${line}\n`)
    .join('');
}

/** Node's headers next to the binary (`<prefix>/include/node`), as node-gyp finds them with `nodedir=<prefix>`. */
function nodeHeaders(): string {
  const prefix = dirname(dirname(process.execPath));
  const headers = join(prefix, 'include', 'node');
  if (!existsSync(join(headers, 'node_api.h'))) throw new Error(`Node headers not found in ${headers}`);
  return headers;
}

/** The npm package that runs as `npm`, wherever the host installed it. */
function npmPackageDir(): string {
  const prefix = dirname(dirname(process.execPath));
  for (const dir of [join(prefix, 'lib', 'node_modules', 'npm'), '/usr/lib/node_modules/npm']) {
    if (existsSync(join(dir, 'bin', 'npm-cli.js'))) return dir;
  }
  throw new Error(`npm not found next to ${process.execPath}`);
}

/** How the base image is made; part of its key, so a change here rebuilds it. */
const NODE_BASE_RECIPE =
  'debootstrap --variant=minbase; node, npm (no npmrc) and headers under /usr/local; user node 1000; v2';
const NODE_BASE_DOCKERFILE = 'FROM scratch\nADD rootfs.tar /\nCMD ["node"]\n';

/**
 * A stand-in for `node:<.nvmrc>-bookworm-slim`, the default base of infra/Dockerfile.trainer and
 * infra/Dockerfile.worker (their `NODE_IMAGE` argument), made without an image registry: a Debian bookworm root
 * filesystem from `debootstrap --variant=minbase` on the host's Debian mirror (apt sources for bookworm, -updates
 * and -security like Debian's images), plus the Node.js running the tests — which must be the version of record,
 * .nvmrc, as the npm scripts make it (infra/use-node.sh) — its npm (with `npm`/`npx` links) and its headers under
 * /usr/local as in the node image, and the user `node` (1000:1000). About 320 MB; building takes about a minute.
 * Nothing of the host's npm or pip configuration goes in: builds get the host's CA bundle as a secret instead.
 */
export function nodeBaseImage(): LocalImage {
  const recorded = readFileSync(join(REPO, '.nvmrc'), 'utf8').trim().replace(/^v/, '');
  if (process.version !== `v${recorded}`) {
    throw new Error(
      `the images' base stands in for node:${recorded}-bookworm-slim (.nvmrc), but the tests run on Node.js ` +
        `${process.version}: run them through npm, or after \`. infra/use-node.sh\``,
    );
  }
  const { mirror, security } = hostDebianMirrors();
  const npm = npmPackageDir();
  const npmVersion = (JSON.parse(readFileSync(join(npm, 'package.json'), 'utf8')) as { version: string }).version;
  const node = statSync(process.execPath);
  const apt = hostAptSettings();
  const key = hash(
    NODE_BASE_RECIPE,
    NODE_BASE_DOCKERFILE,
    DEBIAN_SUITE,
    mirror,
    security,
    apt,
    process.version,
    `${node.size}:${node.mtimeMs}`,
    npmVersion,
  );
  return buildImage('node-base', key, (context) => {
    const rootfs = join(context, 'rootfs');
    execFileSync('debootstrap', ['--variant=minbase', DEBIAN_SUITE, rootfs, mirror], { stdio: 'pipe' });
    const inRoot = (...p: string[]) => join(rootfs, ...p);
    // Debian's image layout: deb822 sources, no package lists or downloaded debs, no host identity.
    rmSync(inRoot('etc/apt/sources.list'), { force: true });
    writeFileSync(
      inRoot('etc/apt/sources.list.d/debian.sources'),
      `Types: deb\nURIs: ${mirror}\nSuites: ${DEBIAN_SUITE} ${DEBIAN_SUITE}-updates\nComponents: main\n` +
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        `Types: deb\nURIs: ${security}\nSuites: ${DEBIAN_SUITE}-security\nComponents: main\n` +
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
    if (apt) writeFileSync(inRoot('etc/apt/apt.conf.d/99effscale-mirror'), apt);
    for (const dir of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
      for (const f of readdirSync(inRoot(dir)))
        if (f !== 'partial' && f !== 'lock') rmSync(inRoot(dir, f), { recursive: true });
    }
    rmSync(inRoot('etc/resolv.conf'), { force: true });
    writeFileSync(inRoot('etc/hostname'), 'localhost\n');
    execFileSync(CHROOT, [rootfs, 'groupadd', '--gid', '1000', 'node'], { stdio: 'pipe' });
    execFileSync(
      CHROOT,
      [rootfs, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node'],
      {
        stdio: 'pipe',
      },
    );
    // Node as the node image has it: /usr/local/bin/node, npm in /usr/local/lib/node_modules, the headers in
    // /usr/local/include/node (node-gyp builds addons against them, never downloading: see infra/setup-tfjs.sh).
    copyFileSync(process.execPath, inRoot('usr/local/bin/node'));
    // Not a builtin `npmrc` (infra/setup-node.sh gives its npm one pointing at the host's global npm config).
    cpSync(npm, inRoot('usr/local/lib/node_modules/npm'), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => source !== join(npm, 'npmrc'),
    });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', inRoot('usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', inRoot('usr/local/bin/npx'));
    cpSync(nodeHeaders(), inRoot('usr/local/include/node'), { recursive: true });
    execFileSync(CHROOT, [rootfs, '/usr/local/bin/node', '--version'], {
      stdio: 'pipe',
      env: { PATH: '/usr/bin:/bin' },
    });
    // ADD of a tar keeps owners and modes (COPY of a directory would make everything root's); /dev, /proc and
    // /sys stay empty, the runtime fills them.
    execFileSync(
      'tar',
      [
        '--numeric-owner',
        '--exclude=./dev/*',
        '--exclude=./proc/*',
        '--exclude=./sys/*',
        '-C',
        rootfs,
        '-cf',
        join(context, 'rootfs.tar'),
        '.',
      ],
      { stdio: 'pipe' },
    );
    rmSync(rootfs, { recursive: true, force: true });
    writeFileSync(join(context, 'Dockerfile'), NODE_BASE_DOCKERFILE);
  });
}

/** The repository checkout these tests run from (dist/test/k8s/images.js → the root). */
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function git(args: string[]): string {
  return execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

let resolvedTree: string | undefined;

/** The tree images are built from, resolved once: images of one run come from one commit however often HEAD moves. */
function sourceTree(): string {
  resolvedTree ??= git(['rev-parse', '--verify', `${process.env.EFFSCALE_IMAGE_REV || 'HEAD'}^{tree}`]);
  return resolvedTree;
}

/**
 * `.dockerignore` as a predicate on repository paths, for the patterns it keeps to: paths and globs (`*` within a
 * path segment, `**` across them) matching a file or a folder above it, `!` re-including; the last match decides.
 */
function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const include = line.startsWith('!');
      const pattern = line.replace(/^!/, '').replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) =>
          part === '**'
            ? '.*'
            : part === '*'
              ? '[^/]*'
              : part === '?'
                ? '[^/]'
                : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { include, match: new RegExp(`^${source}(/.*)?$`) };
    });
  return (path) => rules.reduce((ignored, rule) => (rule.match.test(path) ? !rule.include : ignored), false);
}

/** The files of `tree` in the images' build context, as `git ls-tree` lines (mode, object, path). */
function contextFiles(tree: string): { path: string; entry: string }[] {
  const ignored = dockerIgnore(git(['show', `${tree}:.dockerignore`]));
  return git(['ls-tree', '-r', '--full-tree', tree])
    .split('\n')
    .map((entry) => ({ entry, path: entry.slice(entry.indexOf('\t') + 1) }))
    .filter(({ path }) => !ignored(path));
}

/**
 * An image of the repository built from one of its Dockerfiles, on the local base image. The build context is the
 * part of a committed tree (HEAD, or the revision EFFSCALE_IMAGE_REV names) that `.dockerignore` leaves in, as
 * `git archive` gives it: uncommitted changes are not in the image. The key is those files' hashes with the
 * Dockerfile, target and base, so a commit that changes only tests, docs or examples reuses the cached image. The
 * host's CA bundle is passed as the secret `ca` for npm and pip (see the Dockerfiles).
 */
function repositoryImage(repository: string, dockerfile: string, target?: string): LocalImage {
  const base = nodeBaseImage();
  const tree = sourceTree();
  const files = contextFiles(tree);
  const key = hash(files.map((f) => f.entry).join('\n'), dockerfile, target ?? '', base.name);
  const ca = hostCaBundle();
  return buildImage(
    repository,
    key,
    (context) => {
      const archive = join(context, '.source.tar');
      git(['archive', '--format=tar', '-o', archive, tree, '--', ...files.map((f) => f.path)]);
      execFileSync('tar', ['-xf', archive, '-C', context], { stdio: 'pipe' });
      rmSync(archive);
    },
    {
      dockerfile,
      target,
      buildArgs: { NODE_IMAGE: base.name },
      secrets: ca ? { ca } : {},
      bases: [base],
    },
  );
}

/**
 * The trainer image (infra/Dockerfile.trainer): `cpu` is tfjs-node on the tensorflow-cpu wheel, `gpu` tfjs-node-gpu
 * on the tensorflow wheel with the CUDA 12 libraries (several GB; it cannot compute on a GPU here).
 */
export function trainerImage(target: 'cpu' | 'gpu' = 'cpu'): LocalImage {
  return repositoryImage(target === 'cpu' ? 'trainer' : 'trainer-gpu', 'infra/Dockerfile.trainer', target);
}

/** The worker image (infra/Dockerfile.worker): `effscale` as its entry point, `worker` its default command. */
export function workerImage(): LocalImage {
  return repositoryImage('worker', 'infra/Dockerfile.worker');
}
