# Images of the API and the Temporal worker (docker-compose.yml builds both):
#   docker build --target api -t ticketing-api .
#   docker build --target worker -t ticketing-worker .
# Both run the compiled dist/ (`npm run build`) with production dependencies
# only, as the unprivileged `node` user, on Node 24 LTS.

ARG NODE_IMAGE=node:24-bookworm-slim

# grpc-health-probe asks grpc.health.v1.Health: the API image's HEALTHCHECK.
FROM golang:1.26-bookworm AS health-probe
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.61

# Compiles, copies the run-time files and bundles the workflows into dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The client package is an npm workspace: npm ci needs its package.json (nothing else of it).
COPY clients/typescript/package.json clients/typescript/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY tools/build.ts tools/
COPY lua lua
COPY workflows workflows
COPY src src
RUN npm run build

# Production dependencies of the worker: everything in "dependencies".
FROM ${NODE_IMAGE} AS worker-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY clients/typescript/package.json clients/typescript/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The API never imports @temporalio/worker (test/ship/build.test.ts checks the
# compiled imports), so its image drops it and all that only it needs: the
# native core bridge (about 150 MB), webpack and swc.
FROM worker-deps AS api-deps
RUN npm pkg delete 'dependencies.@temporalio/worker' \
  && npm prune --omit=dev --no-audit --no-fund \
  && test ! -e node_modules/@temporalio/core-bridge \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# The one place the processes may write (the development issuer's keys); a
# named volume mounted here starts with this ownership.
RUN mkdir -p /var/lib/ticketing && chown node:node /var/lib/ticketing

FROM runtime AS api
COPY --from=health-probe /out/grpc-health-probe /usr/local/bin/grpc-health-probe
COPY --from=api-deps /app/package.json ./
COPY --from=api-deps /app/node_modules node_modules
COPY --from=build /src/dist dist
# Listen on every interface of the container; the HEALTHCHECK assumes port 50051.
ENV GRPC_ADDRESS=0.0.0.0:50051 METRICS_ADDRESS=0.0.0.0:9464
USER node
EXPOSE 50051 9464
# The overall ("") status: SERVING while the process serves (src/health.ts).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["grpc-health-probe", "-addr=127.0.0.1:50051", "-connect-timeout=2s", "-rpc-timeout=2s"]
CMD ["node", "dist/src/main.js"]

FROM runtime AS worker
COPY --from=worker-deps /app/package.json ./
COPY --from=worker-deps /app/node_modules node_modules
COPY --from=build /src/dist dist
ENV WORKER_METRICS_ADDRESS=0.0.0.0:9465
USER node
EXPOSE 9465
# The worker serves /metrics once it has connected to Temporal and registered
# (src/worker.ts); the slim image has no curl, so node asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9465/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/worker.js"]
