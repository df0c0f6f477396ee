/**
 * What the bench needs from the machine: the external tools, free ports, and per-process CPU and
 * memory read from /proc (Linux only, as the issue's numbers are).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';

/**
 * The executable's path, or undefined. The sbin directories are searched too: nginx lives in
 * /usr/sbin, which is not on an ordinary user's PATH.
 */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A port nothing listens on right now (for nginx, which cannot be told to pick one itself). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (!alive()) throw new Error(`the process that should listen on port ${port} exited`);
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const CLOCK_TICKS = ((): number => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** Stat fields after the `(comm)`, which may itself hold spaces and parentheses. */
function statFields(pid: number, tid?: number): string[] | undefined {
  try {
    const text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system, every thread) the process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(statFields(pid));
}

/**
 * CPU seconds of the process's main thread alone (its thread id is the pid): for Node, the event
 * loop; the rest of cpuSeconds is V8's helpers (concurrent marking, parallel scavenging, compiling)
 * and libuv's pool.
 */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(statFields(pid, pid));
}

function statCpuSeconds(fields: readonly string[] | undefined): number {
  if (fields === undefined) return 0;
  // After the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The process and its descendants (nginx's workers are children of its master). */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== undefined) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** Resident and peak-resident memory, MiB, from /proc/<pid>/status. */
export function memoryMiB(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine (every core) has been busy, from /proc/stat. */
export function machineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  // idle and iowait are the idle time; guest time is already counted in user.
  return (fields.reduce((a, b) => a + b, 0) - (fields[3] ?? 0) - (fields[4] ?? 0)) / CLOCK_TICKS;
}

/** Busy share of the machine over `ms`, in percent of one core (2 cores: up to 200). */
export async function machineBusy(ms: number): Promise<number> {
  const before = machineBusySeconds();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ((machineBusySeconds() - before) / (ms / 1000)) * 100;
}

/** The heaviest other processes, for the warning when the machine is busy before the bench starts. */
export function busiestProcesses(sampleMs: number): Promise<string[]> {
  const snapshot = (): Map<number, { cpu: number; name: string }> => {
    const map = new Map<number, { cpu: number; name: string }>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        map.set(pid, { cpu: cpuSeconds(pid), name: cmd.slice(0, 80) });
      } catch {
        // exited meanwhile
      }
    }
    return map;
  };
  const before = snapshot();
  return new Promise((resolve) =>
    setTimeout(() => {
      const after = snapshot();
      const rows: { pct: number; text: string }[] = [];
      for (const [pid, now] of after) {
        if (pid === process.pid) continue;
        const pct = ((now.cpu - (before.get(pid)?.cpu ?? now.cpu)) / (sampleMs / 1000)) * 100;
        if (pct >= 5) rows.push({ pct, text: `${Math.round(pct)}% pid ${pid} ${now.name}` });
      }
      resolve(rows.sort((a, b) => b.pct - a.pct).slice(0, 5).map((r) => r.text));
    }, sampleMs),
  );
}

/**
 * Runs a load tool (wrk, h2load) to completion and returns its stdout; a non-zero exit is an error
 * with the start of what it printed. `started` gets the child at once, so the caller can stop it on
 * Ctrl-C and read its CPU time.
 */
export async function runTool(name: string, path: string, args: readonly string[], started: (child: ChildProcess) => void): Promise<string> {
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`${name} ${args.join(' ')} failed (${signal ?? `exit ${String(code)}`}): ${(err || out).trim().slice(0, 500)}`);
  return out;
}
