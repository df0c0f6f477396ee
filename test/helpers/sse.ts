/** Server-Sent Events client for tests (see scripts/lib/sse-client.ts). */
export { openEventStream, type EventStream, type SseEvent } from '../../scripts/lib/sse-client.js';
