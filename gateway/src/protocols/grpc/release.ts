/**
 * A closed HTTP/2 stream lets go of the call it carried.
 *
 * node:http2 does not free a stream when it closes. Its native handle points back at the JS stream
 * (and the stream at everything its listeners close over: the call, the client's headers, the
 * request and answer buffers), and when the stream still had writes on the socket as it was
 * destroyed, node_http2.cc leaves the handle for the garbage collector. V8's young-generation
 * collector treats such a handle (a wrapper that JS has added properties to) as a root: the
 * stream and all it reaches survive every scavenge, are copied twice, promoted, and die in the
 * old generation, which a full collection then has to clear. Under gRPC load that was 1.2-1.5 MB
 * promoted per scavenge and a mark-compact every 250-500 ms (docs/performance.md). Dropping the
 * listeners once the stream is closed leaves Node's own objects in that state, and none of ours.
 */
import { EventEmitter } from 'node:events';
import type { Http2Stream } from 'node:http2';

/** An 'error' listener that ignores: callers learn of the error by 'close' and their own listeners. */
export function ignoreError(): void {}

// EventEmitter's own: Readable's override would queue a tick per stream to update its reading state.
const { removeAllListeners } = EventEmitter.prototype;

/**
 * Drops every listener of a stream whose 'close' is being emitted (called from a 'close'
 * listener): the listeners after the caller still run (emit calls those it had when it began), and
 * nothing is emitted after 'close'.
 */
export function release(stream: Http2Stream): void {
  // node:http2's own 'removeListener' bookkeeping goes first (it flags the native stream, gone by
  // now): with it there, removing the rest would emit 'removeListener' once per listener.
  removeAllListeners.call(stream, 'removeListener');
  removeAllListeners.call(stream);
  // A late error (none is expected after 'close') must not become an uncaught exception.
  stream.on('error', ignoreError);
}
