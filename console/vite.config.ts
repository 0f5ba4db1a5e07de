import { defineConfig } from 'vite';

// The console is served by the API at `/`, its assets under `/console/` (src/console/console-site.ts).
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  build: {
    outDir: '../dist-console',
    emptyOutDir: true,
    // Everything ships with the API: no CDN, no source maps to leak paths.
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  oxc: { jsx: { runtime: 'automatic' } },
});
