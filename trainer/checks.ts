import type { Architecture } from '../scaling/architecture.js';
import { SpecError } from '../scaling/validate.js';

/** The total downsampling of the network: the stem's stride times every stage's first stride. */
export function totalStride(arch: Architecture): number {
  return arch.stages.reduce((s, stage) => s * stage.stride, arch.stem.stride);
}

/** Refuses a resolution the strides would shrink below one pixel of real image before the head. */
export function checkResolution(arch: Architecture): void {
  const stride = totalStride(arch);
  if (arch.resolution < stride) {
    throw new SpecError(
      `invalid candidate spec:\n  architecture.resolution: ${arch.resolution} px is too small for the network's ` +
        `strides (total stride ${stride}: stem ${arch.stem.stride} × stages ${arch.stages.map((s) => s.stride).join(' × ')}); ` +
        `use at least ${stride}`,
    );
  }
}
