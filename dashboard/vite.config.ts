import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the app with hot reload and forwards the API to a running
// `stackhouse serve` (STACKHOUSE_URL, default http://127.0.0.1:8000).
const api = process.env.STACKHOUSE_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/graphql/ws": { target: api.replace(/^http/, "ws"), ws: true },
      "/graphql": api,
      "/sql": api,
      "/health": api,
    },
  },
});
