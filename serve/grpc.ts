import { fileURLToPath } from 'node:url';
import { SERVING_SIGNATURE } from '../trainer/graph/serving.js';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { BearerAuth } from './auth.js';
import { errorStatus, HttpError } from './errors.js';
import { BadRequestError, checkRequestPixels, type Instance } from './instances.js';
import type { ServeMetrics } from './metrics.js';
import { servingSignature, type ServedModel, type SignatureTensor } from './model.js';
import type { ServeOptions } from './options.js';
import { arraySource, writeImage } from './pixels.js';
import type { Predictor } from './predictor.js';

/**
 * TensorFlow Serving's gRPC `tensorflow.serving.PredictionService` (serve/proto/, TF Serving's field numbers), next
 * to the REST API: `Predict` shares its batches — the input `images` (float or uint8, N×H×W×C, values 0–255, any
 * size: prepared like a REST instance) in, `probabilities` (float, N×classes) out, the signature of the SavedModel
 * export — and `GetModelMetadata` describes that signature as TF Serving does (`signature_def`).
 */

/** TensorFlow's DataType values (tensorflow/core/framework/types.proto) that serving reads or writes. */
const DT_FLOAT = 1;
const DT_UINT8 = 4;

/** The proto files' root: the sources' serve/proto (the compiled module is dist/serve/grpc.js). */
const PROTO_ROOT = fileURLToPath(new URL('../../serve/proto/', import.meta.url));

interface TensorProto {
  dtype?: number;
  tensor_shape?: { dim?: { size?: number }[]; unknown_rank?: boolean };
  tensor_content?: Buffer;
  float_val?: number[];
  int_val?: number[];
}
interface ModelSpec {
  name?: string;
  version?: { value?: number } | null;
  version_label?: string;
  signature_name?: string;
}
interface PredictRequest {
  model_spec?: ModelSpec;
  inputs?: Record<string, TensorProto>;
  output_filter?: string[];
}
interface GetModelMetadataRequest {
  model_spec?: ModelSpec;
  metadata_field?: string[];
}

/** The type URL TF Serving packs a SignatureDefMap under in GetModelMetadataResponse.metadata (an Any). */
const SIGNATURE_DEF_MAP = 'type.googleapis.com/tensorflow.serving.SignatureDefMap';

/** The HTTP status of an error, as the gRPC status code TF Serving would answer with. */
function grpcCode(status: number): grpc.status {
  if (status === 400) return grpc.status.INVALID_ARGUMENT;
  if (status === 401) return grpc.status.UNAUTHENTICATED;
  if (status === 404) return grpc.status.NOT_FOUND;
  if (status === 503) return grpc.status.UNAVAILABLE;
  if (status === 504) return grpc.status.DEADLINE_EXCEEDED;
  if (status === 499) return grpc.status.CANCELLED;
  return grpc.status.INTERNAL;
}

export function loadPredictionService(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync('tensorflow_serving/apis/prediction_service.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    tensorflow: { serving: { PredictionService: grpc.ServiceClientConstructor } };
  };
  return pkg.tensorflow.serving.PredictionService.service;
}

export class GrpcPredictionService {
  private readonly server: grpc.Server;

  constructor(
    private readonly modelName: string,
    private readonly options: ServeOptions,
    private readonly predictor: Predictor,
    private readonly metrics: ServeMetrics,
    private readonly auth: BearerAuth | undefined,
    /** The served model a request names; throws the 404 or 503 the REST API answers. */
    private readonly resolve: (name: string, version: string | undefined) => ServedModel,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxBodyBytes,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    this.server.addService(loadPredictionService(), {
      Predict: this.unary('grpc_predict', (request: PredictRequest, call, started) =>
        this.predict(request, call, started),
      ),
      GetModelMetadata: this.unary('grpc_get_model_metadata', (request: GetModelMetadataRequest) =>
        this.modelMetadata(request),
      ),
    });
  }

  /** Listens on the gRPC port (plaintext: TLS is the mesh's or the ingress's, docs/serving.md); returns it. */
  listen(): Promise<number> {
    const port = this.options.grpcPort ?? 0;
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`${this.options.host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  }

  /** Stops accepting calls; running ones get `graceMs`. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * A unary method: the token checked first (so without it nothing is said about the model), then `handle`; its
   * errors answered with the gRPC code TF Serving would give, and every call counted under `route`.
   */
  private unary<Request>(
    route: string,
    handle: (request: Request, call: grpc.ServerUnaryCall<Request, unknown>, started: number) => Promise<unknown>,
  ): grpc.handleUnaryCall<Request, unknown> {
    return (call, callback) => {
      const started = performance.now();
      let code: grpc.status = grpc.status.OK;
      void (async () => {
        try {
          const [authorization] = call.metadata.get('authorization');
          if (this.auth && !this.auth.allows(typeof authorization === 'string' ? authorization : undefined))
            throw new HttpError(
              401,
              `${call.getPath()} needs the metadata 'authorization: Bearer <token>' with the server's token`,
            );
          callback(null, await handle(call.request, call, started));
        } catch (error) {
          const { status, message } = errorStatus(error);
          code = grpcCode(status);
          callback({ code, details: message });
        } finally {
          this.metrics.recordRequest(route, grpc.status[code], (performance.now() - started) / 1000);
        }
      })();
    };
  }

  /** The served model a request's model_spec names (404 otherwise), with only the serving_default signature. */
  private served(spec: ModelSpec = {}): ServedModel {
    const version = spec.version?.value ?? spec.version_label;
    const served = this.resolve(spec.name ?? '', version === undefined ? undefined : String(version));
    if (spec.signature_name && spec.signature_name !== SERVING_SIGNATURE)
      throw new BadRequestError(
        `model_spec.signature_name: '${spec.signature_name}', this model has only serving_default`,
      );
    return served;
  }

  private async predict(
    request: PredictRequest,
    call: grpc.ServerUnaryCall<PredictRequest, unknown>,
    started: number,
  ): Promise<unknown> {
    const gone = new AbortController();
    call.once('cancelled', () => gone.abort());
    const served = this.served(request.model_spec);
    const instances = this.instances(request.inputs ?? {});
    const deadline = Math.min(started + this.options.deadlineMs, started + remainingMs(call.getDeadline()));
    const rows = await this.predictor.predict(instances, deadline, gone.signal);
    return this.response(served, rows);
  }

  /** TF Serving's answer for `metadata_field: "signature_def"`, the one field it (and effscale) knows. */
  private async modelMetadata(request: GetModelMetadataRequest): Promise<unknown> {
    const served = this.served(request.model_spec);
    const fields = request.metadata_field ?? [];
    if (fields.length === 0)
      throw new BadRequestError("metadata_field: give at least one; this server answers 'signature_def'");
    const unknown = fields.find((field) => field !== 'signature_def');
    if (unknown !== undefined)
      throw new BadRequestError(`metadata_field: '${unknown}' is not supported; this server answers 'signature_def'`);
    const signature = servingSignature(served);
    const tensors = (side: Record<string, SignatureTensor>) =>
      Object.fromEntries(
        Object.entries(side).map(([key, t]) => [
          key,
          { name: t.name, dtype: t.dtype, tensor_shape: { dim: t.shape.map((size) => ({ size })) } },
        ]),
      );
    return {
      model_spec: modelSpec(served),
      metadata: {
        // protobufjs packs an Any given as its '@type' and the fields of that message.
        signature_def: {
          '@type': SIGNATURE_DEF_MAP,
          signature_def: {
            [SERVING_SIGNATURE]: {
              inputs: tensors(signature.inputs),
              outputs: tensors(signature.outputs),
              method_name: signature.methodName,
            },
          },
        },
      },
    };
  }

  /** The request's one input, checked, as one instance per image (each a view of the request's values). */
  private instances(inputs: Record<string, TensorProto>): Instance[] {
    const names = Object.keys(inputs);
    if (names.length !== 1 || !inputs.images)
      throw new BadRequestError(
        `inputs: got ${names.length ? names.map((n) => `'${n}'`).join(', ') : 'none'}; expected one tensor 'images' ` +
          `(float or uint8, N×H×W×C, values 0–255) for model ${this.modelName}`,
      );
    const tensor = inputs.images;
    const dims = (tensor.tensor_shape?.dim ?? []).map((d) => Number(d.size ?? 0));
    const [n = 0, h = 0, w = 0, c = 0] = dims;
    if (dims.length !== 4 || dims.some((d) => !(d >= 1)))
      throw new BadRequestError(`inputs.images: shape [${dims.join(', ')}]; expected N×H×W×C, every dimension ≥ 1`);
    if (c !== 1 && c !== 3 && c !== 4) throw new BadRequestError(`inputs.images: ${c} channels; expected 1, 3 or 4`);
    if (n > this.options.maxInstances)
      throw new BadRequestError(`inputs.images: ${n} images, at most ${this.options.maxInstances} per request`);
    if (h > this.options.maxSide || w > this.options.maxSide)
      throw new BadRequestError(`inputs.images: ${h}×${w} images, at most ${this.options.maxSide} pixels per side`);
    const size = h * w * c;
    const values = tensorValues(tensor, n * size);
    const instances = Array.from({ length: n }, (_, i): Instance => {
      const source = arraySource(values, h, w, c, i * size);
      return {
        where: `inputs.images[${i}]`,
        pixels: size,
        write: (target, at, prep) => writeImage(source, target, at, prep),
      };
    });
    checkRequestPixels(instances, this.options);
    return instances;
  }

  private response(served: ServedModel, rows: Float32Array[]): unknown {
    const classes = served.engine.classes;
    const content = new Float32Array(rows.length * classes);
    rows.forEach((row, i) => content.set(row, i * classes));
    return {
      model_spec: modelSpec(served),
      outputs: {
        probabilities: {
          dtype: DT_FLOAT,
          tensor_shape: { dim: [{ size: rows.length }, { size: classes }] },
          tensor_content: Buffer.from(content.buffer, content.byteOffset, content.byteLength),
        },
      },
    };
  }
}

/** The model_spec of an answer: the model, its version as TF Serving numbers it (`v1` is 1), the signature. */
function modelSpec(served: ServedModel): ModelSpec {
  const version = Number(/\d+$/.exec(served.version)?.[0]);
  return {
    name: served.name,
    ...(Number.isFinite(version) && { version: { value: version } }),
    signature_name: SERVING_SIGNATURE,
  };
}

/** Milliseconds to a gRPC deadline (infinite when the client set none). */
function remainingMs(deadline: grpc.Deadline): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

/**
 * The tensor's `count` values (float or uint8), from its raw little-endian content or its typed value list, as
 * TF Serving reads them; every value checked to be a pixel value 0–255.
 */
function tensorValues(tensor: TensorProto, count: number): ArrayLike<number> {
  const content = tensor.tensor_content;
  let values: ArrayLike<number>;
  if (tensor.dtype === DT_FLOAT) {
    values = content?.length ? floats(content) : Float32Array.from(tensor.float_val ?? []);
  } else if (tensor.dtype === DT_UINT8) {
    values = content?.length ? content : (tensor.int_val ?? []);
  } else {
    throw new BadRequestError(`inputs.images: dtype ${tensor.dtype ?? 0}; expected DT_FLOAT (1) or DT_UINT8 (4)`);
  }
  if (values.length !== count)
    throw new BadRequestError(`inputs.images: ${values.length} values for a shape of ${count}`);
  for (let i = 0; i < count; i++) {
    const v = values[i] as number;
    if (!(v >= 0 && v <= 255)) throw new BadRequestError(`inputs.images: value ${v} at ${i}; expected 0–255`);
  }
  return values;
}

/** Little-endian floats (TensorFlow's tensor_content byte order); the bytes are copied only when misaligned. */
function floats(bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0)
    throw new BadRequestError('inputs.images: tensor_content is not a whole number of floats');
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
}
