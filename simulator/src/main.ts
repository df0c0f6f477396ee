#!/usr/bin/env node
/**
 * tfserving-sim: one TF Serving replica on a REST port and, with --grpc-port, a gRPC port. Prints a
 * single line to stdout once the ports accept connections, nothing per request; exits 0 on SIGTERM/SIGINT, and when the parent
 * that spawned it with an IPC channel goes away (so test and demo children never outlive it).
 */
import { USAGE, UsageError, listeningLine, optionsFromArgs } from './cli.js';
import { PatchError, startSimulator, type SimulatorHandle, type SimulatorOptions } from './server.js';

async function main(): Promise<void> {
  let options: SimulatorOptions | 'help';
  try {
    options = optionsFromArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`tfserving-sim: ${(e as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  let sim: SimulatorHandle;
  try {
    sim = await startSimulator(options);
  } catch (e) {
    process.stderr.write(`tfserving-sim: ${(e as Error).message}\n`);
    process.exit(e instanceof RangeError || e instanceof PatchError || e instanceof UsageError ? 2 : 1);
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sim.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.send !== undefined) process.on('disconnect', stop);
  try {
    await sim.listening;
  } catch (e) {
    process.stderr.write(`tfserving-sim: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (!stopping) process.stdout.write(listeningLine(sim) + '\n');
}

void main();
