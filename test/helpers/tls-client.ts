/**
 * Raw TLS handshakes for tests: which certificate a listener presents, and whether it accepts a
 * given protocol version or a client without a certificate. Each call opens one connection and
 * closes it.
 */
import { connect, type ConnectionOptions } from 'node:tls';

export type Handshake = { readonly ok: true; readonly serial: string; readonly protocol: string | null } | { readonly ok: false; readonly error: string };

/**
 * Shakes hands with 127.0.0.1:port and, for TLS 1.3 (where a refused client certificate is only
 * said after the handshake), waits a moment for the server's verdict before calling it accepted.
 */
export function handshake(port: number, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    let settled = false;
    const done = (result: Handshake): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ ok: false, error: 'no handshake within 5 s' }), 5_000);
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    socket.once('close', () => done({ ok: false, error: 'closed' }));
    socket.once('secureConnect', () => {
      const result: Handshake = { ok: true, serial: socket.getPeerCertificate().serialNumber, protocol: socket.getProtocol() };
      // A TLS 1.3 server checks the client's certificate after the client's Finished: its alert,
      // if any, comes with the first read.
      socket.write('GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n');
      socket.once('data', () => done(result));
    });
  });
}
