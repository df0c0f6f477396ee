/**
 * Steady keyless prediction traffic for failure tests: `perTarget` requests in flight against each
 * URL until stopped, every outcome counted and every failure kept with its reason.
 */
import type { TestClient } from './http.js';

export interface LoadOutcome {
  ok: number;
  readonly failures: string[];
}

export interface SteadyLoad {
  readonly outcome: LoadOutcome;
  /** Stops sending and resolves once every request in flight has finished. */
  stop(): Promise<LoadOutcome>;
}

export function steadyLoad(client: TestClient, urls: readonly string[], perTarget: number): SteadyLoad {
  const outcome: LoadOutcome = { ok: 0, failures: [] };
  let running = true;
  const worker = async (url: string): Promise<void> => {
    while (running) {
      try {
        const reply = await client.post(url, '{"instances": [1.0]}');
        if (reply.status === 200) outcome.ok++;
        else outcome.failures.push(`${reply.status} ${reply.text}`);
      } catch (err) {
        outcome.failures.push(String(err));
        // A client that fails at once (closed) must not starve the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  const workers = urls.flatMap((url) => Array.from({ length: perTarget }, () => worker(url)));
  return {
    outcome,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return outcome;
    },
  };
}
