# syntax=docker/dockerfile:1
# Gatehouse container image.
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -p 3022:3022 -v "$PWD/config:/etc/gatehouse:ro" \
#     -e GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml gatehouse
# With no config, `serve` runs the demo mode.

# --- build: install every dependency, compile src/ to dist/, then drop dev dependencies --------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# --- runtime -----------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY LICENSE ./
# SAML: the XSDs are read from src/ at run time, and validated by the system xmllint (libxml2).
COPY src/connectors/saml/schemas ./src/connectors/saml/schemas
RUN apt-get update && apt-get install -y --no-install-recommends libxml2-utils && rm -rf /var/lib/apt/lists/*
# State the gateway writes (signing keys, file audit log, recordings) belongs to the runtime user.
RUN mkdir -p /var/lib/gatehouse/session-recordings /app/session-recordings \
 && chown -R node:node /var/lib/gatehouse /app/session-recordings
USER node

# 8080: HTTP (login, issuer, API, app proxy). 3022: SSH proxy. 8443: Kubernetes proxy (kube_proxy).
EXPOSE 8080 3022 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
