/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// The app is served by `techhub serve` from web/dist on the same origin as /api. In
// development, `npm run dev` proxies /api to a TechHub on TECHHUB_URL (default :8080).
export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: 'dist',
    // Hashed file names under /assets are cached for a year by the server.
    assetsDir: 'assets',
    sourcemap: false,
    // No inline scripts or data: URLs in index.html: the Content-Security-Policy forbids them.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // react-dom alone is 213 kB minified (66 kB gzip).
    chunkSizeWarningLimit: 250,
    rollupOptions: {
      output: {
        // Libraries change less often than the app: their own chunks stay cached across releases.
        manualChunks: {
          react: ['react', 'react-dom', 'react-dom/client', 'scheduler'],
          router: ['react-router'],
          query: ['@tanstack/react-query', 'openapi-fetch'],
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': process.env.TECHHUB_URL ?? 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
  },
});
