/**
 * The admin event stream (GET /api/events), read with fetch and a streaming body rather than
 * EventSource, which cannot send the Authorization header (the token would have to go in the URL).
 * Reconnects with exponential backoff and jitter; a stream silent for too long (the gateway sends
 * stats every second) is taken as dead, since a half-open connection never errors by itself.
 * Frames are read by the gateway's own parser (the wire format lives with the endpoint).
 */
import { SseParser } from '../../gateway/src/controlplane/admin/sse.js';
import type { StreamMessage } from './api';

export type StreamStatus =
  | { state: 'connecting' }
  | { state: 'live' }
  | { state: 'retrying'; at: number; reason: string }
  | { state: 'unauthorized' };

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
const SILENCE_MS = 20_000;

export function openEventStream(token: string, onEvent: (e: StreamMessage) => void, onStatus: (s: StreamStatus) => void): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let wake: (() => void) | undefined;

  const run = async (): Promise<void> => {
    let delay = FIRST_DELAY_MS;
    while (!stopped) {
      controller = new AbortController();
      let reason: string;
      try {
        onStatus({ state: 'connecting' });
        const res = await fetch('/api/events', {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          cache: 'no-store',
          signal: controller.signal,
        });
        if (res.status === 401) {
          onStatus({ state: 'unauthorized' });
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        await readFrames(res.body, controller, (e) => {
          if (e.event === 'snapshot') {
            delay = FIRST_DELAY_MS;
            onStatus({ state: 'live' });
          }
          onEvent(e);
        });
        reason = 'the stream ended';
      } catch (err) {
        reason = (err as Error).message;
      }
      if (stopped) return;
      const wait = delay * (0.75 + Math.random() / 2);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      onStatus({ state: 'retrying', at: Date.now() + wait, reason });
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, wait);
      });
    }
  };
  void run();

  return () => {
    stopped = true;
    controller?.abort();
    wake?.();
  };
}

async function readFrames(body: ReadableStream<Uint8Array>, controller: AbortController, emit: (e: StreamMessage) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const silent = (): void => controller.abort(new Error(`no data for ${SILENCE_MS / 1000} s`));
  let silence = setTimeout(silent, SILENCE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(silence);
      silence = setTimeout(silent, SILENCE_MS);
      // The gateway and this UI ship together: an event's name tells the type of its data.
      for (const { event, data } of parser.push(decoder.decode(value, { stream: true }))) emit({ event, data: JSON.parse(data) } as StreamMessage);
    }
  } finally {
    clearTimeout(silence);
    reader.cancel().catch(() => {});
  }
}
