# One image for every CostWatch role: api, scheduler, worker, sim, migrate (and operator commands).
#   docker build -t costwatch/costwatch:dev .
#   docker run --rm costwatch/costwatch:dev migrate status
# The role is the command: the entrypoint is `costwatch` (bin/costwatch.mjs), the default command `api`.

# Base image pinned by digest (the tag alone moves whenever Docker rebuilds it), so every build of a
# commit starts from the same bytes. The tag is kept for readers; the digest is what is pulled.
# To update (e.g. monthly, or for a Node/Debian security fix):
#   docker buildx imagetools inspect node:22-bookworm-slim --format '{{json .Manifest.Digest}}'
#   (or: docker pull node:22-bookworm-slim && docker inspect --format '{{index .RepoDigests 0}}' node:22-bookworm-slim)
# then replace the sha256 below, build, run `npm test -- deploy`, and commit.
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:f32b81066cde10a75dbac96646099533316d94bac4150c55da1636e1f0ffdc46

# ---- deps: every dependency (dev included), cached on package-lock.json only --------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Compilers only for a native module without a prebuilt binary for this platform (bcrypt and
# msgpackr ship prebuilds for linux x64/arm64 glibc); this stage never reaches the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# ---- build: tsc -> dist/, then drop dev dependencies ---------------------------------------------
FROM deps AS build
COPY . .
# tsc emits JavaScript only: non-TypeScript files beside the sources (SQL, JSON, OpenAPI YAML) are
# copied into dist/ at the same relative paths so code that loads them next to itself finds them.
RUN npm run build \
 && for dir in api cli database lib producers sim workers; do \
      if [ -d "$dir" ]; then find "$dir" -type f ! -name '*.ts' -exec cp --parents {} dist/ \; ; fi; \
    done \
 && test -f dist/cli/main.js \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (which drains and exits on its own) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=8002 \
    METRICS_PORT=9464
WORKDIR /app
# Files stay owned by root and read-only for the app user: the process cannot rewrite its own code.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
# The migration runner reads database/migrations relative to the package root.
COPY --from=build /app/database/migrations ./database/migrations

ARG VERSION=dev
LABEL org.opencontainers.image.title="costwatch" \
      org.opencontainers.image.description="CostWatch: AWS cost monitoring (api, scheduler, worker, sim, migrate)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# Numeric uid:gid of the image's `node` user, so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
# api (PORT), scheduler/worker metrics (METRICS_PORT), AWS simulator.
EXPOSE 8002 9464 4566
# No HEALTHCHECK: the port and path depend on the role; docker-compose.yml and k8s/ define probes.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/costwatch.mjs"]
CMD ["api"]
