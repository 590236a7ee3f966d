/**
 * The Hub in a real browser: Debian's chromium driven by playwright-core (no browser download).
 * Signs in, searches, opens a repository page, copies the pull command, switches visibility and
 * creates an access token; keeps a screenshot of each main page in test-artifacts/hub/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { getToken, pushImage, repoRoot, spawnHub, tokenAccess, WebClient, type SpawnedHub } from './hub-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const shots = join(repoRoot, 'test-artifacts', 'hub');
const alice = { user: 'alice', password: 'alice-password-1' };
let hub: SpawnedHub;
let context: BrowserContext;
let profile: string;

before(async () => {
  if (!hasChromium) return;
  mkdirSync(shots, { recursive: true });
  hub = await spawnHub();
  hub.createUser(alice.user, alice.password);
  hub.createUser('bob', 'bob-password-12');
  await pushImage(hub, 'alice/webapp', 'latest', alice);
  await pushImage(hub, 'alice/webapp', '1.2.0', alice);
  await pushImage(hub, 'alice/private-tools', 'v1', alice);
  for (const n of ['nginx-proxy', 'postgres-tools', 'redis-cache']) {
    await pushImage(hub, `alice/${n}`, 'latest', alice);
    hub.admin(['repo', 'visibility', `alice/${n}`, 'public']);
  }
  hub.admin(['repo', 'visibility', 'alice/webapp', 'public']);
  const web = new WebClient(hub);
  await web.login(alice.user, alice.password);
  await web.post('/r/alice/webapp/-/description', {
    description: '# webapp\n\nA tiny **web application** image for demos.\n\n## Usage\n\n```\ndocker run -p 8080:80 alice/webapp\n```\n\n- small\n- fast\n- [docs](https://example.com/docs)',
  }, { from: '/r/alice/webapp/-/settings' });
  profile = mkdtempSync(join(tmpdir(), 'berth-hub-chromium-'));
  // A fresh profile directory per run (playwright takes it as launchPersistentContext's userDataDir).
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
});

after(async () => {
  await context?.close().catch(() => undefined);
  await hub?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

test('sign in, search, repository page, copy the pull command, switch visibility, create a token', { skip: !hasChromium && `${CHROMIUM} missing` }, async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await page.goto(`${hub.url}/`);
  await shot(page, 'home-anonymous');
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.getByLabel('User name').fill(alice.user);
  await page.getByLabel('Password').fill(alice.password);
  await shot(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${hub.url}/`);
  assert.equal(await page.locator('nav .who').textContent(), 'alice');
  await shot(page, 'home');

  // search from the header
  await page.getByRole('searchbox', { name: 'Search repositories' }).fill('webapp');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/search\?q=webapp/);
  const results = await page.locator('.repos .name').allTextContents();
  assert.deepEqual(results, ['alice/webapp']);
  await shot(page, 'search');

  // the repository page
  await page.getByRole('link', { name: 'alice/webapp' }).click();
  await page.waitForURL(`${hub.url}/r/alice/webapp`);
  assert.equal(await page.locator('.md h2').first().textContent(), 'webapp');
  const tags = await page.locator('tbody tr td:first-child strong').allTextContents();
  assert.deepEqual(tags.sort(), ['1.2.0', 'latest']);
  assert.match(await page.locator('table').first().textContent() ?? '', /linux\/amd64/);
  await shot(page, 'repository');

  // copy the pull command
  const cmd = `docker pull ${hub.address}/alice/webapp`;
  assert.equal(await page.locator('#pull-cmd').textContent(), cmd);
  await page.getByRole('button', { name: 'Copy pull command' }).click();
  await page.getByRole('button', { name: 'Copy pull command' }).filter({ hasText: 'Copied!' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), cmd);

  // star it
  await page.getByRole('button', { name: '☆ Star' }).click();
  await page.getByRole('button', { name: '★ Starred' }).waitFor();

  // switch visibility in the settings (a confirm dialog guards it)
  await page.getByRole('link', { name: 'Settings' }).click();
  await shot(page, 'settings');
  page.once('dialog', (d) => { void d.accept(); });
  await page.getByRole('button', { name: 'Make private' }).click();
  await page.waitForURL(/ok=visibility/);
  assert.equal(await page.locator('#visibility').textContent(), 'private');
  const anon = await fetch(`${hub.url}/v1/search?q=webapp`);
  assert.equal((await anon.json() as { num_results: number }).num_results, 0, 'now hidden from anonymous search');
  page.once('dialog', (d) => { void d.accept(); });
  await page.getByRole('button', { name: 'Make public' }).click();
  await page.waitForURL(/ok=visibility/);
  assert.equal(await page.locator('#visibility').textContent(), 'public');

  // create an access token and use it
  await page.getByRole('link', { name: 'Access tokens' }).click();
  await page.getByLabel('Description').fill('laptop');
  await page.getByLabel('Scope').selectOption('read');
  await page.getByRole('button', { name: 'Generate' }).click();
  const secret = (await page.locator('#new-token').textContent())!;
  assert.match(secret, /^bhp_/);
  await shot(page, 'tokens');
  const t = await getToken(hub, ['repository:alice/private-tools:pull,push'], { user: 'alice', password: secret });
  assert.deepEqual(tokenAccess(t), [{ type: 'repository', name: 'alice/private-tools', actions: ['pull'] }]);

  // an organisation with a member
  await page.goto(`${hub.url}/orgs`);
  await page.getByLabel('Name').fill('platform');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(`${hub.url}/orgs/platform?ok=org`);
  await page.getByLabel('User').fill('bob');
  await page.getByLabel('Role').selectOption('write');
  await page.getByRole('button', { name: 'Add or change' }).click();
  await page.waitForURL(/ok=member/);
  assert.match(await page.locator('table').textContent() ?? '', /bobwrite/);
  await shot(page, 'organisation');

  // other main pages
  await page.goto(`${hub.url}/search`);
  await shot(page, 'explore');
  await page.goto(`${hub.url}/new`);
  await shot(page, 'new-repository');
  await page.goto(`${hub.url}/u/alice`);
  await shot(page, 'namespace');

  // a phone-sized viewport
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${hub.url}/r/alice/webapp`);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
  await shot(phone, 'repository-phone');
  await phone.close();
  assert.deepEqual(errors, [], 'no script errors or CSP violations');
});
