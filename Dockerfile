# The promoter image: built by .github/workflows/image.yml (no Docker engine runs on the dev machines).
# Build stage: install exactly the lock file, compile TypeScript, then drop dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.image.json ./
COPY src ./src
# Only the product: the demo harness (test/support) and the benches stay out of the image.
RUN npx tsc -p tsconfig.image.json && npm prune --omit=dev

# Runtime: Node 20 plus the git CLI (the promoter commits with real git), as an unprivileged user.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The promoter's clone lives here; mount an emptyDir (or a volume) at /var/lib/promoter.
RUN mkdir -p /var/lib/promoter && chown 65532:65532 /var/lib/promoter
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["run", "--config", "/etc/promoter/config.yaml"]
