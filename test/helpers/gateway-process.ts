/**
 * A gateway in a child process, from a configuration document: for tests whose gateway may stall
 * (the test must still end, and see the stall from outside) or whose figures are the process's own.
 * Listeners on 127.0.0.1 and free ports, the memory store, warnings only.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, stopChild } from '../../scripts/lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** Base URL of the REST (data) port. */
  readonly rest: string;
  /** Base URL of the admin port. */
  readonly admin: string;
  /** SIGTERM, SIGKILL after `graceMs` (a stalled event loop handles no signal), then the work directory goes. */
  stop(graceMs?: number): Promise<void>;
}

/** `document` is the configuration without listeners; `nodeArgs` go to node after the gateway's own flags. */
export async function spawnGateway(document: Record<string, unknown>, nodeArgs: readonly string[] = []): Promise<GatewayProcess> {
  const workDir = mkdtempSync(join(tmpdir(), 'cg-gateway-'));
  const file = join(workDir, 'gateway.json');
  writeFileSync(file, JSON.stringify({ ...document, listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } }));
  try {
    const { child, match } = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
      env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory' },
      nodeArgs: [...GATEWAY_NODE_FLAGS, ...nodeArgs],
    });
    const kill = (): void => void child.kill('SIGKILL');
    process.once('exit', kill);
    child.stdout?.resume();
    return {
      child,
      rest: `http://127.0.0.1:${match[1]}`,
      admin: `http://127.0.0.1:${match[2]}`,
      stop: async (graceMs = 2_000) => {
        await stopChild(child, graceMs);
        process.off('exit', kill);
        rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}
