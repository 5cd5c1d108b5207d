// An agent at the console, in Debian's Chromium driven by playwright-core:
//   node agent.js BASE_URL TOKEN CUSTOMER_ID REPLY_TEXT [SCREENSHOT]
// Signs in, waits for the live stream ("ready" on stdout: the test then makes the
// customer write), sees the escalation arrive without reloading, opens it, claims it,
// checks the care window is open, replies, and waits for the reply in the thread.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, customer, replyText, screenshot] = process.argv.slice(2);

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-console-'));
  // A new, empty profile (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let ok = false;
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.log('page error: ' + e.message));
    await page.goto(base + '/console');

    // A wrong token is refused.
    await page.fill('#token', 'not-a-token');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-error:text("not an agent token")');

    await page.fill('#token', token);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#app', { state: 'visible' });
    await page.waitForSelector('#live.on');
    console.log('ready');

    // The escalation arrives through the stream.
    const item = page.locator('#queue button', { hasText: customer });
    await item.waitFor({ timeout: 20000 });
    console.log('escalation seen');
    await item.click();
    await page.waitForSelector('#detail', { state: 'visible' });
    await page.waitForSelector('#thread li[data-direction=inbound]');
    await page.click('#claim');
    await page.waitForSelector('#detail-meta:text("held by")');
    const meta = await page.textContent('#detail-meta');
    if (!meta.includes('assigned')) throw new Error('not assigned: ' + meta);
    const windowText = await page.textContent('#window');
    if (!windowText.includes('open')) throw new Error('the window shows: ' + windowText);
    console.log('claimed');

    await page.fill('#reply-text', replyText);
    await page.click('#send');
    await page.locator('#thread li.outbound', { hasText: replyText }).waitFor({ timeout: 20000 });
    await page.waitForSelector('#thread li.outbound[data-status=sent], #thread li.outbound[data-status=delivered]',
                               { timeout: 20000 });
    console.log('replied');

    // Resolve: it leaves the queue.
    await page.click('#resolve');
    await page.waitForSelector('#detail-meta:text("resolved")');
    console.log('resolved');
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    ok = true;
  } catch (e) {
    console.log('failed: ' + (e && e.stack ? e.stack : e));
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
})();
