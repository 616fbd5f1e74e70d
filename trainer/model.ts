import type { Architecture, Stage } from '../scaling/architecture.js';
import { customLayers, withNativeSwish } from './layers.js';
import { loadNativeTf, type Tf } from './tf.js';

type SymbolicTensor = import('@tensorflow/tfjs-node').SymbolicTensor;
type LayersModel = import('@tensorflow/tfjs-node').LayersModel;

/**
 * Builds the tfjs-layers model of an architecture spec exactly as the EfficientNet reference builders do: the
 * stem, every stage's blocks, the head, dropout and a softmax classifier. Layer names follow Keras' EfficientNet
 * (`stem_conv`, `block3b_dwconv`, …) with the stage number and the repeat index.
 */
export function buildModel(arch: Architecture, tf: Tf = loadNativeTf(), options: { seed?: number } = {}): LayersModel {
  const { DropConnect, BatchNorm, GlobalAveragePool } = customLayers(tf);
  // With a seed every kernel gets its own derived seed, so the same spec starts from the same weights.
  let layerIndex = 0;
  const init = () =>
    options.seed === undefined
      ? 'glorotUniform'
      : tf.initializers.glorotUniform({ seed: options.seed * 7919 + layerIndex++ });
  const bn = (name: string) =>
    new BatchNorm({
      axis: -1,
      momentum: arch.batchNorm.momentum,
      epsilon: arch.batchNorm.epsilon,
      name,
    });
  const conv = (filters: number, kernel: number, stride: number, name: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize: kernel,
      strides: stride,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
      name,
    });
  const act = (name: string) => withNativeSwish(tf, tf.layers.activation({ activation: arch.activation, name }));
  const convBnAct = (x: SymbolicTensor, filters: number, kernel: number, stride: number, prefix: string) =>
    act(`${prefix}_activation`).apply(
      bn(`${prefix}_bn`).apply(conv(filters, kernel, stride, `${prefix}_conv`).apply(x)),
    ) as SymbolicTensor;

  const squeezeExcite = (x: SymbolicTensor, blockIn: number, channels: number, seRatio: number, prefix: string) => {
    const squeezed = Math.max(1, Math.floor(blockIn * seRatio));
    let s = new GlobalAveragePool({ name: `${prefix}_se_squeeze` }).apply(x) as SymbolicTensor;
    s = tf.layers.reshape({ targetShape: [1, 1, channels], name: `${prefix}_se_reshape` }).apply(s) as SymbolicTensor;
    s = withNativeSwish(
      tf,
      tf.layers.conv2d({
        filters: squeezed,
        kernelSize: 1,
        activation: arch.activation,
        kernelInitializer: init(),
        name: `${prefix}_se_reduce`,
      }),
    ).apply(s) as SymbolicTensor;
    s = tf.layers
      .conv2d({
        filters: channels,
        kernelSize: 1,
        activation: 'sigmoid',
        kernelInitializer: init(),
        name: `${prefix}_se_expand`,
      })
      .apply(s) as SymbolicTensor;
    return tf.layers.multiply({ name: `${prefix}_se_excite` }).apply([x, s]) as SymbolicTensor;
  };

  const block = (x: SymbolicTensor, stage: Stage, first: boolean, dropRate: number, prefix: string) => {
    const incoming = x.shape[3] ?? 0;
    const blockIn = first ? (stage.inputFilters ?? incoming) : stage.filters;
    const stride = first ? stage.stride : 1;
    const expanded = Math.round(blockIn * stage.expandRatio);
    let y = x;
    if (stage.op === 'conv') {
      y = convBnAct(y, stage.filters, stage.kernel, stride, prefix);
      if (stage.seRatio > 0) y = squeezeExcite(y, blockIn, stage.filters, stage.seRatio, prefix);
    } else {
      const fusedSingle = stage.op === 'fused_mbconv' && stage.expandRatio === 1;
      if (fusedSingle) {
        // As in google/automl's FusedMBConvBlock: without expansion the excite precedes the single k×k conv.
        if (stage.seRatio > 0) y = squeezeExcite(y, blockIn, incoming, stage.seRatio, prefix);
        y = convBnAct(y, stage.filters, stage.kernel, stride, `${prefix}_fused`);
      } else if (stage.op === 'fused_mbconv') {
        y = convBnAct(y, expanded, stage.kernel, stride, `${prefix}_fused`);
      } else {
        if (stage.expandRatio !== 1) y = convBnAct(y, expanded, 1, 1, `${prefix}_expand`);
        y = tf.layers
          .depthwiseConv2d({
            kernelSize: stage.kernel,
            strides: stride,
            padding: 'same',
            useBias: false,
            depthwiseInitializer: init(),
            name: `${prefix}_dwconv`,
          })
          .apply(y) as SymbolicTensor;
        y = act(`${prefix}_activation`).apply(bn(`${prefix}_bn`).apply(y)) as SymbolicTensor;
      }
      if (!fusedSingle) {
        if (stage.seRatio > 0) y = squeezeExcite(y, blockIn, y.shape[3] ?? 0, stage.seRatio, prefix);
        y = bn(`${prefix}_project_bn`).apply(
          conv(stage.filters, 1, 1, `${prefix}_project_conv`).apply(y),
        ) as SymbolicTensor;
      }
    }
    if (stage.skip && stride === 1 && incoming === stage.filters && blockIn === stage.filters) {
      if (dropRate > 0) y = new DropConnect({ rate: dropRate, name: `${prefix}_drop` }).apply(y) as SymbolicTensor;
      y = tf.layers.add({ name: `${prefix}_add` }).apply([y, x]) as SymbolicTensor;
    }
    return y;
  };

  const input = tf.input({ shape: [arch.resolution, arch.resolution, arch.inputChannels], name: 'image' });
  let x = convBnAct(input, arch.stem.filters, arch.stem.kernel, arch.stem.stride, 'stem');
  const totalBlocks = arch.stages.reduce((n, s) => n + s.repeats, 0);
  let index = 0;
  arch.stages.forEach((stage, s) => {
    for (let r = 0; r < stage.repeats; r++) {
      // The reference scales the drop-connect rate linearly with the block's position in the network.
      x = block(x, stage, r === 0, (arch.dropConnect * index) / totalBlocks, `block${s + 1}_${r + 1}`);
      index++;
    }
  });
  if (arch.head.filters > 0) x = convBnAct(x, arch.head.filters, 1, 1, 'top');
  x = new GlobalAveragePool({ name: 'avg_pool' }).apply(x) as SymbolicTensor;
  if (arch.dropout > 0) x = tf.layers.dropout({ rate: arch.dropout, name: 'top_dropout' }).apply(x) as SymbolicTensor;
  const output = tf.layers
    .dense({ units: arch.classes, activation: 'softmax', kernelInitializer: init(), name: 'predictions' })
    .apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: arch.name });
}

/** Trainable and total (including batch-norm moving statistics) parameter counts of a built model. */
export function countParams(model: LayersModel): { trainable: number; total: number } {
  const size = (ws: { shape: (number | null)[] }[]) =>
    ws.reduce((n, w) => n + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  return { trainable: size(model.trainableWeights), total: size(model.weights) };
}
