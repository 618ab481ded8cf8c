# API and worker image (docker-compose.yml runs it twice with different commands).
# Runs the TypeScript sources through tsx, like `npm run serve` / `npm run worker`.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
USER node
EXPOSE 50051 9464
CMD ["node", "--import", "tsx", "src/main.ts"]
