/**
 * What the gateway takes on at once, across every request (and protocol): requests in flight, and
 * request bytes held in memory (retry buffers, the heads of bodies it answers itself). Past either
 * limit a new request is answered at once (503) instead of joining the others: 1,000 stalled
 * uploads cannot exhaust memory, and the requests already admitted keep their share.
 */
export class Admission {
  readonly maxRequests: number;
  readonly maxBytes: number;
  requests = 0;
  bytes = 0;
  /** Refused so far, by the limit that refused them (for /metrics). */
  readonly refused = { requests: 0, bytes: 0 };

  constructor(maxRequests: number, maxBytes: number) {
    this.maxRequests = maxRequests;
    this.maxBytes = maxBytes;
  }

  /**
   * Bytes kept past the request that brought them (a shadow copy's body, held until the shadow
   * answers): false, nothing taken, when the budget has no room. Not counted as a refusal: no
   * client was turned away.
   */
  takeBytes(bytes: number): boolean {
    if (this.bytes + bytes > this.maxBytes) return false;
    this.bytes += bytes;
    return true;
  }

  giveBytes(bytes: number): void {
    this.bytes -= bytes;
  }

  /** A request arrives: its hold, to give back when it ends; undefined when the gateway is full. */
  enter(): Hold | undefined {
    if (this.requests >= this.maxRequests) {
      this.refused.requests++;
      return undefined;
    }
    this.requests++;
    return new Hold(this);
  }
}

/** One request's share of the Admission: itself, and the body bytes it keeps. */
export class Hold {
  readonly admission: Admission;
  #bytes = 0;
  #left = false;

  constructor(admission: Admission) {
    this.admission = admission;
  }

  /** Takes `bytes` more of the memory budget; false (nothing taken) when it would go past it. */
  reserve(bytes: number): boolean {
    const admission = this.admission;
    if (admission.bytes + bytes > admission.maxBytes) {
      admission.refused.bytes++;
      return false;
    }
    admission.bytes += bytes;
    this.#bytes += bytes;
    return true;
  }

  /** The request ended: everything it held goes back (once). */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.admission.requests--;
    this.admission.bytes -= this.#bytes;
    this.#bytes = 0;
  }
}

/** The answer past a limit (503, in TF Serving's error shape): which limit, so an operator can tell. */
export function fullMessage(admission: Admission): string {
  return admission.requests >= admission.maxRequests
    ? `The gateway is at its limit of ${admission.maxRequests} requests in flight`
    : `The gateway is at its limit of ${admission.maxBytes} bytes of request bodies in memory`;
}
