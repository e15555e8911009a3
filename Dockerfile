# syntax=docker/dockerfile:1
# Quiver's container image, in two stages:
#   build: `npm ci` (its prepare script runs buf + ts-proto code generation, then tsc), then
#          `npm prune --omit=dev`, so node_modules keeps production dependencies only, with
#          better-sqlite3's native addon compiled here (python3, make, g++); onnxruntime-node's
#          binaries for other platforms (darwin, win32, other CPU architectures) are deleted.
#   final: the compiled server (dist/, bin/), proto/ (read at run time by the REST gateway and
#          reflection), package.json and the pruned node_modules: no compiler, no sources, no
#          npm cache.
# It runs as uid/gid 1000 (numeric, so Kubernetes' runAsNonRoot can verify it) and works with
# a read-only root filesystem: Quiver writes only under QUIVER_DATA_DIR (/var/lib/quiver, a
# volume). Give it a writable /tmp as well (--tmpfs /tmp; an emptyDir in the Helm chart) for
# Node's and libraries' scratch files.
#
#   docker build -t quiver:0.1.0 .
#   docker run --read-only --tmpfs /tmp -v quiver-data:/var/lib/quiver \
#     -p 50051:50051 -p 8080:8080 -p 9464:9464 quiver:0.1.0
#
# The registry plane (RegistryService, port 50052) listens on 127.0.0.1 by default: inside
# the container, out of reach of `-p`. To publish it, mount a tokens file and set
# QUIVER_REGISTRY_HOST=0.0.0.0 and QUIVER_AUTH_TOKENS_FILE (the server refuses a non-loopback
# registry without tokens), or use the CLI in the container, which opens the registry in the
# data directory itself: docker exec CONTAINER node bin/quiver.js registry list.
#
# Both stages pin node:20-bookworm-slim by digest (the tag moves; the digest does not). To
# move to a newer build of the tag, read its digest (docker buildx imagetools inspect
# node:20-bookworm-slim) and replace it in both FROM lines.

FROM node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The CPU image needs none of onnxruntime-node's optional CUDA downloads.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json tsconfig.json ./
COPY proto ./proto
COPY src ./src
COPY gateway ./gateway
COPY training ./training
COPY bin ./bin
# The web console's sources and the script that bundles them into dist/ui.
COPY ui ./ui
COPY scripts/build-ui.mjs ./scripts/build-ui.mjs
RUN npm ci \
 && npm prune --omit=dev \
 && npm cache clean --force
# onnxruntime-node ships its native binaries for every platform (about 220 MB of darwin, win32
# and linux/arm64 on x64): keep linux and this build's architecture only, then check that the
# binding still loads.
RUN arch="$(node -p process.arch)" \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
 && find node_modules/onnxruntime-node/bin/napi-v*/linux -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} + \
 && node -e "require('onnxruntime-node')"

FROM node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS final
ENV NODE_ENV=production \
    QUIVER_DATA_DIR=/var/lib/quiver \
    QUIVER_DEMO=true
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/proto ./proto
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/node_modules ./node_modules
RUN mkdir -p /var/lib/quiver \
 && chown 1000:1000 /var/lib/quiver
USER 1000:1000
VOLUME ["/var/lib/quiver"]
# gRPC inference (PredictionService, the OIP, health, reflection), the REST gateway, the
# Prometheus metrics port, and the registry plane's own ports (RegistryService, health,
# reflection on 50052; its REST routes on 8081), bound to QUIVER_REGISTRY_HOST, 127.0.0.1
# unless tokens are configured.
EXPOSE 50051 8080 9464 50052 8081
# grpc.health.v1 Check on 127.0.0.1:$QUIVER_GRPC_PORT: exit 0 when SERVING (over TLS when
# QUIVER_TLS_CERT is set).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "bin/quiver.js", "health"]
ENTRYPOINT ["node", "bin/quiver.js"]
# Serves the registry in the data directory, seeding the blueprint's demo model into an empty
# one (QUIVER_DEMO=false turns that off); other options come as QUIVER_* variables or flags.
CMD ["serve"]
