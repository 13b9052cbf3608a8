import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';

// Steps the browser tests share. Each goes through the pages as a person would.

export const PASSWORD = 'correct-horse-battery';

/** Registers a new user through the sign-up page; returns the name. */
export async function signUp(page: Page): Promise<string> {
  const name = `web${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  await page.goto('/register');
  await page.fill('input[name="username"]', name);
  await page.fill('input[name="email"]', `${name}@example.com`);
  await page.fill('input[name="password"]', PASSWORD);
  await Promise.all([page.waitForURL('/'), page.click('button[type="submit"]')]);
  await expect(page.locator(`nav a[href="/profile/${name}"]`)).toBeVisible();
  return name;
}

/** Publishes an article through the editor; returns its slug. */
export async function publish(page: Page, title: string, body = 'A paragraph of **Markdown**.\n\nAnd a second one.'): Promise<string> {
  await page.goto('/editor');
  await page.fill('input[name="title"]', title);
  await page.fill('input[name="description"]', `About ${title}`);
  await page.fill('textarea[name="body"]', body);
  await page.fill('input[placeholder="Enter tags"]', 'webtest');
  await page.press('input[placeholder="Enter tags"]', 'Enter');
  await Promise.all([page.waitForURL(/\/article\//), page.click('button:has-text("Publish Article")')]);
  return decodeURIComponent(page.url().split('/article/')[1] ?? '');
}

/** Serious and critical accessibility violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

