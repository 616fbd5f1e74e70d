import type { Architecture, Stage } from './architecture.js';

/**
 * Exact analytic cost of an architecture, per layer and in total, with the conventions of the EfficientNet
 * reference implementations (see docs/scaling.md):
 * - multiply-adds: k²·Cin·Cout·Hout·Wout per conv, k²·C·Hout·Wout per depthwise conv, the squeeze-excite 1×1 convs
 *   and channel-rescale multiplies, the classifier; batch norm, activations, biases, pooling and adds are free;
 * - parameters: trainable (weights, biases, BN gamma/beta) and total (plus BN moving mean/variance);
 * - activation bytes: float32 tensors of one image; a tensor is live from the layer that writes it to the last
 *   layer that reads it, and the peak is the largest sum of live tensors over the layers in execution order.
 */
export interface LayerCost {
  name: string;
  op: LayerOp;
  inputs: string[];
  outputShape: [number, number, number];
  params: { trainable: number; total: number };
  macs: number;
  activationBytes: number;
  kernel?: number;
  stride?: number;
}

export type LayerOp = 'conv2d' | 'depthwise_conv2d' | 'squeeze_excite' | 'add' | 'global_avg_pool' | 'dense';

export interface CostTotals {
  params: { trainable: number; total: number };
  macs: number;
  paramBytes: number;
  peakActivationBytes: number;
}

export interface ArchitectureCost extends CostTotals {
  layers: LayerCost[];
}

const bytesPerValue = 4;

/** Full cost with the layer list (shapes, connectivity, per-layer figures). */
export function architectureCost(arch: Architecture): ArchitectureCost {
  const layers: LayerCost[] = [];
  return { ...walk(arch, layers), layers };
}

/** The same totals without building the layer list: the hot path of grid planning. */
export function architectureTotals(arch: Architecture): CostTotals {
  return walk(arch, undefined);
}

interface Tensor {
  name: string;
  size: number;
  channels: number;
}

/** One pass over the network; `layers` receives the layer records when the caller wants them. */
function walk(arch: Architecture, layers: LayerCost[] | undefined): CostTotals {
  let trainable = 0;
  let total = 0;
  let macs = 0;
  let peak = 0;

  function emit(
    name: string,
    op: LayerOp,
    inputs: Tensor[],
    out: { size: number; channels: number },
    cost: { weights: number; batchNorm: number; macs: number },
    held: Tensor | undefined,
    conv?: { kernel: number; stride: number },
  ): Tensor {
    const outBytes = bytesPerValue * out.size * out.size * out.channels;
    let live = outBytes;
    for (const t of inputs) live += tensorBytes(t);
    if (held && !inputs.includes(held)) live += tensorBytes(held);
    if (live > peak) peak = live;
    trainable += cost.weights + 2 * cost.batchNorm;
    total += cost.weights + 4 * cost.batchNorm;
    macs += cost.macs;
    if (layers) {
      layers.push({
        name,
        op,
        inputs: inputs.map((t) => t.name),
        outputShape: [out.size, out.size, out.channels],
        params: { trainable: cost.weights + 2 * cost.batchNorm, total: cost.weights + 4 * cost.batchNorm },
        macs: cost.macs,
        activationBytes: outBytes,
        ...conv,
      });
    }
    return { name, size: out.size, channels: out.channels };
  }

  /** k×k conv without bias, followed by batch norm. */
  function conv(name: string, x: Tensor, filters: number, kernel: number, stride: number, held?: Tensor): Tensor {
    const size = Math.ceil(x.size / stride);
    const weights = kernel * kernel * x.channels * filters;
    return emit(
      name,
      'conv2d',
      [x],
      { size, channels: filters },
      { weights, batchNorm: filters, macs: weights * size * size },
      held,
      { kernel, stride },
    );
  }

  function depthwise(name: string, x: Tensor, kernel: number, stride: number, held?: Tensor): Tensor {
    const size = Math.ceil(x.size / stride);
    const weights = kernel * kernel * x.channels;
    return emit(
      name,
      'depthwise_conv2d',
      [x],
      { size, channels: x.channels },
      { weights, batchNorm: x.channels, macs: weights * size * size },
      held,
      { kernel, stride },
    );
  }

  /** Pool, 1×1 conv with bias down to `reduced`, 1×1 conv with bias back, sigmoid, rescale the input. */
  function squeezeExcite(name: string, x: Tensor, reduced: number, held?: Tensor): Tensor {
    const c = x.channels;
    return emit(
      name,
      'squeeze_excite',
      [x],
      { size: x.size, channels: c },
      { weights: 2 * c * reduced + reduced + c, batchNorm: 0, macs: 2 * c * reduced + c * x.size * x.size },
      held,
    );
  }

  let x: Tensor = { name: 'input', size: arch.resolution, channels: arch.inputChannels };
  x = conv('stem', x, arch.stem.filters, arch.stem.kernel, arch.stem.stride);

  arch.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.repeats; b++) {
      x = block(`s${s}b${b}`, stage, b, x);
    }
  });

  function block(prefix: string, stage: Stage, index: number, input: Tensor): Tensor {
    const stride = index === 0 ? stage.stride : 1;
    const blockIn = index === 0 ? (stage.inputFilters ?? input.channels) : stage.filters;
    const residual = stage.skip && stride === 1 && input.channels === stage.filters && blockIn === stage.filters;
    const held = residual ? input : undefined;
    const reduced = Math.max(1, Math.floor(blockIn * stage.seRatio));
    const expanded = stage.expandRatio === 1 ? input.channels : Math.round(blockIn * stage.expandRatio);
    let y = input;
    switch (stage.op) {
      case 'mbconv':
        if (stage.expandRatio !== 1) y = conv(`${prefix}.expand`, y, expanded, 1, 1, held);
        y = depthwise(`${prefix}.depthwise`, y, stage.kernel, stride, held);
        if (stage.seRatio > 0) y = squeezeExcite(`${prefix}.se`, y, reduced, held);
        y = conv(`${prefix}.project`, y, stage.filters, 1, 1, held);
        break;
      case 'fused_mbconv':
        // As in google/automl FusedMBConvBlock: without expansion the excite precedes the single k×k conv.
        if (stage.expandRatio !== 1) {
          y = conv(`${prefix}.fused`, y, expanded, stage.kernel, stride, held);
          if (stage.seRatio > 0) y = squeezeExcite(`${prefix}.se`, y, reduced, held);
          y = conv(`${prefix}.project`, y, stage.filters, 1, 1, held);
        } else {
          if (stage.seRatio > 0) y = squeezeExcite(`${prefix}.se`, y, reduced, held);
          y = conv(`${prefix}.fused`, y, stage.filters, stage.kernel, stride, held);
        }
        break;
      case 'conv':
        y = conv(`${prefix}.conv`, y, stage.filters, stage.kernel, stride, held);
        if (stage.seRatio > 0) y = squeezeExcite(`${prefix}.se`, y, reduced, held);
        break;
    }
    if (!held) return y;
    return emit(
      `${prefix}.add`,
      'add',
      [y, held],
      { size: y.size, channels: y.channels },
      { weights: 0, batchNorm: 0, macs: 0 },
      undefined,
    );
  }

  if (arch.head.filters > 0) x = conv('head', x, arch.head.filters, 1, 1);
  x = emit(
    'pool',
    'global_avg_pool',
    [x],
    { size: 1, channels: x.channels },
    { weights: 0, batchNorm: 0, macs: 0 },
    undefined,
  );
  const dense = x.channels * arch.classes;
  emit(
    'classifier',
    'dense',
    [x],
    { size: 1, channels: arch.classes },
    { weights: dense + arch.classes, batchNorm: 0, macs: dense },
    undefined,
  );

  return {
    params: { trainable, total },
    macs,
    paramBytes: bytesPerValue * total,
    peakActivationBytes: peak,
  };
}

function tensorBytes(t: Tensor): number {
  return bytesPerValue * t.size * t.size * t.channels;
}
