import { defineConfig } from 'vite';

/** The Balances page: static files in web/dist, served by the API at `/`. */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The page's whole budget is 250 KB gzipped; ECharts is tree-shaken to the parts it draws.
    chunkSizeWarningLimit: 700,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
