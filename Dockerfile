# canary-gateway image: the compiled gateway, the built admin UI, the .proto files and production
# dependencies only, on Node 22 (Debian bookworm slim), running as the unprivileged `node` user (uid 1000).
#
#   docker build -t canary-gateway .
#   docker run --rm -p 8501:8501 -p 9901:9901 -e GATEWAY_ADMIN_HOST=0.0.0.0 -e ADMIN_TOKEN=... \
#     -v "$PWD/gateway.yaml:/etc/canary-gateway/gateway.yaml:ro" canary-gateway --config /etc/canary-gateway/gateway.yaml
#
# The image ships the gateway and its admin UI only (no replica simulator: the compose stack and the
# Kubernetes example run real TF Serving). Without --config or GATEWAY_CONFIG it exits with a
# message (code 2); the local demo is `npm start` in a checkout, never the image's fallback.

ARG NODE_IMAGE=node:22-bookworm-slim

# --- deps: production dependencies only (what the runtime stage ships) ---------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` script builds the sources, which this stage has not;
# no production dependency needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- build: TypeScript and the admin UI (Vite), with the dev dependencies ------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY gateway ./gateway
COPY admin-ui ./admin-ui
RUN npm run build

# --- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
# docker build --build-arg VERSION=$(node -p "require('./package.json').version") --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="canary-gateway" \
      org.opencontainers.image.description="Gray-release (canary) gateway for TensorFlow Serving: version pools, traffic split, sticky cohorts, header rules, automatic rollback." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production
# npm, npx, corepack and yarn are not needed to run the gateway: fewer files, fewer advisories.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-v*
WORKDIR /app
# package.json: the gateway reads its version from it. Everything stays owned by root: the
# gateway only reads its files.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/admin-ui ./dist/admin-ui
# The .proto files: the gRPC listener reads TF Serving's status codes and messages from them at start.
COPY protos ./protos
# The node user of the base image, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# 8501: TF Serving's REST API, 8500: its gRPC API (data plane); 9901: admin API, admin UI, /metrics, /healthz, /readyz.
EXPOSE 8501 8500 9901
# Liveness from inside the container: the admin port's /healthz (no token needed). The admin port is
# GATEWAY_ADMIN_PORT or 9901; loopback reaches it whether the admin listener binds 127.0.0.1 (the
# default) or 0.0.0.0. Slim images have no curl: Node's fetch does it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.GATEWAY_ADMIN_PORT||9901)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself (graceful drain). The node flags are
# gateway/src/runtime/heap.ts's GATEWAY_NODE_FLAGS: a smaller young generation, for memory, and no
# allocation-site pretenuring, for shorter scavenges.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--min-semi-space-size=8", "--no-allocation-site-pretenuring", "dist/gateway/src/main.js"]
