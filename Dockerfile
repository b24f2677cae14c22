# The page is built with the development tools (Vite, the OpenAPI type generator) in a stage of
# its own; the image that runs keeps only the production dependencies and the built page.
FROM node:20-bookworm-slim AS page
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build:web

FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
COPY --from=page /app/web/dist ./web/dist
ENV NODE_ENV=production
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]
