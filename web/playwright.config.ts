import { defineConfig, devices } from '@playwright/test';
import { chromium } from './e2e/browser';

// TechHub's own browser tests (e2e/*.spec.ts) against a running TechHub (TECHHUB_WEB_URL);
// scripts/web-e2e.sh starts one over fresh databases and runs them.
export default defineConfig({
  testDir: './e2e',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [['list'], ['json', { outputFile: 'test-results/techhub.json' }]],
  outputDir: 'test-results/techhub',
  use: {
    baseURL: process.env.TECHHUB_WEB_URL ?? 'http://127.0.0.1:8080',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 5_000,
    navigationTimeout: 10_000,
    // Charts draw at once (they honour reduced motion), so screenshots show the final figures.
    contextOptions: { reducedMotion: 'reduce' },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], ...chromium } }],
});
