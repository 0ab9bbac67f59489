# The promoter image: built by .github/workflows/image.yml (no Docker engine runs on the dev machines).
#
# Base image. Pin it by digest for a reproducible build; the digest cannot be resolved on the dev
# machines (no registry access), so it is a build argument. To pin or update it:
#   docker buildx imagetools inspect node:20-bookworm-slim --format '{{json .Manifest.Digest}}'
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:<that digest> .
# and put the same value in .github/workflows/image.yml (build-args), so CI builds what was reviewed.
# The image must be Node >= 20.19 (package.json engines) and Debian 12, for the apt pins below.
ARG NODE_IMAGE=node:20-bookworm-slim

# Build stage: install exactly the lock file, compile TypeScript, then drop dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.image.json ./
COPY src ./src
# Only the product: the demo harness (test/support) and the benches stay out of the image.
RUN npx tsc -p tsconfig.image.json && npm prune --omit=dev

# Runtime: Node 20 plus the git CLI (the promoter commits with real git), as an unprivileged user.
# apt versions are explicit (Debian 12 bookworm, bookworm-security for ca-certificates); when Debian
# supersedes one, `apt-cache policy git ca-certificates` in the base image shows the new version.
FROM ${NODE_IMAGE}
ARG GIT_VERSION=1:2.39.5-0+deb12u3
ARG CA_CERTIFICATES_VERSION=20250419~deb12u2
RUN apt-get update \
 && apt-get install -y --no-install-recommends "git=${GIT_VERSION}" "ca-certificates=${CA_CERTIFICATES_VERSION}" \
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
