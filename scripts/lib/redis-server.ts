/**
 * A real redis-server (tests, benchmarks), on a free 127.0.0.1 port, keeping nothing on disk unless
 * asked to. It can be killed (to test outages) and started again on the same port; every process
 * is cleaned up when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port: empty, unless started persistent. */
  restart(): Promise<void>;
  isRunning(): boolean;
  stop(): Promise<void>;
}

export interface RedisOptions {
  /** Keep data across kill/restart (append-only file, fsync on every write), as a production Redis does. */
  readonly persistent?: boolean;
  /** requirepass: every client must AUTH with it. */
  readonly password?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = options.persistent ? mkdtempSync(join(tmpdir(), 'cg-redis-')) : undefined;
  const persistence = dir === undefined ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...persistence,
        '--protected-mode',
        'no',
        '--loglevel',
        'warning',
        ...(options.password === undefined ? [] : ['--requirepass', options.password]),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    child = proc;
    await waitForPort(port, 5_000, proc);
  };
  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    isRunning: () => child !== undefined,
    stop: async () => {
      await kill();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SentinelServer {
  readonly port: number;
  stop(): Promise<void>;
}

export interface SentinelOptions {
  /** The master it monitors, on 127.0.0.1. */
  readonly masterPort: number;
  readonly masterName: string;
  /** The master's requirepass, if any (sentinel auth-pass). */
  readonly masterPassword?: string;
  /** The sentinel's own requirepass, if any. */
  readonly password?: string;
}

/** One Redis Sentinel (redis-server --sentinel) on a free port, its rewritable config in a temp dir. */
export async function startSentinel(options: SentinelOptions): Promise<SentinelServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cg-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    `dir ${dir}`,
    'loglevel warning',
    `sentinel monitor ${options.masterName} 127.0.0.1 ${options.masterPort} 1`,
    ...(options.masterPassword === undefined ? [] : [`sentinel auth-pass ${options.masterName} ${options.masterPassword}`]),
    ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
  ];
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  try {
    await waitForPort(port, 5_000, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, 'exit');
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
