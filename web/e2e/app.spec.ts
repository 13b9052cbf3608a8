import { expect, test } from '@playwright/test';
import { publish, seriousViolations, signUp } from './helpers';

const SHOTS = 'test-results/screenshots';

test('every page has no serious or critical accessibility violation', async ({ page }) => {
  test.setTimeout(150_000);
  const checked: Record<string, string[]> = {};
  for (const path of ['/', '/login', '/register']) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
    checked[`${path} (signed out)`] = await seriousViolations(page);
  }
  const name = await signUp(page);
  const slug = await publish(page, `Accessible article ${Date.now()}`);
  const own = ['/dashboard', '/learning', '/learning/paths', '/learning/assessments', '/search?q=article', '/drafts', '/bookmarks', `/article/${slug}/analytics`, '/billing', '/admin', '/verify-email?token=not-a-token'];
  for (const path of ['/', `/article/${slug}`, `/profile/${name}`, `/profile/${name}/favorites`, '/settings', '/editor', '/?feed=following', '/tag/webtest', '/no-such-page', ...own]) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
    checked[`${path} (signed in)`] = await seriousViolations(page);
  }
  // The dark theme too, on the pages with the most colour.
  await page.goto('/dashboard');
  for (let i = 0; i < 3 && !(await page.locator('html.dark').count()); i++) await page.click('.theme-toggle');
  await expect(page.locator('html')).toHaveClass(/dark/);
  for (const path of ['/', `/article/${slug}`, '/dashboard', '/learning', '/billing', '/search?q=article']) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
    checked[`${path} (dark)`] = await seriousViolations(page);
  }
  const failing = Object.fromEntries(Object.entries(checked).filter(([, v]) => v.length > 0));
  expect(Object.keys(checked).length).toBe(29);
  expect(failing).toEqual({});
});

test('the pages load with no Content-Security-Policy violation and no console error', async ({ page }) => {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  await signUp(page);
  const slug = await publish(page, `Policy article ${Date.now()}`);
  for (const path of ['/', `/article/${slug}`, '/tag/webtest', '/settings', '/editor', '/dashboard', '/learning', '/search?q=policy', '/billing', `/article/${slug}/analytics`]) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
  }
  expect(problems).toEqual([]);
});

test('a deep link survives a reload, and the article shows its rendered Markdown', async ({ page }) => {
  await signUp(page);
  const title = `Deep link ${Date.now()}`;
  const slug = await publish(page, title);
  await page.goto(`/article/${slug}`);
  await page.reload();
  await expect(page.locator('h1')).toHaveText(title);
  await expect(page.locator('.article-content strong')).toHaveText('Markdown');
  await expect(page.locator('.article-content p')).toHaveCount(2);
});

test('a favorite the server refuses is rolled back', async ({ page }) => {
  await signUp(page);
  await page.goto('/');
  const preview = page.locator('.article-preview').first();
  const button = preview.locator('button');
  const before = (await button.textContent())?.trim();
  // The refusal comes late, so the optimistic state can be seen first.
  await page.route('**/api/articles/*/favorite', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 700));
    await route.abort('connectionrefused');
  });
  await button.click();
  await expect(button).toHaveClass(/btn-primary/);
  await expect(button).toHaveClass(/btn-outline-primary/);
  await expect(button).toHaveText(before ?? '');
});

test('a reader sent to sign in comes back to the page they asked for', async ({ page, browser }) => {
  // A user to sign in as, made in another browser context.
  const other = await browser.newContext();
  const name = await signUp(await other.newPage());
  await other.close();
  await page.goto('/settings');
  await expect(page).toHaveURL('/login');
  await page.fill('input[name="email"]', `${name}@example.com`);
  await page.fill('input[name="password"]', 'correct-horse-battery');
  await page.click('button[type="submit"]');
  await expect(page).toHaveURL('/settings');
  await expect(page.locator('input[name="username"]')).toHaveValue(name);
});

test('the API field errors are shown beside the form', async ({ page }) => {
  await page.goto('/register');
  await page.fill('input[name="username"]', 'x');
  await page.fill('input[name="email"]', 'not-an-email');
  await page.fill('input[name="password"]', 'short');
  await page.click('button[type="submit"]');
  const errors = page.locator('.error-messages li');
  await expect(errors.first()).toBeVisible();
  await expect(page.locator('.error-messages')).toContainText('email');
  await expect(page).toHaveURL('/register');
});

for (const [label, viewport] of [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 360, height: 740 }],
] as const) {
  test(`the main pages fit a ${label} screen (${viewport.width} px), with screenshots`, async ({ page }) => {
    await page.setViewportSize(viewport);
    const name = await signUp(page);
    const slug = await publish(page, `Screens ${label} ${Date.now()}`);
    for (const [shot, path] of [
      ['home', '/'],
      ['article', `/article/${slug}`],
      ['profile', `/profile/${name}`],
      ['editor', '/editor'],
      ['settings', '/settings'],
      ['dashboard', '/dashboard'],
      ['learning', '/learning'],
      ['search', '/search?q=screens'],
      ['billing', '/billing'],
      ['drafts', '/drafts'],
    ] as const) {
      await page.goto(path);
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} scrolls sideways by ${overflow} px at ${viewport.width} px`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SHOTS}/${shot}-${label}.png`, fullPage: false });
    }
    await page.context().clearCookies();
    await page.evaluate(() => localStorage.clear());
    await page.goto('/login');
    await page.screenshot({ path: `${SHOTS}/login-${label}.png` });
  });
}
