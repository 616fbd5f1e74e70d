import { DType, type Attr, type Endpoint, type FunctionBuilder } from '../graph/graph-def.js';

export const t = (type: DType): Attr => ({ type });

/** The few helpers the map functions need, spelled once. */
export class FnOps {
  constructor(readonly fn: FunctionBuilder) {}

  ints(values: number[], shape: number[] = [values.length]): Endpoint {
    return this.fn.node('Const', [], {
      dtype: t(DType.int32),
      value: { tensor: { dtype: DType.int32, shape, values } },
    });
  }

  float(value: number): Endpoint {
    return this.floats([value], []);
  }

  floats(values: number[], shape: number[] = [values.length]): Endpoint {
    return this.fn.node('Const', [], {
      dtype: t(DType.float),
      value: { tensor: { dtype: DType.float, shape, values } },
    });
  }

  /** A uint8 scalar: what a pixel is compared with, masked by or subtracted from. */
  byte(value: number): Endpoint {
    return this.fn.node('Const', [], {
      dtype: t(DType.uint8),
      value: { tensor: { dtype: DType.uint8, shape: [], values: [value] } },
    });
  }

  /** `length` int32 values of a vector from `begin`. */
  slice(x: Endpoint, begin: number, length: number): Endpoint {
    return this.fn.node('Slice', [x, this.ints([begin]), this.ints([length])], {
      T: t(DType.int32),
      Index: t(DType.int32),
    });
  }

  concat(parts: Endpoint[]): Endpoint {
    return this.fn.node('ConcatV2', [...parts, this.ints([0], [])], {
      N: { i: parts.length },
      T: t(DType.int32),
      Tidx: t(DType.int32),
    });
  }

  /** A float→int cast truncates, as C and Python's tf.cast do. */
  cast(x: Endpoint, from: DType, to: DType): Endpoint {
    return this.fn.node('Cast', [x], { SrcT: t(from), DstT: t(to), Truncate: { b: false } }, 'y');
  }

  /** A binary op of `type` operands (AddV2, Sub, Mul, Less, BitwiseAnd, …), broadcasting. */
  math(op: string, x: Endpoint, y: Endpoint, type: DType = DType.float): Endpoint {
    return this.fn.node(op, [x, y], { T: t(type) }, 'z');
  }

  select(condition: Endpoint, ifTrue: Endpoint, ifFalse: Endpoint, type: DType = DType.float): Endpoint {
    return this.fn.node('SelectV2', [condition, ifTrue, ifFalse], { T: t(type) });
  }

  /** A reduction (Sum, Min, Max) over `axes`. */
  reduce(op: string, x: Endpoint, axes: number[], type: DType, keepDims = false): Endpoint {
    return this.fn.node(op, [x, this.ints(axes)], { T: t(type), Tidx: t(DType.int32), keep_dims: { b: keepDims } });
  }
}
