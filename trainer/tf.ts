import { createRequire } from 'node:module';

/** The tfjs surface the trainer uses; tfjs-node and tfjs-node-gpu export the same API. */
export type Tf = typeof import('@tensorflow/tfjs-node');

/** `tensorflow`: native libtensorflow (tfjs-node-gpu if installed, else tfjs-node). `cpu`: pure JS, debugging only. */
export type BackendChoice = 'tensorflow' | 'cpu';

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

const require = createRequire(import.meta.url);
const loaded = new Map<BackendChoice, Tf>();

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

function isMissingModule(error: unknown, name: string): boolean {
  return (
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
    error.message.includes(`'${name}'`)
  );
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
  const failures: string[] = [];
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const { tf, error } = tryRequire(name);
    if (tf && tf.getBackend() === 'tensorflow') return tf;
    if (!isMissingModule(error, name))
      failures.push(`${name}: ${error instanceof Error ? error.message : 'loaded without the tensorflow backend'}`);
  }
  throw new BackendUnavailableError(
    'native TensorFlow is not available (' +
      (failures.length ? failures.join('; ') : '@tensorflow/tfjs-node is not installed') +
      '). Provision it with `npm run setup` (stages libtensorflow from the tensorflow-cpu wheel and builds the ' +
      'tfjs-node addon); `--backend cpu` trains on the pure-JS backend instead, orders of magnitude slower.',
  );
}

function loadPureJs(): Tf {
  // With tfjs-node present we keep its file and image helpers and only switch kernels; without it, plain tfjs.
  const node = tryRequire('@tensorflow/tfjs-node');
  const tf = node.tf ?? (require('@tensorflow/tfjs') as Tf);
  tf.setBackend('cpu');
  return tf;
}

/** The version of the TensorFlow library behind the backend (libtensorflow for native, tfjs for pure JS). */
export function tensorflowVersion(tf: Tf): string {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return tf.getBackend() === 'tensorflow' && binding?.TF_Version ? binding.TF_Version : tf.version.tfjs;
}
