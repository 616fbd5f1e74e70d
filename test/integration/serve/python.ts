import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** Python TensorFlow 2.21, with TF Serving's client API, from the virtualenv `infra/setup.sh --for-tests` provisions. */
export function python(): string {
  return execFileSync('bash', [join(repo, 'infra', 'setup-tf-python.sh')], { encoding: 'utf8' }).trim();
}
