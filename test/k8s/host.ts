import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The host state a kubelet + containerd + CNI run changes outside the directories a test chooses, captured before
 * the node starts and put back after it stops: sysctls the kubelet always sets, iptables/nft rules and tables
 * (kubelet and CNI), network links (the CNI bridge), mounts, the kubepods cgroups of every hierarchy, and fixed
 * directories (/var/lib/kubelet/device-plugins, /var/log/containers, /var/lib/cni, /run/containerd, /run/netns).
 */

/** The kubelet sets these unconditionally (protectKernelDefaults=false), with no option to skip them. */
const SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

/** Paths the kubelet, containerd and the CNI plugins use whatever directories they are given. */
const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/var/lib/containerd',
  '/run/containerd',
  '/run/netns',
  '/opt/containerd',
  '/opt/cni',
  '/etc/cni',
  '/etc/containerd',
];

const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP_NAME = 'kubepods';

export interface HostSnapshot {
  sysctls: Map<string, string>;
  /** Path → its entries, or undefined when it does not exist. */
  paths: Map<string, Set<string> | undefined>;
  nftTables: Set<string>;
  /** `iptables-save` / `ip6tables-save` output per command, without counters or comments. */
  iptables: Map<string, string[]>;
  links: Set<string>;
  mounts: Set<string>;
  /** Cgroup hierarchies that hold a `kubepods` cgroup. */
  cgroups: Set<string>;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return run(cmd, args);
  } catch {
    return undefined;
  }
}

function entries(path: string): Set<string> | undefined {
  try {
    return statSync(path).isDirectory() ? new Set(readdirSync(path)) : new Set();
  } catch {
    return undefined;
  }
}

function nftTables(): Set<string> {
  const out = tryRun('nft', ['list', 'tables']) ?? '';
  return new Set(out.split('\n').filter((l) => l.startsWith('table ')));
}

function iptablesSave(cmd: string): string[] {
  const out = tryRun(cmd, []) ?? '';
  return out
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** Mount points from /proc/self/mountinfo (field 5), octal escapes decoded. */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, name=systemd, the v2 `unified`). */
function hierarchies(): string[] {
  try {
    return readdirSync(CGROUP_ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

export function snapshotHost(): HostSnapshot {
  const sysctls = new Map<string, string>();
  for (const key of SYSCTLS) {
    const value = tryRead(join('/proc/sys', key));
    if (value !== undefined) sysctls.set(key, value);
  }
  const paths = new Map<string, Set<string> | undefined>();
  for (const p of FIXED_PATHS) paths.set(p, entries(p));
  const links = new Set((tryRun('ip', ['-o', 'link', 'show']) ?? '').split('\n').map(linkName).filter(Boolean));
  return {
    sysctls,
    paths,
    nftTables: nftTables(),
    iptables: new Map(['iptables-save', 'ip6tables-save'].map((c) => [c, iptablesSave(c)])),
    links,
    mounts: new Set(mountPoints()),
    cgroups: new Set(hierarchies().filter((h) => existsSync(join(CGROUP_ROOT, h, CGROUP_NAME)))),
  };
}

function linkName(line: string): string {
  return /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '';
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Differences between two snapshots, one line each; empty when the host is as it was. */
export function diffHost(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = [];
  for (const [key, value] of before.sysctls) {
    if (after.sysctls.get(key) !== value) out.push(`sysctl ${key}: ${value} → ${after.sysctls.get(key)}`);
  }
  for (const [path, was] of before.paths) {
    const now = after.paths.get(path);
    if (!was && now) out.push(`${path} created`);
    else if (was && now) {
      for (const e of now) if (!was.has(e)) out.push(`${path}/${e} created`);
    }
  }
  for (const t of after.nftTables) if (!before.nftTables.has(t)) out.push(`nft ${t} added`);
  for (const [cmd, lines] of after.iptables) {
    const was = new Set(before.iptables.get(cmd));
    for (const l of lines) if (!was.has(l)) out.push(`${cmd}: ${l}`);
  }
  for (const l of after.links) if (!before.links.has(l)) out.push(`link ${l} added`);
  for (const m of after.mounts) if (!before.mounts.has(m)) out.push(`mount ${m} added`);
  for (const h of after.cgroups) if (!before.cgroups.has(h)) out.push(`cgroup ${h}/${CGROUP_NAME} added`);
  return out;
}

/** Splits an iptables-save rule into arguments (double quotes and backslash escapes, as iptables-save writes). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === ' ' && !quoted) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Removes the rules and chains added since `before` from the tables that existed then. */
function restoreIptables(cmd: string, before: string[], errors: string[]): void {
  const binary = cmd.replace('-save', '');
  const was = new Set(before);
  let table = '';
  const newRules: [string, string][] = [];
  const newChains: [string, string][] = [];
  for (const line of iptablesSave(cmd)) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (was.has(line) || line === 'COMMIT') continue;
    else if (line.startsWith('-A ')) newRules.push([table, line]);
    else if (line.startsWith(':')) newChains.push([table, line.slice(1).split(' ')[0]]);
  }
  // Rules first (they may jump to new chains), last rule first; then empty and delete the new chains.
  for (const [t, rule] of newRules.reverse()) {
    const args = shellWords(rule);
    args[0] = '-D';
    if (tryRun(binary, ['-w', '-t', t, ...args]) === undefined)
      errors.push(`${binary} -t ${t} ${args.join(' ')} failed`);
  }
  for (const [t, chain] of newChains) tryRun(binary, ['-w', '-t', t, '-F', chain]);
  for (const [t, chain] of newChains) {
    if (tryRun(binary, ['-w', '-t', t, '-X', chain]) === undefined) errors.push(`${binary} -t ${t} -X ${chain} failed`);
  }
}

/** Unmounts every mount point under one of `roots` that was not there before, deepest first. */
export function unmountUnder(roots: string[], before: Set<string>, errors: string[]): void {
  const under = (m: string) => roots.some((r) => m === r || m.startsWith(r.endsWith('/') ? r : `${r}/`));
  const added = mountPoints()
    .filter((m) => under(m) && !before.has(m))
    .sort((a, b) => b.length - a.length);
  for (const m of added) {
    if (tryRun('umount', [m]) === undefined && tryRun('umount', ['-l', m]) === undefined)
      errors.push(`umount ${m} failed`);
  }
}

/** Every process in a cgroup tree (v1: cgroup.procs of each directory). */
function cgroupProcesses(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    for (const line of (tryRead(join(d, 'cgroup.procs')) ?? '').split('\n')) if (line) pids.push(Number(line));
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
  };
  if (existsSync(dir)) walk(dir);
  return pids;
}

function removeCgroupTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}

/**
 * Puts the host back as `before` found it; the processes that made the changes must be stopped already.
 * `ownLinks` are the network links the node creates (the CNI bridge).
 * Returns what could not be undone.
 */
export function restoreHost(before: HostSnapshot, ownLinks: string[]): string[] {
  const errors: string[] = [];
  // Processes still in the kubepods cgroups are containers that outlived their runtime: they were ours.
  for (const h of hierarchies()) {
    if (before.cgroups.has(h)) continue;
    for (const pid of cgroupProcesses(join(CGROUP_ROOT, h, CGROUP_NAME))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  unmountUnder([...before.paths.keys()], before.mounts, errors);
  for (const [path, was] of before.paths) {
    const now = entries(path);
    if (!now) continue;
    try {
      if (!was) rmSync(path, { recursive: true, force: true });
      else for (const e of now) if (!was.has(e)) rmSync(join(path, e), { recursive: true, force: true });
    } catch (e) {
      errors.push(`rm under ${path}: ${String(e)}`);
    }
  }
  for (const line of (tryRun('ip', ['-o', 'link', 'show']) ?? '').split('\n')) {
    const name = linkName(line);
    // Only the links this node makes (its bridge, the CNI's veth ends): others may belong to someone else; the
    // final diff still reports them.
    const ours = ownLinks.includes(name) || /^veth[0-9a-f]{8}$/.test(name);
    if (!ours || before.links.has(name)) continue;
    if (tryRun('ip', ['link', 'del', name]) === undefined && existsLink(name)) {
      errors.push(`ip link del ${name} failed`);
    }
  }
  for (const t of nftTables()) {
    if (before.nftTables.has(t)) continue;
    const [, family, name] = t.split(' ');
    if (tryRun('nft', ['delete', 'table', family, name]) === undefined) errors.push(`nft delete ${t} failed`);
  }
  for (const [cmd, lines] of before.iptables) restoreIptables(cmd, lines, errors);
  for (const h of hierarchies()) {
    const dir = join(CGROUP_ROOT, h, CGROUP_NAME);
    if (before.cgroups.has(h) || !existsSync(dir)) continue;
    try {
      removeCgroupTree(dir);
    } catch (e) {
      errors.push(`rmdir ${dir}: ${String(e)}`);
    }
  }
  for (const [key, value] of before.sysctls) {
    if (tryRead(join('/proc/sys', key)) === value) continue;
    try {
      writeFileSync(join('/proc/sys', key), value);
    } catch (e) {
      errors.push(`sysctl ${key}=${value}: ${String(e)}`);
    }
  }
  return errors;
}

function existsLink(name: string): boolean {
  return tryRun('ip', ['link', 'show', name]) !== undefined;
}

/** PIDs of processes whose command line contains `needle` (the containerd shims of one containerd socket). */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmdline = tryRead(join('/proc', e, 'cmdline'));
    if (cmdline?.includes(needle)) pids.push(Number(e));
  }
  return pids;
}
