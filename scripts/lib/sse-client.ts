/**
 * Reads a Server-Sent Events stream over a real socket (undici, with the Authorization header, as
 * the admin UI does with fetch), parsed by the same parser as the UI's, and lets a caller wait
 * for the next event matching a predicate. Used by the tests and the benchmarks.
 */
import { Agent, request } from 'undici';
import { SseParser } from '../../gateway/src/controlplane/admin/sse.js';

export interface SseEvent {
  readonly event: string;
  readonly data: unknown;
  /** performance.now() when the event was parsed. */
  readonly receivedAt: number;
}

export interface EventStream {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Every event received so far, in order. */
  readonly events: readonly SseEvent[];
  /**
   * Resolves with the first event (already received or to come) for which `match` holds; rejects
   * once the stream is unreadable (an event over the parser's bound, or data that is not JSON).
   */
  waitFor(match: (e: SseEvent) => boolean, timeoutMs: number, what: string): Promise<SseEvent>;
  close(): Promise<void>;
}

export async function openEventStream(url: string, token: string): Promise<EventStream> {
  const agent = new Agent({ connections: 1 });
  const controller = new AbortController();
  const res = await request(url, {
    dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
    bodyTimeout: 0,
  });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const parser = new SseParser();
  let failure: Error | undefined;
  // undici's body gives Buffers whatever setEncoding says; a streaming decoder keeps a character
  // split between two chunks whole.
  const decoder = new TextDecoder();
  res.body.on('data', (chunk: Buffer) => {
    try {
      for (const { event, data } of parser.push(decoder.decode(chunk, { stream: true }))) events.push({ event, data: JSON.parse(data) as unknown, receivedAt: performance.now() });
    } catch (err) {
      failure = err as Error;
      res.body.destroy(); // nothing after an unreadable event can be trusted
    }
    for (const wake of waiters) wake();
  });
  // The stream ends with an abort when the caller closes it.
  res.body.on('error', () => {});
  return {
    status: res.statusCode,
    headers: res.headers,
    events,
    waitFor(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        let from = 0;
        const check = (): void => {
          for (; from < events.length; from++) {
            const e = events[from] as SseEvent;
            if (match(e)) {
              cleanup();
              resolve(e);
              return;
            }
          }
          if (failure !== undefined) {
            cleanup();
            reject(new Error(`the stream failed before ${what}: ${failure.message}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${events.map((e) => e.event).join(', ')}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      controller.abort();
      res.body.destroy();
      await agent.destroy();
    },
  };
}
