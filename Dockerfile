# bledfu in a container, for lab stations. Step by step, with compose, udev and systemd:
# docs/deploy.md.
#
#   docker build -t bledfu .
#   docker run --rm -p 127.0.0.1:50051:50051 bledfu                      # built-in simulator
#   docker run --rm --device /dev/serial/by-id/<dongle>:/dev/ttyBLEDFU \
#     -p 127.0.0.1:50051:50051 bledfu \
#     --listen 0.0.0.0:50051 --insecure --adapters auto:/dev/ttyBLEDFU   # a real dongle
#
# The build stage has the toolchain (npm, buf, ts-proto, tsc); the final image has only Node, the
# compiled server and CLI and their runtime dependencies, and runs as a non-root user in the group
# that owns serial devices (dialout on Debian), so a passed-through dongle can be opened without
# root. test/deploy/dockerfile.test.ts checks this structure and scripts/container-replay.mjs
# replays both stages without a Docker engine.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json buf.yaml buf.gen.yaml tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY proto ./proto
COPY server ./server
COPY clients ./clients
# `npm ci` runs `prepare`, which is `npm run build` (scripts/build.mjs): the TypeScript code from
# proto/, then tsc into dist/. So the sources come in before it, as in a fresh clone (the price:
# a source change re-runs the install layer too).
# Pruning the dev dependencies here is what keeps the build tools (typescript, buf, ts-proto,
# tsx, dependency-cruiser) out of the final image, which copies this node_modules as it is.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# UID 10001 is fixed (not whatever --system picks) because the Kubernetes manifests run the
# container as runAsUser 10001 / fsGroup 20, and file ownership on volumes must agree with it; it
# is also above the range a host's own users get, so it never maps to a real host account.
# The primary group is dialout, GID 20 on Debian, the group that owns /dev/ttyACM* and
# /dev/ttyUSB* there (see docs/deploy.md for hosts where it is not).
# npm, npx, corepack and yarn come with the base image but are never needed at run time: removed,
# so the final image carries no package manager or build tool.
RUN useradd --system --uid 10001 --gid dialout --no-create-home --shell /usr/sbin/nologin bledfu \
 && mkdir -p /var/lib/bledfu && chown bledfu:dialout /var/lib/bledfu \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
# The audit log lives here: mount a volume to keep it across containers.
VOLUME /var/lib/bledfu
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric, so Kubernetes' runAsNonRoot can verify it is not root without resolving a name.
USER 10001:20
EXPOSE 50051 9464
# `bledfu health` asks the server's gRPC health service over loopback: healthy only while at least
# one adapter is ready (an unplugged dongle makes the container unhealthy). `|| exit 1` because
# Docker defines only the exit codes 0 and 1 for a health check, and the CLI's codes go beyond.
# The CLI reads BLEDFU_SERVER, BLEDFU_CA, BLEDFU_CERT and BLEDFU_KEY: set them on the container
# when the server listens elsewhere or serves TLS (the health service needs no token).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node dist/clients/cli/main.js health --timeout 3 || exit 1
ENTRYPOINT ["node", "dist/server/main.js"]
# Inside a container the port must be reachable from outside it, and bledfud refuses a non-loopback
# address without TLS or tokens unless told --insecure: publish it on the host's loopback only (as
# above), or drop --insecure and pass --tls-cert/--tls-key and/or --tokens-file (docs/deploy.md).
# Prometheus metrics on 9464 (GET /metrics), for the same reason on 0.0.0.0; publish that port on
# loopback too unless a scraper on another host needs it.
CMD ["--listen", "0.0.0.0:50051", "--insecure", "--metrics-listen", "0.0.0.0:9464"]
