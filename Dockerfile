# One image for the three services; SERVICE picks which one runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm run build

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
ENV HOST=0.0.0.0 NODE_ENV=production
CMD ["sh", "-c", "exec node --enable-source-maps dist/apps/${SERVICE}/apps/${SERVICE}/src/main.js"]
