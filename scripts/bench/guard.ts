#!/usr/bin/env node
/**
 * Runs a non-Node program (nginx) as the bench's child so that it ends with the bench even if the
 * bench is killed outright: a Node child with an IPC channel learns of its parent's death, nginx
 * does not. Signals are passed on; the guard exits when the program does, with its status.
 *
 *   node dist/scripts/bench/guard.js <program> [args...]
 */
import { spawn } from 'node:child_process';

const [program, ...args] = process.argv.slice(2);
if (program === undefined) {
  process.stderr.write('guard: usage: guard.js <program> [args...]\n');
  process.exit(2);
}
const child = spawn(program, args, { stdio: 'inherit' });
const stop = (signal: NodeJS.Signals): void => {
  child.kill(signal);
  setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
if (process.send !== undefined) process.on('disconnect', () => stop('SIGTERM'));
child.on('error', (err) => {
  process.stderr.write(`guard: ${program}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
