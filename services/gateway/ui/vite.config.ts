import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The gateway the dev server (npm run dev) forwards API calls to.
const gateway = process.env.ORGPLANE_GATEWAY ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // The build is committed and checked byte for byte (make ui-check): names come from content
    // hashes only, and nothing depends on the time or the machine.
    sourcemap: false,
    // Every browser the UI supports has module preloading; the polyfill would be dead weight.
    modulePreload: { polyfill: false },
    // Small files stay files: inlining an SVG or font as a data: URL would need a looser CSP.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // React and the router, which every page needs, in chunks of their own: they change only
        // when the pinned versions do, so browsers keep them across releases of the app's code.
        // react-aria's components are left to the default splitting, so that a page's chunk
        // brings the components only it uses (a grid, a combobox) rather than the first page
        // loading all of them.
        codeSplitting: {
          groups: [
            { name: "react", test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
            { name: "router", test: /node_modules[\\/](react-router|cookie|set-cookie-parser)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    proxy: Object.fromEntries(
      ["/v1", "/openapi.json", "/openapi3.json", "/docs"].map((p) => [
        p,
        {
          target: gateway,
          changeOrigin: true,
          // The gateway refuses session requests from origins it does not serve; through the
          // proxy, the dev server's origin is the gateway's own.
          headers: { origin: gateway },
        },
      ]),
    ),
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
