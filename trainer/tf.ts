import { createRequire } from 'node:module';

/** The tfjs surface the trainer uses; tfjs-node and tfjs-node-gpu export the same API. */
export type Tf = typeof import('@tensorflow/tfjs-node');

/**
 * `tensorflow`: native libtensorflow, from the package `EFFSCALE_TFJS` selects (see `nativePackage`). `cpu`: the
 * pure-JS backend, debugging only.
 */
export type BackendChoice = 'tensorflow' | 'cpu';

/** The npm packages that bring native libtensorflow; their addons are built by `infra/setup-tfjs.sh cpu|gpu`. */
export const NATIVE_PACKAGES = { cpu: '@tensorflow/tfjs-node', gpu: '@tensorflow/tfjs-node-gpu' } as const;
export type NativePackage = (typeof NATIVE_PACKAGES)[keyof typeof NATIVE_PACKAGES];

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

const require = createRequire(import.meta.url);
const loaded = new Map<BackendChoice, Tf>();

/**
 * The native package a process uses, chosen explicitly, never by what happens to load: `EFFSCALE_TFJS=gpu` is
 * `@tensorflow/tfjs-node-gpu` (libtensorflow built for CUDA 12; it computes on the CPU where no GPU driver is
 * found), `cpu` or unset is `@tensorflow/tfjs-node`. Both are installed by `npm ci`; only provisioning builds their
 * addons, and one process never loads both.
 */
export function nativePackage(env: NodeJS.ProcessEnv = process.env): NativePackage {
  const value = env.EFFSCALE_TFJS?.trim().toLowerCase() || 'cpu';
  if (value === 'cpu' || value === 'gpu') return NATIVE_PACKAGES[value];
  throw new BackendUnavailableError(`EFFSCALE_TFJS must be cpu or gpu, not '${env.EFFSCALE_TFJS}'`);
}

/**
 * TensorFlow prints two INFO lines at start-up unless both variables are set; a user's own values win. oneDNN
 * kernels train about 20 % faster on x86 CPUs (convolution gradients, batch norm), so training processes keep them
 * and accept the lines; the variables only count before the library first loads in a process.
 */
function tensorFlowDefaults(onednn: boolean): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.TF_ENABLE_ONEDNN_OPTS ??= onednn ? '1' : '0';
}

function tryRequire(name: string): { tf?: Tf; error?: unknown } {
  try {
    return { tf: require(name) as Tf };
  } catch (error) {
    return { error };
  }
}

/**
 * Loads TensorFlow.js on native libtensorflow and refuses — with the provisioning command — when it is missing.
 * Loaded synchronously (tfjs-node is CommonJS) so that modules which never train (noop mode) pay nothing.
 */
export function loadNativeTf(backend: BackendChoice = 'tensorflow', options: { onednn?: boolean } = {}): Tf {
  const cached = loaded.get(backend);
  if (cached) return cached;
  tensorFlowDefaults(options.onednn ?? false);
  const tf = backend === 'cpu' ? loadPureJs() : loadNative();
  loaded.set(backend, tf);
  return tf;
}

function loadNative(): Tf {
  const name = nativePackage();
  const { tf, error } = tryRequire(name);
  if (tf && tf.getBackend() === 'tensorflow') return tf;
  const reason =
    error instanceof Error ? error.message.split('\n')[0]?.trim() : 'it loaded without the tensorflow backend';
  const fix =
    name === NATIVE_PACKAGES.gpu
      ? 'EFFSCALE_TFJS=gpu needs the GPU build: provision it with `npm run setup -- --gpu` (`bash infra/setup-tfjs.sh ' +
        'gpu`: libtensorflow from the tensorflow wheel and the CUDA 12 libraries from the nvidia-*-cu12 wheels, then ' +
        'the tfjs-node-gpu addon); unset EFFSCALE_TFJS for the CPU build.'
      : 'Provision it with `npm run setup` (stages libtensorflow from the tensorflow-cpu wheel and builds the ' +
        'tfjs-node addon); `--backend cpu` trains on the pure-JS backend instead, orders of magnitude slower.';
  throw new BackendUnavailableError(`native TensorFlow is not available from ${name} (${reason}). ${fix}`);
}

function loadPureJs(): Tf {
  // With the selected native package present we keep its file and image helpers and only switch kernels; without
  // it, plain tfjs.
  const node = tryRequire(nativePackage());
  const tf = node.tf ?? (require('@tensorflow/tfjs') as Tf);
  // The pure-JS backend initializes synchronously; the promise only reports it.
  void tf.setBackend('cpu');
  return tf;
}

/**
 * The npm package whose kernels `tf` runs: the native package it was loaded from when on the `tensorflow` backend,
 * `@tensorflow/tfjs` on the pure-JS one.
 */
export function tfjsPackage(tf: Tf): string {
  if (tf.getBackend() !== 'tensorflow') return '@tensorflow/tfjs';
  const loadedFrom = (name: string) => {
    try {
      return require.cache[require.resolve(name)]?.exports === tf;
    } catch {
      return false; // not installed
    }
  };
  return Object.values(NATIVE_PACKAGES).find(loadedFrom) ?? 'unknown';
}

/** The version of the TensorFlow library behind the backend (libtensorflow for native, tfjs for pure JS). */
export function tensorflowVersion(tf: Tf): string {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return tf.getBackend() === 'tensorflow' && binding?.TF_Version ? binding.TF_Version : tf.version.tfjs;
}
