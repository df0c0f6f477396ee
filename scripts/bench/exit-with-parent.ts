/**
 * Preloaded into the gateway (NODE_OPTIONS=--import=...), which has no parent watch of its own:
 * when the bench that spawned it with an IPC channel dies, even by SIGKILL, the gateway gets the
 * SIGTERM it would get from an operator and shuts down the usual way.
 */
if (process.send !== undefined) {
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
export {};
