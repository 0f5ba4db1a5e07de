# The Workload API image: Node.js 20, the API compiled to JavaScript (`npm run build`),
# production dependencies only, runs as a non-root user and writes nothing outside DATA_DIR.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build
# The console (docs/adr/0090-console.md): built here, served by the API from dist-console/.
COPY console ./console
COPY scripts/console-build.ts ./scripts/console-build.ts
RUN npm run console:build

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=4000 DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/dist-console ./dist-console
# DATA_DIR: the embedded database, when DATABASE_URL is unset (one container only).
RUN mkdir -p /data && chown node:node /data
# The image's `node` user, by number: Kubernetes can check runAsNonRoot only for a numeric user.
USER 1000:1000
EXPOSE 4000
STOPSIGNAL SIGTERM
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (deploy/40-deployment.yaml).
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
