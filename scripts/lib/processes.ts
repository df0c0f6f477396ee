/**
 * Child processes that announce themselves with a line on stdout (the gateway and the simulator
 * both do): spawn one, wait for its line (bounded), stop it. Children get an IPC channel when
 * asked, so they exit with their parent even if it dies without cleaning up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface Announced {
  readonly child: ChildProcess;
  /** The regular expression's match on the announcing line. */
  readonly match: RegExpExecArray;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Give the child an IPC channel (the simulator exits when it closes). */
  readonly ipc?: boolean;
  /** Flags for node itself, before the script. */
  readonly nodeArgs?: readonly string[];
  /** A command node runs under (e.g. valgrind and its flags); the child's pid is then the wrapper's. */
  readonly wrapper?: readonly string[];
}

/** Runs `node script args`; resolves once a stdout line matches `announce`. */
export async function spawnNode(script: string, args: readonly string[], announce: RegExp, options: SpawnOptions = {}): Promise<Announced> {
  const [command, ...wrapperArgs] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command as string, [...wrapperArgs, ...(options.nodeArgs ?? []), script, ...args], {
    env: options.env ?? process.env,
    stdio: options.ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  try {
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`${script} exited (code ${String(code)}) before it was ready`);
    });
    const announced = (async () => {
      for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
        const match = announce.exec(line);
        if (match !== null) return match;
      }
      throw new Error(`${script} closed its output before it was ready`);
    })();
    const match = await Promise.race([announced, exited]);
    return { child, match };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM, and SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
