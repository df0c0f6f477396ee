# Build stage: compile TypeScript with the dev dependencies.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY gateway ./gateway
COPY scripts ./scripts
COPY test ./test
RUN npx tsc -p tsconfig.json

# Runtime stage: production dependencies and the compiled gateway and simulator only.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/scripts ./dist/scripts
USER node
EXPOSE 8501 9901
ENTRYPOINT ["node", "dist/gateway/src/main.js"]
