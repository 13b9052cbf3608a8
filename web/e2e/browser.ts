import type { LaunchOptions } from '@playwright/test';

/**
 * Debian's Chromium (`apt-get install chromium`), never a downloaded browser; headless, with
 * the background services that would reach the network turned off. Playwright gives every
 * run a fresh profile.
 */
export const chromium: { launchOptions: LaunchOptions } = {
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // spa mode: the suite's API host answered by the local TLS endpoint (scripts/web-e2e.sh).
      ...(process.env.CHROMIUM_HOST_RULES ? [`--host-resolver-rules=${process.env.CHROMIUM_HOST_RULES}`] : []),
    ],
  },
};
