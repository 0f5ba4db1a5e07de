# The Workload API image: Node.js 20, the API compiled to JavaScript (`npm run build`),
# production dependencies only, runs as a non-root user and writes nothing outside DATA_DIR.
# `--ignore-scripts`: the package's own `prepare` (scripts/start.mjs --prepare) needs the sources;
# the build stage runs it below, once they are copied.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build
# The console (docs/adr/0090-console.md), served by the API from dist-console/, and the embedded
# database template a first start copies instead of running initdb (docs/adr/0071-startup-and-memory.md).
COPY console ./console
COPY scripts/start.mjs scripts/console-build.mjs ./scripts/
RUN node scripts/start.mjs --prepare && test -f dist/pgdata-template/template.json && test -f dist-console/index.html

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=4000 DATA_DIR=/data PGLITE_TEMPLATE_DIR=/app/dist/pgdata-template
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# Owned by the user the API runs as: the template's files are PostgreSQL's (mode 0600), read to copy.
COPY --from=build --chown=1000:1000 /app/dist ./dist
COPY --from=build /app/dist-console ./dist-console
# DATA_DIR: the embedded database, when DATABASE_URL is unset (one container only).
RUN mkdir -p /data && chown node:node /data
# The image's `node` user, by number: Kubernetes can check runAsNonRoot only for a numeric user.
USER 1000:1000
EXPOSE 4000
STOPSIGNAL SIGTERM
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (deploy/40-deployment.yaml).
# Memory flags as `npm start` sets them (docs/adr/0071-startup-and-memory.md).
CMD ["node", "--enable-source-maps", "--max-semi-space-size=16", "--liftoff-only", "dist/src/main.js"]
