# The Workload API image: Node.js 20, production dependencies only, runs as a non-root user.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=4000 DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
RUN mkdir -p /data && chown node:node /data
# The image's `node` user, by number: Kubernetes can check runAsNonRoot only for a numeric user.
USER 1000:1000
EXPOSE 4000
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "src/main.ts"]
