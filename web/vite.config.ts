import { defineConfig } from "vite";

// `npm run dev` serves the app on http://localhost:5173 and forwards the API to `make run`'s
// server (PICOTASK_API, default http://127.0.0.1:8000), so the browser sees one origin and no
// CORS is needed. To call the API across origins instead, start it with
// `VITE_PICOTASK_API=http://127.0.0.1:8000 npm run dev` and add the dev server's origin to
// PICOTASK_ALLOWED_ORIGINS.
const api = process.env.PICOTASK_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: {
    proxy: {
      "/graphql": { target: api, ws: true },
      "/uploads": api,
      "/proofs": api,
      "/avatars": api,
    },
  },
  build: { sourcemap: true },
});
