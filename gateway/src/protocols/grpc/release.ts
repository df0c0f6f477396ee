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
 * promoted per scavenge and a mark-compact every 250-500 ms (README, Performance). Dropping the
 * listeners once the stream is closed leaves Node's own objects in that state, and none of ours.
 */
import type { Http2Stream } from 'node:http2';

function ignore(): void {}

/** Listeners are dropped on the turn after 'close', once every 'close' listener has run. */
function onClosed(this: Http2Stream): void {
  setImmediate(release, this);
}

function release(stream: Http2Stream): void {
  stream.removeAllListeners();
  // A late error (none is expected after 'close') must not become an uncaught exception.
  stream.on('error', ignore);
}

/** Ignores the stream's errors (callers learn of them by 'close' and their own listeners) and releases it once closed. */
export function releaseWhenClosed(stream: Http2Stream): void {
  stream.on('error', ignore);
  stream.on('close', onClosed);
}
