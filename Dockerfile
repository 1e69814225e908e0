# syntax=docker/dockerfile:1
# Porthole's image: built in one stage (TypeScript compiled, native SQLite module built), run from a second
# that holds only the compiled code and production modules, as the unprivileged "node" user. Works with a
# read-only root filesystem: everything Porthole writes goes to the /data volume.
# Node 24 is the current LTS line (22 works too); the code itself still runs on Node 20.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Compilers only for the rare case that no prebuilt better-sqlite3 matches this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 esbuild
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
# Keep only better-sqlite3's compiled module: its SQLite sources and object files are half the image otherwise.
RUN node scripts/build.mjs \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules/better-sqlite3/build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + \
 && find node_modules/better-sqlite3/build/Release -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} + \
 && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    MALLOC_TRIM_THRESHOLD_=268435456 \
    MALLOC_TOP_PAD_=67108864 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    PORTHOLE_HEALTH_URL=http://127.0.0.1:8081/live
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# /config holds porthole.yaml (mounted read-only); /data is the only place written.
RUN mkdir -p /data /config && chown node:node /data && chmod 700 /data
USER node
VOLUME ["/data"]
# Plain HTTP (ACME HTTP-01 and the redirect), HTTPS (browsers and connectors), health (loopback by default).
EXPOSE 8080 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/bin/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/bin/porthole.js"]
CMD ["serve", "--config", "/config/porthole.yaml"]
