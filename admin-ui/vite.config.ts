import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  plugins: [preact()],
  build: {
    // The gateway serves this directory at the admin port's root (gateway/src/controlplane/admin/ui.ts).
    outDir: here('../dist/admin-ui'),
    emptyOutDir: true,
    target: 'es2022',
  },
  server: {
    // `npm run dev:ui` against a gateway on the default admin port (npm start).
    proxy: { '/api': `http://127.0.0.1:${process.env['GATEWAY_ADMIN_PORT'] ?? 9901}` },
  },
});
