# The server is compiled to JavaScript and the page built with the development tools (tsc, Vite,
# the OpenAPI type generator) in a stage of their own; the image that runs keeps only the
# production dependencies and what that stage built, and runs the compiled server with plain node.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# dist/: the compiled server, its SQL migrations beside storage/migrate.js, and the page in dist/web/dist.
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
# The sources stay in the image for the processes docker-compose.yml starts from them with tsx
# (a production dependency), and for deploy/healthcheck.mjs.
COPY . .
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
ENV NODE_ENV=production
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/api/main.js"]
