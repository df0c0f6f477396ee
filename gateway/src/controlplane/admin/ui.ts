/**
 * The admin web UI (admin-ui/, built by Vite to dist/admin-ui/) served at the admin port's root.
 * Its files need no token: the UI signs in by itself and sends the token on every /api call. The
 * routes are marked `public` and the auth hook skips only those, so the decision rests on the
 * route the router matched, not on how the URL was spelled (find-my-way decodes `/%61pi/...` to
 * `/api/...`, which a prefix test on the raw URL would let through).
 */
import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a token (the UI's static files). */
    public?: boolean;
  }
}

/** dist/admin-ui/, beside this module's compiled tree (dist/gateway/src/controlplane/admin/). */
export const DEFAULT_UI_ROOT = fileURLToPath(new URL('../../../../admin-ui/', import.meta.url));

// The token lives in the page's sessionStorage: no inline script, no third-party origin, no framing.
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Admin UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>404: the admin UI is not built</h1>
<p>This gateway found no <code>index.html</code> in its UI directory. Build it with
<code>npm run build</code> (<code>npm install</code> and <code>npm start</code> do it too), then restart the gateway.</p>
<p>The admin API works without it: see <code>/api/openapi.json</code> (with an admin token).</p>
</body></html>
`;

export const adminUi: FastifyPluginAsync<{ root?: string }> = async (app, options) => {
  const root = options.root ?? DEFAULT_UI_ROOT;
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, public: true };
  });

  if (!existsSync(join(root, 'index.html'))) {
    app.log.warn({ root }, 'admin UI not built: / answers 404 (npm run build builds it)');
    for (const url of ['/', '/index.html']) {
      app.get(url, { schema: { hide: true } }, async (_request, reply) =>
        reply.code(404).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(MISSING_BUILD),
      );
    }
    return;
  }

  await app.register(fastifyStatic, {
    root,
    // One route per file found now (a build is made before the gateway starts): any other path
    // stays unmatched, so it still meets the auth hook and the API's 404.
    wildcard: false,
    cacheControl: false,
    decorateReply: false,
    setHeaders(reply, path) {
      reply.header('x-content-type-options', 'nosniff');
      if (relative(root, path).startsWith(`assets${sep}`)) {
        // Vite puts a content hash in every file name under assets/: a new build has new names.
        reply.header('cache-control', 'public, max-age=31536000, immutable');
      } else {
        reply.header('cache-control', 'no-cache');
        reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
        reply.header('referrer-policy', 'no-referrer');
      }
    },
  });
};
