/**
 * gRPC clients for TF Serving as users write them: @grpc/grpc-js with the project's .proto files
 * loaded by @grpc/proto-loader, plus a raw node:http2 call for the tests that look at the wire
 * (frames, headers, flags). Every call is bounded in time.
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { frameMessage } from '../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec, PROTO_FILES, PROTOS_DIR } from '../../gateway/src/tfserving/protos.js';
import { waitFor } from './gateway.js';

const packageDefinition = protoLoader.loadSync([...PROTO_FILES], {
  includeDirs: [PROTOS_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  tensorflow: { serving: { PredictionService: grpc.ServiceClientConstructor; ModelService: grpc.ServiceClientConstructor } };
};

export type Service = 'PredictionService' | 'ModelService';

export interface TfServingClient {
  /** Calls a unary method by name; resolves with the response or rejects with the grpc-js ServiceError. */
  call<T = Record<string, unknown>>(service: Service, method: string, request: object, options?: { deadlineMs?: number; metadata?: grpc.Metadata }): Promise<T>;
  close(): void;
}

/** Clients of both services on one channel-per-service to `address` (host:port), plaintext; `options` are grpc-js channel options. */
export function tfServingClient(address: string, options: grpc.ChannelOptions = {}): TfServingClient {
  const clients = {
    PredictionService: new loaded.tensorflow.serving.PredictionService(address, grpc.credentials.createInsecure(), options),
    ModelService: new loaded.tensorflow.serving.ModelService(address, grpc.credentials.createInsecure(), options),
  };
  return {
    call<T>(service: Service, method: string, request: object, options: { deadlineMs?: number; metadata?: grpc.Metadata } = {}): Promise<T> {
      const client = clients[service];
      const fn = client[method] as unknown as (
        request: object,
        metadata: grpc.Metadata,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, response?: T) => void,
      ) => grpc.ClientUnaryCall;
      if (typeof fn !== 'function') throw new Error(`${service} has no method ${method}`);
      return new Promise<T>((resolve, reject) => {
        fn.call(client, request, options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + (options.deadlineMs ?? 5000) }, (error, response) => {
          if (error !== null) reject(error);
          else resolve(response as T);
        });
      });
    },
    close() {
      clients.PredictionService.close();
      clients.ModelService.close();
    },
  };
}

/** A grpc-js error's code and details, for assert.rejects. */
export function grpcError(code: grpc.status, details: string): (e: unknown) => boolean {
  return (e: unknown) => {
    const error = e as grpc.ServiceError;
    if (error.code !== code || error.details !== details) {
      throw new Error(`expected ${grpc.status[code]} ${JSON.stringify(details)}, got ${grpc.status[error.code] ?? String(error.code)} ${JSON.stringify(error.details)}`);
    }
    return true;
  };
}

export interface RawAnswer {
  /** Response headers (the first HEADERS frame). */
  readonly headers: http2.IncomingHttpHeaders;
  /** True when that HEADERS frame carried END_STREAM: a Trailers-Only answer. */
  readonly headersEndStream: boolean;
  readonly data: Buffer;
  /** Trailers (a second HEADERS frame), if any. */
  readonly trailers: http2.IncomingHttpHeaders | null;
  /** The RST_STREAM code when the server reset the stream. */
  readonly rstCode: number;
  /** Response header names that came as HPACK literals never indexed (node:http2's sensitiveHeaders). */
  readonly neverIndexed?: readonly string[];
}

/** One request over node:http2 with exactly the headers given (plus :method POST unless set). */
export function rawCall(address: string, path: string, body: Buffer, headers: http2.OutgoingHttpHeaders, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise<RawAnswer>((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const stream = session.request({ ':method': 'POST', ':path': path, ...headers }, { endStream: false });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let neverIndexed: readonly string[] = [];
    let headersEndStream = false;
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h, flags) => {
      responseHeaders = plain(h);
      neverIndexed = (h as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? [];
      headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => {
      trailers = plain(t);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('close', () => {
      clearTimeout(timer);
      const rstCode = stream.rstCode ?? 0;
      session.close();
      resolve({ headers: responseHeaders, headersEndStream, data: Buffer.concat(chunks), trailers, rstCode, neverIndexed });
    });
    stream.end(body);
  });
}

/** Headers as a plain object: without Node's sensitive-headers symbol, so they compare with deepEqual. */
function plain(headers: http2.IncomingHttpHeaders): http2.IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers)) as http2.IncomingHttpHeaders;
}

export const PREDICT_PATH = '/tensorflow.serving.PredictionService/Predict';
const predictCodec = messageCodec<object>('tensorflow.serving.PredictRequest');

/** A framed PredictRequest of x = [1] for `model`, the body of a raw Predict call. */
export function framedPredict(model: string): Buffer {
  return frameMessage(Buffer.from(predictCodec.encode({ model_spec: { name: model }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } })));
}

/** The call's grpc-status: from the trailers, or from the headers of a Trailers-Only answer. */
export function grpcStatusOf(answer: RawAnswer): unknown {
  return answer.trailers?.['grpc-status'] ?? answer.headers['grpc-status'];
}

/** Raw Predict calls for `model` until one is answered OK (a new gateway's replicas are not healthy yet); that answer. */
export async function firstOkPredict(address: string, model: string, headers: http2.OutgoingHttpHeaders, timeoutMs = 10_000): Promise<RawAnswer> {
  let answered: RawAnswer | undefined;
  await waitFor(
    async () => {
      answered = await rawCall(address, PREDICT_PATH, framedPredict(model), headers);
      return grpcStatusOf(answered) === '0';
    },
    timeoutMs,
    'a Predict answered OK',
  );
  return answered as RawAnswer;
}
