# syntax=docker/dockerfile:1
# Quiver: build in one stage (npm ci runs buf + ts-proto code generation and tsc), ship only
# production dependencies and the compiled server in the final one.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY proto ./proto
COPY scripts ./scripts
COPY tsconfig.json ./
COPY src ./src
COPY training ./training
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    QUIVER_DATA_DIR=/var/lib/quiver \
    QUIVER_GRPC_PORT=50051 \
    QUIVER_HTTP_PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/proto ./proto
COPY --from=build /app/package.json ./package.json
RUN mkdir -p /var/lib/quiver && chown node:node /var/lib/quiver
USER node
VOLUME ["/var/lib/quiver"]
EXPOSE 50051 8080
ENTRYPOINT ["node", "bin/quiver.js"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "bin/quiver.js", "health"]
CMD ["serve", "--demo"]
