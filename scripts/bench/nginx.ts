/**
 * nginx as a child process with a configuration of the bench's own: one worker, upstream
 * keep-alive to the backend (HTTP/1.1 with proxy_pass, or gRPC with grpc_pass), nothing logged per request, every path (pid, logs, temp files) in a
 * directory of its own so the system's nginx is left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './system.js';

const GUARD = fileURLToPath(new URL('./guard.js', import.meta.url));

export interface NginxProcess {
  /** The guard; nginx's master and worker are its descendants. */
  readonly child: ChildProcess;
  readonly url: string;
}

/** What nginx proxies: HTTP/1.1 to an HTTP/1.1 upstream, or gRPC (h2c both sides) with grpc_pass. */
export type NginxMode = 'http' | 'grpc';

const HTTP_SERVER = (port: number): string => `  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;

// Cleartext HTTP/2 on the listener (prior knowledge, as gRPC clients speak it) and to the upstream.
// No body size limit: the gateway's own limit is 32 MiB, nginx's default of 1 MiB would refuse
// large messages that the others pass.
const GRPC_SERVER = (port: number): string => `  server {
    listen 127.0.0.1:${port} http2;
    client_max_body_size 0;
    location / {
      grpc_pass grpc://backend;
    }
  }`;

export function nginxConfig(dir: string, port: number, upstreamPort: number, workers: number, mode: NginxMode = 'http'): string {
  return `# Written by npm run bench; runs in the foreground as the bench's child.
daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # nginx closes a keep-alive connection after 1,000 requests by default, client and upstream
  # side; the Node targets never do, so neither should nginx.
  keepalive_requests 1000000;
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 1000000;
  }
${mode === 'grpc' ? GRPC_SERVER(port) : HTTP_SERVER(port)}
}
`;
}

export async function startNginx(binary: string, dir: string, upstreamPort: number, started: (child: ChildProcess) => void, mode: NginxMode = 'http'): Promise<NginxProcess> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  // Started as root, the worker runs as nobody and must still reach its temp directories.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, nginxConfig(dir, port, upstreamPort, 1, mode));
  // -e: the error log of the start-up itself, before the config is read (else /var/log/nginx).
  // Through the guard, so that nginx ends with the bench even when the bench is killed outright.
  const child = spawn(process.execPath, [GUARD, binary, '-p', dir, '-c', file, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  started(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    await waitForPort(port, 10_000, () => child.exitCode === null && child.signalCode === null);
  } catch (err) {
    let log = '';
    try {
      log = readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      // no log written
    }
    throw new Error(`nginx did not start: ${(err as Error).message}\n${(stderr + log).trim().slice(-1000)}`);
  }
  return { child, url: `http://127.0.0.1:${port}` };
}
