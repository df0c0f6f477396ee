#!/usr/bin/env node
/**
 * A gRPC client of the demo, written as a TF Serving user writes one in Node: @grpc/grpc-js with
 * TF Serving's .proto files (the project's protos/) loaded by @grpc/proto-loader, one Predict call
 * of half_plus_two with the inputs [1, 2, 5]. Prints the version that answered (the `x-model-version`
 * initial metadata the gateway adds) and the outputs.
 *
 *   npm run predict:grpc -- [host:port] [--header name=value]...
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_FILES, PROTOS_DIR } from '../../gateway/src/tfserving/protos.js';

interface TensorProto {
  readonly dtype?: string;
  readonly tensor_shape?: { readonly dim?: ReadonlyArray<{ readonly size?: string }> };
  readonly float_val?: readonly number[];
}
interface PredictResponse {
  readonly model_spec?: { readonly name?: string; readonly version?: { readonly value?: string } };
  readonly outputs?: Readonly<Record<string, TensorProto>>;
}
type Predict = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: PredictResponse) => void,
) => grpc.ClientUnaryCall;

const { values, positionals } = parseArgs({ allowPositionals: true, options: { header: { type: 'string', multiple: true } } });
const address = positionals[0] ?? 'localhost:8500';
const definition = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTOS_DIR], keepCase: true, longs: String, enums: String });
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  tensorflow: { serving: { PredictionService: grpc.ServiceClientConstructor } };
};
const client = new loaded.tensorflow.serving.PredictionService(address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
for (const header of values.header ?? []) {
  const at = header.indexOf('=');
  if (at <= 0) throw new Error(`--header ${header}: expected name=value`);
  metadata.set(header.slice(0, at), header.slice(at + 1));
}
const request = {
  model_spec: { name: 'half_plus_two', signature_name: 'serving_default' },
  inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 3 }] }, float_val: [1, 2, 5] } },
};
const call = (client['Predict'] as unknown as Predict).call(client, request, metadata, { deadline: Date.now() + 5000 }, (error, response) => {
  client.close();
  if (error !== null) {
    process.stderr.write(`Predict failed: ${grpc.status[error.code]} (${error.code}): ${error.details}\n`);
    process.exitCode = 1;
    return;
  }
  const outputs = Object.entries(response?.outputs ?? {}).map(([name, t]) => `${name}=[${(t.float_val ?? []).join(', ')}]`);
  process.stdout.write(`model ${response?.model_spec?.name ?? '?'} version ${response?.model_spec?.version?.value ?? '?'}: ${outputs.join(' ')}\n`);
});
call.on('metadata', (initial: grpc.Metadata) => {
  process.stdout.write(`x-model-version: ${String(initial.get('x-model-version')[0] ?? '-')}\n`);
});
