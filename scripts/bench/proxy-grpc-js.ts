#!/usr/bin/env node
/**
 * The "few lines of Node" gRPC baseline: a @grpc/grpc-js server whose every unary method of TF
 * Serving's services forwards the request bytes, as they came, through one grpc-js client channel
 * to one upstream, and the answer back. Raw Buffer serializers: nothing is decoded, as the gateway
 * decodes nothing but the ModelSpec either. Metadata and deadlines go through, errors come back as
 * the upstream gave them.
 *
 *   node dist/scripts/bench/proxy-grpc-js.js --upstream 127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>` (cleartext HTTP/2); exits with its parent.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { tfServingMethods } from '../../gateway/src/tfserving/protos.js';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-grpc-js: --upstream HOST:PORT is required\n');
  process.exit(2);
}

const asIs = (bytes: Buffer): Buffer => bytes;
// grpc-js takes at most 4 MiB by default; the gateway forwards up to its body limit (32 MiB).
const UNLIMITED: grpc.ChannelOptions = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

const client = new grpc.Client(values.upstream, grpc.credentials.createInsecure(), UNLIMITED);

function forward(path: string): grpc.handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    const deadline = call.getDeadline();
    const upstream = client.makeUnaryRequest(
      path,
      asIs,
      asIs,
      call.request,
      call.metadata,
      deadline === Infinity ? {} : { deadline },
      (err, response) => {
        if (err !== null) callback({ code: err.code, details: err.details, metadata: err.metadata });
        else callback(null, response);
      },
    );
    upstream.on('metadata', (metadata: grpc.Metadata) => call.sendMetadata(metadata));
    call.on('cancelled', () => upstream.cancel());
  };
}

// One definition for all methods of both services: every one of them is unary.
const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
const implementation: grpc.UntypedServiceImplementation = {};
for (const method of tfServingMethods().values()) {
  const name = `${method.service}.${method.name}`;
  definition[name] = {
    path: method.path,
    requestStream: false,
    responseStream: false,
    requestSerialize: asIs,
    requestDeserialize: asIs,
    responseSerialize: asIs,
    responseDeserialize: asIs,
    originalName: method.name,
  };
  implementation[name] = forward(method.path);
}

const server = new grpc.Server(UNLIMITED);
server.addService(definition, implementation);
const port = await new Promise<number>((resolve, reject) => {
  server.bindAsync(`127.0.0.1:${values.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
});
process.stdout.write(`proxy listening on http://127.0.0.1:${port}\n`);
const stop = (): void => {
  server.forceShutdown();
  client.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.send !== undefined) process.on('disconnect', stop);
