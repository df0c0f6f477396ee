/**
 * A TCP forwarder on 127.0.0.1 that a test can close and open: closed, it cuts every connection
 * and drops each new one at once. It keeps chosen clients off a service (a Redis that came back)
 * while others reach it, so a race between them can be run in a fixed order.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpGate {
  /** Where clients connect: 127.0.0.1 and the gate's port. */
  readonly port: number;
  /** Cuts every connection through the gate and drops new ones until `open()`. */
  close(): void;
  open(): void;
  stop(): Promise<void>;
}

export async function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  let closed = false;
  const live = new Set<Socket>();
  const server = createServer((downstream) => {
    if (closed) {
      downstream.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    live.add(downstream);
    live.add(upstream);
    const cut = (): void => {
      downstream.destroy();
      upstream.destroy();
      live.delete(downstream);
      live.delete(upstream);
    };
    for (const socket of [downstream, upstream]) {
      socket.once('error', cut);
      socket.once('close', cut);
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the gate has no port');
  const cutAll = (): void => {
    for (const socket of live) socket.destroy();
    live.clear();
  };
  return {
    port: address.port,
    close: () => {
      closed = true;
      cutAll();
    },
    open: () => {
      closed = false;
    },
    stop: async () => {
      closed = true;
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
