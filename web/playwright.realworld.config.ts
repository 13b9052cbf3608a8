import { defineConfig, devices } from '@playwright/test';
// The official RealWorld front-end suite, copied unmodified into e2e-realworld/ by
// scripts/web-e2e.sh (so its imports resolve against this folder's node_modules).
import { baseConfig } from './e2e-realworld/playwright.base';
import { chromium } from './e2e/browser';

const mode = process.env.TEST_MODE ?? 'spa';

export default defineConfig({
  ...baseConfig,
  testDir: './e2e-realworld',
  // The suite's own retry policy (CI: 2) would hide flaky tests: every test must pass first time.
  retries: 0,
  reporter: [['list'], ['json', { outputFile: `test-results/realworld-${mode}.json` }]],
  outputDir: `test-results/realworld-${mode}`,
  use: {
    ...baseConfig.use,
    baseURL: process.env.TECHHUB_WEB_URL ?? 'http://127.0.0.1:8080',
    // spa mode reaches TechHub at the suite's API address through a local TLS endpoint with a
    // certificate made for the run.
    ignoreHTTPSErrors: mode === 'spa',
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], ...chromium } }],
});
