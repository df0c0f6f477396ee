/**
 * The REST listener's response class (node:http's `ServerResponse` option). What a request holds
 * (its admission share, the exchange under way) must be given back when its response closes,
 * whether it finished or the client went away. A `'close'` listener per request cost a closure and
 * its context; here the two are fields of the response, and every response's close listener is
 * the same module-level function.
 */
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';

/** A request's share of the admission limits (admission.ts's Hold). */
export interface Releasable {
  leave(): void;
}

/** An exchange with a replica, told when its client's connection closed (exchange.ts). */
export interface ClientWatcher {
  clientClosed(): void;
}

export class ClientResponse extends ServerResponse<IncomingMessage> {
  /** Given back when the response closes (Hold.leave gives back once, whatever calls it). */
  hold: Releasable | null = null;
  /** Told when the response closes; set once the request is on its way to a replica. */
  exchange: ClientWatcher | null = null;

  /** Holds `hold` until the response closes: one listener, made once, for every request. */
  holdUntilClose(hold: Releasable): void {
    this.hold = hold;
    this.on('close', closeRequest);
  }
}

function closeRequest(this: ClientResponse): void {
  this.hold?.leave();
  this.exchange?.clientClosed();
}

/** The REST listener, with ClientResponse as its responses' class. */
export type RestServer = Server<typeof IncomingMessage, typeof ClientResponse>;
