#!/usr/bin/env node
/**
 * The "few lines of Node" baseline: fastify with @fastify/reply-from, one catch-all route, undici
 * keep-alive to one upstream. Bodies go through as streams (as @fastify/http-proxy does), so the
 * proxy is not charged for a JSON parse the gateway does not do either.
 *
 *   node dist/scripts/bench/proxy-reply-from.js --upstream http://127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>`; exits with its parent.
 */
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-reply-from: --upstream URL is required\n');
  process.exit(2);
}
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
await app.register(replyFrom, {
  base: values.upstream,
  // The same pool size and idle time as the gateway's per-replica pool.
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 4_000 },
});
app.all('/*', (req, reply) => reply.from(req.url));
const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.stdout.write(`proxy listening on ${address}\n`);
const stop = (): void => void app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.send !== undefined) process.on('disconnect', stop);
