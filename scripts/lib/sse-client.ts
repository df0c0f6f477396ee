/**
 * Reads a Server-Sent Events stream over a real socket (undici, with the Authorization header, as
 * the admin UI does with fetch) and lets a caller wait for the next event matching a predicate.
 * Used by the tests and the propagation benchmark.
 */
import { Agent, request } from 'undici';

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
  /** Resolves with the first event (already received or to come) for which `match` holds. */
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
  let buffer = '';
  res.body.setEncoding('utf8');
  res.body.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) as unknown, receivedAt: performance.now() });
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
