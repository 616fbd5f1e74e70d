import { DType, GraphBuilder, type Attr, type Endpoint } from './graph-def.js';

const T: Attr = { type: DType.float };
const NHWC: Attr = { s: 'NHWC' };
const SAME: Attr = { s: 'SAME' };
/** The attributes every convolution and its gradients share: NHWC, `same` padding, a square stride. */
const convAttrs = (s: number) => ({ T, strides: { ints: [1, s, s, 1] } as Attr, padding: SAME, data_format: NHWC });

/**
 * The TensorFlow ops the compiled engine emits, with their attributes spelled once. Every op is float32 unless it
 * says otherwise; names are scoped with `prefix` so a graph dump reads like the network (`block2_1_dw/Conv2D`).
 */
export class Ops {
  constructor(
    readonly graph: GraphBuilder,
    private readonly prefix = '',
  ) {}

  scope(name: string): Ops {
    return new Ops(this.graph, `${this.prefix}${name}/`);
  }

  private op(op: string, inputs: Endpoint[], attrs: Record<string, Attr> = {}, control: Endpoint[] = []): Endpoint {
    return this.graph.node(op, `${this.prefix}${op}`, inputs, attrs, control);
  }

  /** An op with several outputs: its endpoints `name:0` … `name:(n-1)`. */
  private multi(op: string, n: number, inputs: Endpoint[], attrs: Record<string, Attr>): Endpoint[] {
    const name = this.op(op, inputs, attrs);
    return Array.from({ length: n }, (_, k) => `${name}:${k}`);
  }

  placeholder(name: string, dtype: DType, shape: number[]): Endpoint {
    return this.graph.node('Placeholder', `${this.prefix}${name}`, [], { dtype: { type: dtype }, shape: { shape } });
  }

  /** A placeholder that, when nothing is fed to it, takes `input`'s value (the session then runs `input`). */
  placeholderWithDefault(name: string, input: Endpoint, dtype: DType, shape: number[]): Endpoint {
    return this.graph.node('PlaceholderWithDefault', `${this.prefix}${name}`, [input], {
      dtype: { type: dtype },
      shape: { shape },
    });
  }

  floats(values: number[] | Float32Array, shape: number[] = []): Endpoint {
    return this.op('Const', [], { dtype: T, value: { tensor: { dtype: DType.float, shape, values } } });
  }

  /** An int64 scalar: what tf.data takes for sizes, counts and seeds. */
  int64(value: number): Endpoint {
    return this.op('Const', [], {
      dtype: { type: DType.int64 },
      value: { tensor: { dtype: DType.int64, shape: [], values: [value] } },
    });
  }

  ints(values: number[], shape: number[] = [values.length]): Endpoint {
    return this.op('Const', [], {
      dtype: { type: DType.int32 },
      value: { tensor: { dtype: DType.int32, shape, values } },
    });
  }

  // Variables (resource handles shared by name across every subgraph of the session).
  variable(name: string, shape: number[]): Endpoint {
    return this.graph.node('VarHandleOp', `${this.prefix}${name}`, [], {
      dtype: T,
      shape: { shape },
      shared_name: { s: `${this.prefix}${name}` },
    });
  }
  read(handle: Endpoint, control: Endpoint[] = []): Endpoint {
    return this.op('ReadVariableOp', [handle], { dtype: T }, control);
  }
  assign(handle: Endpoint, value: Endpoint): Endpoint {
    return this.op('AssignVariableOp', [handle, value], { dtype: T });
  }
  assignSub(handle: Endpoint, value: Endpoint): Endpoint {
    return this.op('AssignSubVariableOp', [handle, value], { dtype: T });
  }

  // Convolutions and their gradients.
  conv2d(x: Endpoint, w: Endpoint, stride: number): Endpoint {
    return this.op('Conv2D', [x, w], convAttrs(stride));
  }
  conv2dBackpropInput(inputShape: Endpoint, w: Endpoint, dy: Endpoint, stride: number): Endpoint {
    return this.op('Conv2DBackpropInput', [inputShape, w, dy], convAttrs(stride));
  }
  conv2dBackpropFilter(x: Endpoint, filterShape: number[], dy: Endpoint, stride: number): Endpoint {
    return this.op('Conv2DBackpropFilter', [x, this.ints(filterShape), dy], convAttrs(stride));
  }
  depthwise(x: Endpoint, w: Endpoint, stride: number): Endpoint {
    return this.op('DepthwiseConv2dNative', [x, w], convAttrs(stride));
  }
  depthwiseBackpropInput(inputShape: Endpoint, w: Endpoint, dy: Endpoint, stride: number): Endpoint {
    return this.op('DepthwiseConv2dNativeBackpropInput', [inputShape, w, dy], convAttrs(stride));
  }
  depthwiseBackpropFilter(x: Endpoint, filterShape: number[], dy: Endpoint, stride: number): Endpoint {
    return this.op('DepthwiseConv2dNativeBackpropFilter', [x, this.ints(filterShape), dy], convAttrs(stride));
  }

  /** Outputs: y, batch mean, batch variance, and the three reserve spaces the gradient reads. */
  fusedBatchNorm(x: Endpoint, params: Endpoint[], epsilon: number, training: boolean): Endpoint[] {
    const attrs = { T, U: T, epsilon: { f: epsilon }, data_format: NHWC, is_training: { b: training } };
    return this.multi('FusedBatchNormV3', 6, [x, ...params], attrs);
  }
  /** Outputs: dx, dgamma, dbeta. */
  fusedBatchNormGrad(dy: Endpoint, x: Endpoint, gamma: Endpoint, reserve: Endpoint[], epsilon: number): Endpoint[] {
    const attrs = { T, U: T, epsilon: { f: epsilon }, data_format: NHWC, is_training: { b: true } };
    return this.multi('FusedBatchNormGradV3', 5, [dy, x, gamma, ...reserve], attrs).slice(0, 3);
  }

  // Element-wise.
  add(a: Endpoint, b: Endpoint): Endpoint {
    return this.op('AddV2', [a, b], { T });
  }
  addN(xs: Endpoint[]): Endpoint {
    return xs.length === 1 ? xs[0] : this.op('AddN', xs, { N: { i: xs.length }, T });
  }
  sub(a: Endpoint, b: Endpoint): Endpoint {
    return this.op('Sub', [a, b], { T });
  }
  mul(a: Endpoint, b: Endpoint): Endpoint {
    return this.op('Mul', [a, b], { T });
  }
  div(a: Endpoint, b: Endpoint): Endpoint {
    return this.op('RealDiv', [a, b], { T });
  }
  floor(x: Endpoint): Endpoint {
    return this.op('Floor', [x], { T });
  }
  pow(x: Endpoint, y: Endpoint): Endpoint {
    return this.op('Pow', [x, y], { T });
  }
  sqrt(x: Endpoint): Endpoint {
    return this.op('Sqrt', [x], { T });
  }
  sigmoid(x: Endpoint): Endpoint {
    return this.op('Sigmoid', [x], { T });
  }
  /** dy·y·(1−y) from the sigmoid's output y. */
  sigmoidGrad(y: Endpoint, dy: Endpoint): Endpoint {
    return this.op('SigmoidGrad', [y, dy], { T });
  }
  relu(x: Endpoint): Endpoint {
    return this.op('Relu', [x], { T });
  }
  reluGrad(dy: Endpoint, features: Endpoint): Endpoint {
    return this.op('ReluGrad', [dy, features], { T });
  }
  relu6(x: Endpoint): Endpoint {
    return this.op('Relu6', [x], { T });
  }
  relu6Grad(dy: Endpoint, features: Endpoint): Endpoint {
    return this.op('Relu6Grad', [dy, features], { T });
  }
  softmax(logits: Endpoint): Endpoint {
    return this.op('Softmax', [logits], { T });
  }
  /** Outputs: per-example loss and its gradient with respect to the logits. */
  softmaxCrossEntropy(logits: Endpoint, labels: Endpoint): Endpoint[] {
    return this.multi('SoftmaxCrossEntropyWithLogits', 2, [logits, labels], { T });
  }

  // Shapes and reductions.
  shape(x: Endpoint): Endpoint {
    return this.op('Shape', [x], { T, out_type: { type: DType.int32 } });
  }
  reshape(x: Endpoint, shape: Endpoint): Endpoint {
    return this.op('Reshape', [x, shape], { T, Tshape: { type: DType.int32 } });
  }
  broadcastTo(x: Endpoint, shape: Endpoint): Endpoint {
    return this.op('BroadcastTo', [x, shape], { T, Tidx: { type: DType.int32 } });
  }
  mean(x: Endpoint, axes: number[], keepDims = false): Endpoint {
    return this.op('Mean', [x, this.ints(axes)], { T, Tidx: { type: DType.int32 }, keep_dims: { b: keepDims } });
  }
  sum(x: Endpoint, axes: number[], keepDims = false, dtype: DType = DType.float): Endpoint {
    const attrs = { T: { type: dtype }, Tidx: { type: DType.int32 }, keep_dims: { b: keepDims } };
    return this.op('Sum', [x, this.ints(axes)], attrs);
  }
  /** The leading dimension of `x` followed by `rest`, as an int32 shape vector: the batch's shape of a mask. */
  batchShape(x: Endpoint, rest: number[]): Endpoint {
    const batch = this.op('Slice', [this.shape(x), this.ints([0]), this.ints([1])], {
      T: { type: DType.int32 },
      Index: { type: DType.int32 },
    });
    return this.op('ConcatV2', [batch, this.ints(rest), this.ints([0], [])], {
      N: { i: 2 },
      T: { type: DType.int32 },
      Tidx: { type: DType.int32 },
    });
  }
  concat(xs: Endpoint[]): Endpoint {
    return this.op('ConcatV2', [...xs, this.ints([0], [])], { N: { i: xs.length }, T, Tidx: { type: DType.int32 } });
  }
  splitV(x: Endpoint, sizes: number[]): Endpoint[] {
    const attrs = { T, Tlen: { type: DType.int32 }, num_split: { i: sizes.length } };
    return this.multi('SplitV', sizes.length, [x, this.ints(sizes), this.ints([0], [])], attrs);
  }

  /** Bilinear resize as tfjs' `image.resizeBilinear` does it by default (no corner alignment, no half-pixel shift). */
  resizeBilinear(x: Endpoint, size: [number, number]): Endpoint {
    const attrs = { T, align_corners: { b: false }, half_pixel_centers: { b: false } };
    return this.op('ResizeBilinear', [x, this.ints(size)], attrs);
  }

  // Dense layers.
  matMul(a: Endpoint, b: Endpoint, transposeA = false, transposeB = false): Endpoint {
    return this.op('MatMul', [a, b], { T, transpose_a: { b: transposeA }, transpose_b: { b: transposeB } });
  }
  biasAdd(x: Endpoint, bias: Endpoint): Endpoint {
    return this.op('BiasAdd', [x, bias], { T, data_format: NHWC });
  }
  biasAddGrad(dy: Endpoint): Endpoint {
    return this.op('BiasAddGrad', [dy], { T, data_format: NHWC });
  }

  // Metrics and randomness.
  correctCount(logits: Endpoint, oneHot: Endpoint): Endpoint {
    const argMax = (x: Endpoint) =>
      this.op('ArgMax', [x, this.ints([1], [])], {
        T,
        Tidx: { type: DType.int32 },
        output_type: { type: DType.int32 },
      });
    const equal = this.op('Equal', [argMax(logits), argMax(oneHot)], { T: { type: DType.int32 } });
    const hits = this.op('Cast', [equal], { SrcT: { type: DType.bool }, DstT: T });
    return this.sum(hits, [0]);
  }
  /** Uniform [0, 1) values that depend only on `seed` (int32 [2]): reproducible across runs and resumes. */
  statelessUniform(shape: Endpoint, seed: Endpoint): Endpoint {
    const attrs = { dtype: T, T: { type: DType.int32 }, Tseed: { type: DType.int32 } };
    return this.op('StatelessRandomUniform', [shape, seed], attrs);
  }
  oneHot(indices: Endpoint, depth: number): Endpoint {
    const inputs = [indices, this.ints([depth], []), this.floats([1]), this.floats([0])];
    return this.op('OneHot', inputs, { T, TI: { type: DType.int32 }, axis: { i: -1 } });
  }
  pack(xs: Endpoint[], dtype: DType): Endpoint {
    return this.op('Pack', xs, { N: { i: xs.length }, T: { type: dtype }, axis: { i: 0 } });
  }
  cast(x: Endpoint, from: DType, to: DType): Endpoint {
    return this.op('Cast', [x], { SrcT: { type: from }, DstT: { type: to } });
  }

  /** `x`, once every node of `after` has run: how a fetched output triggers updates (tfjs fetches, never targets). */
  identity(x: Endpoint, after: Endpoint[] = [], name = 'Identity'): Endpoint {
    return this.graph.node('Identity', `${this.prefix}${name}`, [x], { T }, after);
  }

  // Optimizer updates, one fused kernel per variable.
  applyAdam(v: Endpoint, slots: Endpoint[], powers: Endpoint[], lr: Endpoint, hyper: Endpoint[], g: Endpoint) {
    return this.op('ResourceApplyAdam', [v, ...slots, ...powers, lr, ...hyper, g], { T, use_locking: { b: false } });
  }
  applyMomentum(v: Endpoint, accumulation: Endpoint, lr: Endpoint, g: Endpoint, momentum: Endpoint) {
    return this.op('ResourceApplyMomentum', [v, accumulation, lr, g, momentum], { T, use_locking: { b: false } });
  }
  applyRmsProp(v: Endpoint, slots: Endpoint[], lr: Endpoint, hyper: Endpoint[], g: Endpoint) {
    return this.op('ResourceApplyRMSProp', [v, ...slots, lr, ...hyper, g], { T, use_locking: { b: false } });
  }
}
