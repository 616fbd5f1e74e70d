import { createRequire } from 'node:module';

/**
 * A TensorFlow GraphDef written from TypeScript with the protobuf messages tfjs-node ships
 * (`dist/proto/api_pb.js`), and wrapped into a SavedModel that libtensorflow loads as one session. tfjs binds no
 * graph-construction API, so this is the whole of our graph toolkit: nodes with inputs, attributes and control
 * dependencies, and the SavedModel envelope with named signatures.
 */

/** TensorFlow's DataType enum values (tensorflow/core/framework/types.proto). */
export const DType = {
  float: 1,
  int32: 3,
  uint8: 4,
  string: 7,
  int64: 9,
  bool: 10,
  resource: 20,
  variant: 21,
} as const;
export type DType = (typeof DType)[keyof typeof DType];

/** An attribute value, in the one form each op attribute takes. */
export type Attr =
  | { type: DType }
  | { shape: number[] }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { s: string }
  | { ints: number[] }
  | { floats: number[] }
  | { types: DType[] }
  | { shapes: number[][] }
  | { func: string }
  | { funcs: string[] }
  | { strings: string[] }
  | { tensor: ConstTensor };

/**
 * A constant's value: numbers of a shape (empty shape = scalar; int64 values must fit a double exactly), or
 * strings.
 */
export type ConstTensor =
  | {
      dtype: typeof DType.float | typeof DType.int32 | typeof DType.uint8 | typeof DType.int64 | typeof DType.bool;
      shape: number[];
      values: Float32Array | Int32Array | number[];
    }
  | { dtype: typeof DType.string; shape: number[]; values: string[] };

/** An argument or result of a function: a name and a dtype. */
export interface FunctionArg {
  name: string;
  type: DType;
}

/** A tensor endpoint in the graph: `node` or `node:k`, the form both GraphDef inputs and session feeds use. */
export type Endpoint = string;

/** A signature: named inputs and outputs with their dtypes and shapes (-1 for unknown dimensions). */
/** The method name of a Predict signature, as TF Serving dispatches on it. */
export const PREDICT_METHOD = 'tensorflow/serving/predict';

/** An endpoint as a SignatureDef names its tensor: "node:output" (output 0 when the endpoint names none). */
export function tensorName(endpoint: Endpoint): string {
  return endpoint.includes(':') ? endpoint : `${endpoint}:0`;
}

/** TensorFlow's name of a dtype, as a SignatureDef's JSON form writes it (`DT_FLOAT`). */
export function dtypeName(dtype: DType): string {
  const [name = String(dtype)] = Object.entries(DType).find(([, value]) => value === dtype) ?? [];
  return `DT_${name.toUpperCase()}`;
}

export interface Signature {
  inputs: Record<string, { endpoint: Endpoint; dtype: DType; shape: number[] }>;
  outputs: Record<string, { endpoint: Endpoint; dtype: DType; shape: number[] }>;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the generated protobuf classes are untyped JavaScript */
const pb = createRequire(import.meta.url)('@tensorflow/tfjs-node/dist/proto/api_pb.js') as Record<string, any>;

/** The graph's producer version: ops take their attribute defaults from the library that loads the graph. */
const PRODUCER = 1800;

export class GraphBuilder {
  private readonly graph = new pb.GraphDef();
  private readonly names = new Set<string>();
  private library: any;

  constructor() {
    const versions = new pb.VersionDef();
    versions.setProducer(PRODUCER);
    this.graph.setVersions(versions);
  }

  /**
   * Adds a node and returns its first output. `name` is made unique with a numeric suffix; `control` lists nodes
   * that must run first (the way an update is triggered by the output that is fetched).
   */
  node(op: string, name: string, inputs: Endpoint[], attrs: Record<string, Attr> = {}, control: Endpoint[] = []) {
    const unique = this.uniqueName(name);
    this.graph.addNode(nodeDef(unique, op, inputs, attrs, control));
    return unique;
  }

  /**
   * Adds a function to the graph's library (what tf.data's map and TensorFlow's control flow call): `body` adds
   * the nodes through a FunctionBuilder, where an input is an argument's name or `node:output_arg:k`, and returns
   * the endpoint of each result.
   */
  function(name: string, args: FunctionArg[], results: FunctionArg[], body: (fn: FunctionBuilder) => Endpoint[]) {
    const fn = new FunctionBuilder();
    const returned = body(fn);
    const def = new pb.FunctionDef();
    const signature = new pb.OpDef();
    signature.setName(name);
    const argDef = ({ name: argName, type }: FunctionArg) => {
      const arg = new pb.OpDef.ArgDef();
      arg.setName(argName);
      arg.setType(type);
      return arg;
    };
    for (const arg of args) signature.addInputArg(argDef(arg));
    for (const result of results) signature.addOutputArg(argDef(result));
    def.setSignature(signature);
    def.setNodeDefList(fn.nodes);
    results.forEach((result, k) => def.getRetMap().set(result.name, returned[k]));
    if (!this.library) {
      this.library = new pb.FunctionDefLibrary();
      this.graph.setLibrary(this.library);
    }
    this.library.addFunction(def);
    return name;
  }

  /** Serializes the graph as a SavedModel with one meta graph under `tags` and the given signatures. */
  savedModel(tags: string[], signatures: Record<string, Signature>): Uint8Array {
    const metaGraph = new pb.MetaGraphDef();
    const info = new pb.MetaGraphDef.MetaInfoDef();
    for (const tag of tags) info.addTags(tag);
    metaGraph.setMetaInfoDef(info);
    metaGraph.setGraphDef(this.graph);
    const signatureMap = metaGraph.getSignatureDefMap();
    for (const [key, signature] of Object.entries(signatures)) signatureMap.set(key, signatureDef(signature));
    const savedModel = new pb.SavedModel();
    savedModel.setSavedModelSchemaVersion(1);
    savedModel.addMetaGraphs(metaGraph);
    return savedModel.serializeBinary() as Uint8Array;
  }

  get nodeCount(): number {
    return this.names.size;
  }

  private uniqueName(name: string): string {
    let unique = name;
    for (let k = 1; this.names.has(unique); k++) unique = `${name}_${k}`;
    this.names.add(unique);
    return unique;
  }
}

/**
 * The nodes of one function. Unlike graph nodes, a function node's outputs are named by the op's output argument:
 * `node:<arg>:k` (`ReadFile:contents:0`), so each call says which argument it reads.
 */
export class FunctionBuilder {
  readonly nodes: any[] = [];
  private readonly names = new Set<string>();

  /**
   * Adds a node; returns `name:<output>:0` for its (first) output argument `output`. `control` lists nodes that
   * must run first (in a function, what makes a check such as Assert run at all).
   */
  node(
    op: string,
    inputs: Endpoint[],
    attrs: Record<string, Attr> = {},
    output = 'output',
    control: Endpoint[] = [],
  ): Endpoint {
    let unique = op;
    for (let k = 1; this.names.has(unique); k++) unique = `${op}_${k}`;
    this.names.add(unique);
    this.nodes.push(nodeDef(unique, op, inputs, attrs, control));
    return `${unique}:${output}:0`;
  }
}

function nodeDef(name: string, op: string, inputs: Endpoint[], attrs: Record<string, Attr>, control: Endpoint[] = []) {
  const node = new pb.NodeDef();
  node.setName(name);
  node.setOp(op);
  for (const input of inputs) node.addInput(input);
  for (const dep of control) node.addInput(`^${dep.split(':')[0]}`);
  const map = node.getAttrMap();
  for (const [key, value] of Object.entries(attrs)) map.set(key, attrValue(value));
  return node;
}

function tensorShape(dims: number[]): any {
  const shape = new pb.TensorShape();
  for (const size of dims) {
    const dim = new pb.TensorShape.Dim();
    dim.setSize(size);
    shape.addDim(dim);
  }
  return shape;
}

function tensorProto(constant: ConstTensor): any {
  const tensor = new pb.Tensor();
  tensor.setDtype(constant.dtype);
  tensor.setTensorShape(tensorShape(constant.shape));
  if (constant.dtype === DType.string) {
    for (const value of constant.values) tensor.addStringVal(new TextEncoder().encode(value));
    return tensor;
  }
  // Raw little-endian content: the compact encoding for weights frozen into an exported graph.
  tensor.setTensorContent(tensorContent(constant.dtype, constant.values));
  return tensor;
}

function tensorContent(dtype: DType, values: Float32Array | Int32Array | number[]): Uint8Array {
  const bytes = (typed: ArrayBufferView) => new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (dtype === DType.float) return bytes(Float32Array.from(values));
  if (dtype === DType.int32) return bytes(Int32Array.from(values));
  if (dtype === DType.int64) return bytes(BigInt64Array.from(Array.from(values), (v) => BigInt(v)));
  if (dtype === DType.uint8) return Uint8Array.from(values);
  return Uint8Array.from(values, (v) => (v ? 1 : 0));
}

function attrValue(attr: Attr): any {
  const value = new pb.AttrValue();
  if ('type' in attr) value.setType(attr.type);
  else if ('shape' in attr) value.setShape(tensorShape(attr.shape));
  else if ('i' in attr) value.setI(attr.i);
  else if ('f' in attr) value.setF(attr.f);
  else if ('b' in attr) value.setB(attr.b);
  else if ('s' in attr) value.setS(new TextEncoder().encode(attr.s));
  else if ('tensor' in attr) value.setTensor(tensorProto(attr.tensor));
  else if ('func' in attr) value.setFunc(nameAttrList(attr.func));
  else value.setList(listValue(attr));
  return value;
}

type ListAttr =
  | { ints: number[] }
  | { floats: number[] }
  | { types: DType[] }
  | { shapes: number[][] }
  | { funcs: string[] }
  | { strings: string[] };

function nameAttrList(name: string): any {
  const func = new pb.NameAttrList();
  func.setName(name);
  return func;
}

function listValue(attr: ListAttr) {
  const list = new pb.AttrValue.ListValue();
  if ('funcs' in attr) for (const f of attr.funcs) list.addFunc(nameAttrList(f));
  else if ('strings' in attr) for (const text of attr.strings) list.addS(new TextEncoder().encode(text));
  else if ('ints' in attr) for (const i of attr.ints) list.addI(i);
  else if ('floats' in attr) for (const f of attr.floats) list.addF(f);
  else if ('types' in attr) for (const t of attr.types) list.addType(t);
  else for (const dims of attr.shapes) list.addShape(tensorShape(dims));
  return list;
}

function signatureDef(signature: Signature): any {
  const def = new pb.SignatureDef();
  def.setMethodName(PREDICT_METHOD);
  for (const [side, map] of [
    [signature.inputs, def.getInputsMap()],
    [signature.outputs, def.getOutputsMap()],
  ] as const) {
    for (const [key, { endpoint, dtype, shape }] of Object.entries(side)) {
      const info = new pb.TensorInfo();
      info.setName(tensorName(endpoint));
      info.setDtype(dtype);
      info.setTensorShape(tensorShape(shape));
      map.set(key, info);
    }
  }
  return def;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
