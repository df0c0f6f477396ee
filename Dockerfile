# Build stage: compile TypeScript with the dev dependencies.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY gateway ./gateway
COPY scripts ./scripts
COPY test ./test
COPY admin-ui ./admin-ui
RUN npx tsc -p tsconfig.json && npm run build:ui --silent

# Runtime stage: production dependencies, the compiled gateway and simulator, the built admin UI.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/scripts ./dist/scripts
COPY --from=build /app/dist/admin-ui ./dist/admin-ui
USER node
EXPOSE 8501 9901
ENTRYPOINT ["node", "dist/gateway/src/main.js"]
