# bledfu in a container, for lab stations.
#
#   docker build -t bledfu .
#   docker run --rm -p 127.0.0.1:50051:50051 bledfu                      # built-in simulator
#   docker run --rm --device /dev/ttyACM0 -p 127.0.0.1:50051:50051 \
#     bledfu --adapters hci:/dev/ttyACM0                                 # a real dongle (later issue)
#
# The build stage has the toolchain (npm, buf, ts-proto, tsc); the final image has only Node, the
# compiled server and its runtime dependencies, and runs as a non-root user in the group that owns
# serial devices (dialout on Debian), so a passed-through dongle can be opened without root.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json buf.yaml buf.gen.yaml ./
COPY scripts ./scripts
COPY proto ./proto
# `npm ci` runs `prepare`, which generates the TypeScript code from proto/.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY clients ./clients
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN useradd --system --uid 10001 --no-create-home --gid dialout --shell /usr/sbin/nologin bledfu \
 && mkdir -p /var/lib/bledfu && chown bledfu:dialout /var/lib/bledfu
# The audit log lives here: mount a volume to keep it across containers.
VOLUME /var/lib/bledfu
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER bledfu
EXPOSE 50051
ENTRYPOINT ["node", "dist/server/main.js"]
# Inside a container the port must be reachable from outside it, and bledfud refuses a non-loopback
# address without TLS or tokens unless told --insecure: publish it on the host's loopback only (as
# above), or drop --insecure and pass --tls-cert/--tls-key and/or --tokens-file (README "Security").
CMD ["--listen", "0.0.0.0:50051", "--insecure"]
