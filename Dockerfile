# The promoter image: built by .github/workflows/image.yml (no Docker engine runs on the dev machines).
#
# Base image, pinned by digest so a rebuild gets the same bytes (a moved tag cannot change it).
# node:20.19.5-bookworm-slim (Node >= 20.19 as package.json engines ask; Debian 12 for the apt pins
# below). The dev machines have no registry access, so the digest was taken from public Dockerfiles
# that pin the same tag (several independent repositories agree on it; one records it as the
# multi-platform index digest resolved from Docker Hub). To refresh it, on a machine with registry access:
#   docker buildx imagetools inspect node:20.19.5-bookworm-slim --format '{{json .Manifest.Digest}}'
# (to verify), or the same for a newer node:20.x-bookworm-slim tag (to update); put the tag and the
# index digest here, then check the apt versions below with `apt-cache policy` in that image.
# test/container-image.test.ts fails if a FROM is not pinned by digest or an apt version is loose.
ARG NODE_IMAGE=node:20.19.5-bookworm-slim@sha256:9e70124bd00f47dd023e349cd587132ae61892acc0e47ed641416c3e18f401c3

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
