/**
 * The demo's background load: REST predict requests to the gateway at a steady rate, so a rollout
 * (shadow stage, steps, promotion) goes ahead without the user scripting traffic. Answers are read
 * and dropped; nothing is printed per request.
 */
import http from 'node:http';

export interface LoadOptions {
  /** The gateway's REST origin, http://host:port. */
  readonly url: string;
  readonly model: string;
  /** Requests per second; at most 1000. */
  readonly rate: number;
}

export interface Load {
  /** Answers received so far, by HTTP status; `failed` counts requests that got none. */
  counts(): { readonly byStatus: Readonly<Record<string, number>>; readonly failed: number };
  /** Sends nothing more at once; resolves when the requests in flight have ended and the sockets are closed. Idempotent. */
  stop(): Promise<void>;
}

/** How often the timer fires: the rate is spread over ticks, so 20/s is one request every 50 ms, not a burst per second. */
const TICK_MS = 50;

export function startLoad(options: LoadOptions): Load {
  if (!(options.rate > 0 && options.rate <= 1000)) throw new RangeError(`the demo load rate must be in (0, 1000] requests per second, got ${options.rate}`);
  const target = new URL(`/v1/models/${encodeURIComponent(options.model)}:predict`, options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const inFlight = new Set<Promise<void>>();
  const byStatus: Record<string, number> = {};
  let failed = 0;
  let owed = 0;
  let stopping: Promise<void> | null = null;

  const send = (): void => {
    // Inputs vary so the shadow stage compares different answers, not one repeated pair.
    const x = Math.round(Math.random() * 1000) / 10;
    const body = JSON.stringify({ instances: [x, x + 1] });
    const done = new Promise<void>((resolve) => {
      const req = http.request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          const key = String(res.statusCode ?? 0);
          byStatus[key] = (byStatus[key] ?? 0) + 1;
          resolve();
        });
        res.on('error', () => {
          failed++;
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };

  let last = performance.now();
  const timer = setInterval(() => {
    // Owed by the clock, not by the tick count: a late timer (a busy event loop) does not slow the rate.
    const now = performance.now();
    owed += (options.rate * (now - last)) / 1000;
    last = now;
    // A gateway that stops answering must not make the load pile up requests without bound.
    while (owed >= 1 && inFlight.size < 200) {
      owed--;
      send();
    }
    if (owed > 1) owed = 1;
  }, TICK_MS);

  return {
    counts: () => ({ byStatus: { ...byStatus }, failed }),
    stop: () => {
      if (stopping !== null) return stopping;
      clearInterval(timer);
      stopping = Promise.all(inFlight).then(() => agent.destroy());
      return stopping;
    },
  };
}

/** DEMO_LOAD: unset for the default rate, `0`/`off`/`false` for none, or requests per second. */
export function loadRateFromEnv(value: string | undefined, defaultRate: number): number {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return defaultRate;
  if (v === '0' || v === 'off' || v === 'false' || v === 'no') return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1000) throw new RangeError(`DEMO_LOAD must be off or a number of requests per second up to 1000, got "${value ?? ''}"`);
  return n;
}
