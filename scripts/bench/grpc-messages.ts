/**
 * The gRPC section's request bodies, built from protos/ with protobufjs as any client would
 * serialize them, framed with gRPC's 5-byte prefix: a small Predict (the REST bench's instances,
 * [1, 2, 5]) and a large one (a float tensor in tensor_content, as clients send big tensors).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { frameMessage } from '../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec, tfServingProtos, type PredictRequestMessage, type PredictResponseMessage } from '../../gateway/src/tfserving/protos.js';

export const PREDICT_METHOD = '/tensorflow.serving.PredictionService/Predict';
export const MODEL = 'half_plus_two';

const requestCodec = messageCodec<PredictRequestMessage>('tensorflow.serving.PredictRequest');
const responseCodec = messageCodec<PredictResponseMessage>('tensorflow.serving.PredictResponse');
const DT_FLOAT = (): number => tfServingProtos().lookupEnum('tensorflow.DataType').values['DT_FLOAT'] as number;

/** The framed request body: half_plus_two, no version named (the policy decides), input x. */
export function smallPredict(): Buffer {
  return frameMessage(requestCodec.encode({ model_spec: { name: MODEL }, inputs: { x: { dtype: DT_FLOAT(), tensor_shape: { dim: [{ size: '3' }] }, float_val: [1, 2, 5] } } }));
}

/** A Predict whose message is `bytes` of float32 tensor (bytes / 4 elements) plus its few header bytes. */
export function largePredict(bytes: number): Buffer {
  const elements = Math.floor(bytes / 4);
  const content = Buffer.allocUnsafe(elements * 4);
  for (let i = 0; i < elements; i++) content.writeFloatLE(i % 1000, i * 4);
  return frameMessage(requestCodec.encode({ model_spec: { name: MODEL }, inputs: { x: { dtype: DT_FLOAT(), tensor_shape: { dim: [{ size: String(elements) }] }, tensor_content: content } } }));
}

/** Writes the body where h2load and the load generator read it. */
export function writeBody(dir: string, name: string, body: Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

/** The number of values of output y in a PredictResponse message (without its prefix). */
export function outputCount(message: Buffer): number {
  const y = responseCodec.decode(message).outputs?.['y'];
  if (y === undefined) return 0;
  return y.float_val?.length ?? (y.tensor_content === undefined ? 0 : y.tensor_content.length / 4);
}
