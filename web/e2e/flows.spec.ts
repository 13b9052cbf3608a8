import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { PASSWORD, signUp } from './helpers';

// TechHub's own flows, end to end in the browser against a real server on real stores.

const SHOTS = 'test-results/screenshots';

/** The signed-in user's token, as the app stored it. */
async function token(page: Page): Promise<string> {
  const t = await page.evaluate(() => localStorage.getItem('jwtToken'));
  if (!t) throw new Error('not signed in');
  return t;
}

/** Writes a post in the editor and saves it as a draft; returns its slug. */
async function saveDraft(page: Page, title: string): Promise<string> {
  await page.goto('/editor');
  await page.fill('input[name="title"]', title);
  await page.fill('input[name="description"]', `Notes on ${title}`);
  await page.fill('textarea[name="body"]', `# ${title}\n\nA **bold** claim about zanzibarite crystals, and a list:\n\n- one\n- two`);
  // The live preview renders the Markdown as it is typed.
  await expect(page.locator('.editor-preview strong')).toHaveText('bold');
  await expect(page.locator('.editor-preview li')).toHaveCount(2);
  await page.fill('input[placeholder="Enter tags"]', 'geology');
  await page.press('input[placeholder="Enter tags"]', 'Enter');
  await page.fill('input[name="categories"]', 'science, minerals');
  await page.selectOption('select[name="difficulty"]', 'intermediate');
  await Promise.all([page.waitForURL(/\/article\//), page.click('button:has-text("Save Draft")')]);
  await expect(page.locator('.article-facts')).toContainText('Draft');
  return decodeURIComponent(page.url().split('/article/')[1] ?? '');
}

test('register, draft, publish, search, study, dashboard, upgrade and see the payment', async ({ page }) => {
  test.setTimeout(90_000);
  await signUp(page);
  const title = `Zanzibarite field guide ${Date.now()}`;
  const slug = await saveDraft(page, title);

  // The draft is listed among the drafts, and published from the editor.
  await page.goto('/drafts');
  await expect(page.locator('.article-preview h1', { hasText: title })).toBeVisible();
  await page.goto(`/editor/${slug}`);
  await expect(page.locator('input[name="title"]')).toHaveValue(title);
  await Promise.all([page.waitForURL(`/article/${slug}`), page.click('button:has-text("Publish Article")')]);
  await expect(page.locator('.article-facts')).not.toContainText('Draft');
  await expect(page.locator('.article-facts')).toContainText('intermediate');
  await page.goto('/drafts');
  await expect(page.locator('.empty-feed-message')).toContainText('No drafts');

  // Search finds it (the index follows the write within moments), with the match marked.
  await expect(async () => {
    await page.goto('/search?q=zanzibarite&difficulty=intermediate');
    await expect(page.locator('.search-result h2', { hasText: 'Zanzibarite' })).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('.search-result mark').first()).toHaveText(/zanzibarite/i);
  await page.selectOption('.search-filters select >> nth=1', 'advanced');
  await expect(page.locator('.no-results')).toBeVisible();

  // Study it with the timer: stopping records a session.
  await page.goto(`/article/${slug}`);
  await page.click('button:has-text("Start studying this post")');
  await expect(page.locator('.study-clock')).toContainText('0:0');
  await page.click('button:has-text("Stop and record")');
  await expect(page.locator('.study-timer .success-message')).toContainText('Session recorded: 1 min');

  // The dashboard shows the points and the streak.
  await page.goto('/dashboard');
  await expect(page.getByTestId('points').locator('.stat-value')).not.toHaveText('0');
  await expect(page.getByTestId('streak').locator('.stat-value')).toHaveText('1 day');
  await expect(page.getByTestId('sessions-week').locator('.stat-value')).toHaveText('1');
  await expect(page.getByTestId('plan')).toContainText('free');
  await expect(page.locator('[data-testid="degraded"]')).toHaveCount(0);

  // Upgrade to pro with the sandbox card that succeeds; the payment and order are listed.
  await page.goto('/billing');
  await expect(page.getByTestId('current-plan')).toHaveText('free');
  await page.click('button:has-text("Choose pro")');
  await page.fill('input[name="cardNumber"]', '4242 4242 4242 4242');
  await page.fill('input[name="cvc"]', '123');
  await page.click('button:has-text("Pay and upgrade")');
  // The confirmation names the new plan from the first frame it shows.
  await expect(page.locator('.success-message')).toBeVisible();
  expect(await page.locator('.success-message').textContent()).toContain('pro plan');
  await expect(page.getByTestId('current-plan')).toHaveText('pro');
  await expect(page.locator('.payments-table tbody tr').first()).toContainText('$12.00');
  await expect(page.locator('.payments-table tbody tr').first()).toContainText('succeeded');
  await expect(page.locator('.orders-table tbody tr').first()).toContainText('$12.00');
  await page.screenshot({ path: `${SHOTS}/billing-after-upgrade-desktop.png` });
  await page.goto('/dashboard');
  await expect(page.getByTestId('plan')).toContainText('pro');

  // Cancel: the plan stays to the end of the paid cycle and will not renew.
  await page.goto('/billing');
  await page.click('button:has-text("Cancel subscription")');
  await page.click('button:has-text("Keep my plan")');
  await expect(page.locator('.current-subscription')).not.toContainText('Cancelled');
  await page.click('button:has-text("Cancel subscription")');
  await page.click('button:has-text("Yes, cancel")');
  await expect(page.locator('.current-subscription')).toContainText('Cancelled: it will not renew.');
  await expect(page.locator('.current-subscription')).toContainText('Ends on');
  await expect(page.getByTestId('current-plan')).toHaveText('pro');
});

test('a declined card shows the provider reason and leaves the plan unchanged', async ({ page }) => {
  await signUp(page);
  await page.goto('/billing');
  await page.click('button:has-text("Choose pro")');
  await expect(page.locator('.test-cards')).toContainText('4000 0000 0000 9995');
  await page.fill('input[name="cardNumber"]', '4000000000009995');
  await page.fill('input[name="cvc"]', '123');
  await page.click('button:has-text("Pay and upgrade")');
  await expect(page.locator('.declined-message')).toContainText('insufficient funds (insufficient_funds)');
  await expect(page.getByTestId('current-plan')).toHaveText('free');
  await expect(page.locator('.payments-table tbody tr').first()).toContainText('failed');
  await page.screenshot({ path: `${SHOTS}/billing-declined-desktop.png` });
});

test('an edit conflict (409) offers to reload the latest version or reapply mine', async ({ page }) => {
  await signUp(page);
  const slug = await saveDraft(page, `Conflicted ${Date.now()}`);
  await page.goto(`/editor/${slug}`);
  await expect(page.locator('input[name="title"]')).not.toHaveValue('');

  // Meanwhile the article changes elsewhere (another tab, through the API).
  const auth = { Authorization: `Token ${await token(page)}` };
  const changed = await page.request.put(`/api/articles/${slug}`, { headers: auth, data: { article: { description: 'Changed in another tab' } } });
  expect(changed.status()).toBe(200);

  await page.fill('input[name="title"]', 'My edit of the title');
  await page.click('button:has-text("Save Draft")');
  const conflict = page.locator('.conflict-panel');
  await expect(conflict).toContainText('changed after you opened it');
  await page.screenshot({ path: `${SHOTS}/editor-conflict-desktop.png` });

  // Reload: their description comes in, my edit goes.
  await conflict.locator('button:has-text("Reload the latest version")').click();
  await expect(page.locator('input[name="description"]')).toHaveValue('Changed in another tab');
  await expect(page.locator('input[name="title"]')).not.toHaveValue('My edit of the title');

  // Another change elsewhere, another edit here: reapply saves mine over it.
  const again = await page.request.put(`/api/articles/${slug}`, { headers: auth, data: { article: { description: 'Changed once more' } } });
  expect(again.status()).toBe(200);
  await page.fill('input[name="title"]', 'Mine wins');
  await page.click('button:has-text("Save Draft")');
  await expect(conflict).toBeVisible();
  await Promise.all([page.waitForURL(/\/article\//), conflict.locator('button:has-text("Reapply my changes and save")').click()]);
  await expect(page.locator('.banner h1')).toHaveText('Mine wins');
});

test('learning: a path with milestones, an assessment, and the weekly charts', async ({ page }) => {
  await signUp(page);
  await page.goto('/learning');
  await expect(page.locator('.empty-sessions')).toBeVisible();
  await page.fill('input[name="technologies"]', 'rust, tokio');
  await page.fill('input[name="minutes"]', '45');
  await page.click('button:has-text("Record session")');
  await expect(page.locator('.record-session .success-message')).toContainText('45 minutes');
  await expect(page.locator('.sessions-table tbody tr')).toHaveCount(1);
  await expect(page.locator('.sessions-table')).toContainText('rust, tokio');
  // The chart's figures: this week has the 45 minutes.
  const minutes = page.locator('figure', { hasText: 'Minutes per week' });
  await minutes.locator('summary').click();
  await expect(minutes.locator('tbody tr').last()).toContainText('45');
  await expect(page.locator('.tech-ranking')).toContainText('rust');
  await page.locator('.chart-grid').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/learning-charts-desktop.png` });

  await page.click('a:has-text("Learning paths")');
  await page.fill('input[name="pathTitle"]', 'Async Rust');
  await page.fill('textarea[name="milestones"]', 'Futures\nPinning');
  await page.click('button:has-text("Create path")');
  const path = page.locator('.learning-path', { hasText: 'Async Rust' });
  await expect(path).toContainText('0% done');
  await path.getByLabel('Futures').click();
  await expect(path.getByLabel('Futures')).toBeChecked();
  await expect(path).toContainText('50% done');
  await page.reload();
  await expect(page.locator('.learning-path', { hasText: 'Async Rust' })).toContainText('50% done');

  await page.click('a:has-text("Skill assessments")');
  await page.fill('input[name="skillArea"]', 'rust');
  await page.fill('input[name="score"]', '88');
  await page.click('button:has-text("Record assessment")');
  await expect(page.locator('.data-table tbody tr').first()).toContainText('88');
});

test('the dashboard shows a part as unavailable, not as zero, when its store is down', async ({ page }) => {
  const control = process.env.TECHHUB_FAULT_CONTROL;
  expect(control, 'scripts/web-e2e.sh sets TECHHUB_FAULT_CONTROL (the PostgreSQL fault proxy)').toBeTruthy();
  test.setTimeout(60_000);
  await signUp(page);
  const cut = await page.request.post(`${control}/down`);
  expect(await cut.text()).toBe('down');
  try {
    await page.goto('/dashboard');
    await expect(page.getByTestId('degraded')).toContainText('learning figures', { timeout: 15_000 });
    await expect(page.getByTestId('points').locator('.stat-value')).toHaveText('Unavailable');
    await expect(page.getByTestId('streak').locator('.stat-value')).toHaveText('Unavailable');
    // The parts from the other stores are still there.
    await expect(page.getByTestId('plan')).toContainText('free');
    await expect(page.getByTestId('posts').locator('.stat-value')).toHaveText('0');
    await page.screenshot({ path: `${SHOTS}/dashboard-degraded-desktop.png` });
  } finally {
    await page.request.post(`${control}/up`);
  }
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('degraded')).toHaveCount(0, { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByTestId('points').locator('.stat-value')).toHaveText(/^\d/);
});

test('a phone-width reader can study an article and reach every page from the menu', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await signUp(page);
  for (const link of ['Search', 'Dashboard', 'Learning']) {
    await page.click(`nav a:has-text("${link}")`);
    await expect(page.locator('.page-title')).toHaveText(link);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${link} scrolls sideways by ${overflow} px`).toBeLessThanOrEqual(0);
  }
  await page.goto('/');
  await page.locator('.article-preview .preview-link').first().click();
  await page.click('button:has-text("Bookmark")');
  await expect(page.locator('button.bookmark-button')).toHaveText('Bookmarked');
  await page.goto('/bookmarks');
  await expect(page.locator('.article-preview')).toHaveCount(1);
  // The heart works in the bookmarks list too, both ways.
  const heart = page.locator('.article-preview button');
  const count = Number((await heart.textContent())?.match(/\d+/)?.[0]);
  await heart.click();
  await expect(heart).toHaveClass(/btn-primary/);
  await expect(heart).toContainText(String(count + 1));
  await heart.click();
  await expect(heart).toHaveClass(/btn-outline-primary/);
  await expect(heart).toContainText(String(count));
  // Removing the bookmark empties the list.
  await page.locator('.article-preview .preview-link').click();
  await page.click('button:has-text("Bookmarked")');
  await expect(page.locator('button.bookmark-button')).toHaveText('Bookmark');
  await page.goto('/bookmarks');
  await expect(page.locator('.empty-feed-message')).toContainText('No bookmarks yet');
});

test('signing in as someone else in the same tab shows none of the first account', async ({ page, browser }) => {
  const other = await browser.newContext();
  const second = await signUp(await other.newPage());
  await other.close();
  const first = await signUp(page);
  await page.goto('/dashboard');
  await expect(page.locator('.dashboard-page')).toContainText(`Welcome back, ${first}.`);
  // Straight to the sign-in page, without signing out.
  await page.click('nav a:has-text("Settings")');
  await page.goto('/login');
  await page.fill('input[name="email"]', `${second}@example.com`);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await expect(page.locator(`nav a[href="/profile/${second}"]`)).toBeVisible();
  await page.click('nav a:has-text("Dashboard")');
  await expect(page.locator('.dashboard-page')).toContainText(`Welcome back, ${second}.`);
  await expect(page.locator('.dashboard-page')).not.toContainText(first);
});

test('the theme preference follows the user to a new browser', async ({ page, browser }) => {
  const name = await signUp(page);
  await page.goto('/dashboard');
  for (let i = 0; i < 3 && !(await page.locator('html.dark').count()); i++) await page.click('.theme-toggle');
  await expect(page.locator('html')).toHaveClass(/dark/);
  await expect(page.locator('.theme-toggle')).toHaveAttribute('title', 'Theme: dark');
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: `${SHOTS}/dashboard-dark-desktop.png` });

  const other = await browser.newContext();
  const fresh = await other.newPage();
  await fresh.goto('/login');
  await expect(fresh.locator('html')).not.toHaveClass(/dark/);
  await fresh.fill('input[name="email"]', `${name}@example.com`);
  await fresh.fill('input[name="password"]', PASSWORD);
  await fresh.click('button[type="submit"]');
  await expect(fresh.locator('html')).toHaveClass(/dark/);
  await other.close();
});

/** Presses Tab until the focused element's text is `text` (at most 60 times); fails otherwise. */
async function tabTo(page: Page, text: string) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    if (focused === text) return;
  }
  throw new Error(`"${text}" cannot be reached with Tab`);
}

test('the main actions are reachable and usable with the keyboard alone', async ({ page }) => {
  await signUp(page);
  await page.goto('/');
  await page.locator('.article-preview .preview-link').first().click();
  await page.locator('.banner h1').waitFor();
  await tabTo(page, 'Bookmark');
  await page.keyboard.press('Enter');
  await expect(page.locator('button.bookmark-button')).toHaveText('Bookmarked');
  await tabTo(page, 'Start studying this post');
  await page.keyboard.press('Enter');
  // The focus moves to the button that replaced the one pressed.
  await expect(page.locator('button:has-text("Stop and record")')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('.study-timer .success-message')).toContainText('Session recorded');
  await expect(page.locator('button:has-text("Start studying this post")')).toBeFocused();

  await page.goto('/billing');
  await page.getByTestId('current-plan').waitFor();
  await tabTo(page, 'Choose pro');
  await page.keyboard.press('Enter');
  // The checkout opens with the card number focused.
  await expect(page.locator('input[name="cardNumber"]')).toBeFocused();
  await page.keyboard.type('4242424242424242');
  await expect(page.locator('input[name="cardNumber"]')).toHaveValue('4242424242424242');
});

/** The verification token mailed to `email` (the server writes mail as .eml files in its data folder). */
function mailedToken(email: string): string | null {
  const dir = join(process.env.TECHHUB_DATA_DIR ?? '', 'mail');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.eml'));
  } catch {
    return null;
  }
  for (const name of names) {
    const raw = readFileSync(join(dir, name), 'utf8');
    if (!raw.includes(email)) continue;
    // A quoted-printable body (soft line breaks, `=3D` for `=`), or a base64 one.
    let text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    const b64 = /Content-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/.exec(raw);
    if (b64?.[1]) text += Buffer.from(b64[1].replace(/\s+/g, ''), 'base64').toString('utf8');
    const token = /verify-email\?token=([A-Za-z0-9_-]+)/.exec(text);
    if (token?.[1]) return token[1];
  }
  return null;
}

test('the link in the verification email confirms the address', async ({ page }) => {
  expect(process.env.TECHHUB_DATA_DIR, 'scripts/web-e2e.sh sets the data folder the mail goes to').toBeTruthy();
  const name = await signUp(page);
  await page.goto('/dashboard');
  await expect(page.locator('.dashboard-page')).toContainText('not confirmed yet');
  let token: string | null = null;
  await expect(async () => {
    token = mailedToken(`${name}@example.com`);
    expect(token).not.toBeNull();
  }).toPass({ timeout: 20_000 });
  await page.goto(`/verify-email?token=${token}`);
  await expect(page.locator('.verified')).toContainText(`${name}@example.com is confirmed`);
  // In the same page (no reload): the dashboard no longer asks.
  await page.click('a:has-text("Go to your dashboard")');
  await expect(page.getByTestId('plan')).toBeVisible();
  await expect(page.locator('.dashboard-page')).not.toContainText('not confirmed yet');
  // Used once: the same link again says so.
  await page.goto(`/verify-email?token=${token}`);
  await expect(page.locator('.verify-page [role="alert"]')).toContainText('invalid, already used or expired');
});

test('admin reports: charts for an admin, a refusal for everyone else', async ({ page }) => {
  const cli = process.env.TECHHUB_CLI;
  expect(cli, 'scripts/web-e2e.sh sets TECHHUB_CLI').toBeTruthy();
  const name = await signUp(page);
  await page.goto('/admin');
  await expect(page.locator('.admins-only')).toContainText('administrators only');
  await page.goto('/dashboard');
  await expect(page.getByTestId('plan')).toBeVisible();
  await expect(page.locator('a:has-text("Admin reports")')).toHaveCount(0);

  execFileSync(cli ?? '', ['admin', name], { env: process.env, stdio: 'pipe' });
  await page.goto('/dashboard');
  await page.click('a:has-text("Admin reports")');
  await expect(page.locator('.page-title')).toHaveText('Admin reports');
  const active = page.locator('figure', { hasText: 'Active users per day' });
  await expect(active).toBeVisible();
  await active.locator('summary').click();
  // The seeded community and this run's users were active: some day has a count above 0.
  await expect(active.locator('tbody td').filter({ hasText: /^[1-9]/ }).first()).toBeVisible();
  await expect(page.locator('figure', { hasText: 'Users per engagement score band' })).toBeVisible();
  await page.selectOption('.admin-page .section-head select', 'week');
  await expect(page.locator('figure', { hasText: 'Active users per week' })).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/admin-desktop.png`, fullPage: true });
});
