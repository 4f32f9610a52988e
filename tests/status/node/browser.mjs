// Opens a status page (http://) or a drift report (file://) in headless Chromium and prints, as
// one JSON line, what it drew: the charts' data-* numbers, the drift cards, the model name as
// text, and every console message, page error, CSP violation and dialog seen. Screenshots go to
// --out: NAME-desktop.png (1280 wide, whole page), NAME-phone.png (390x844, the first screen) and
// NAME-phone-full.png (the whole page at 390). The checks live in the pytest files; this only looks.
// --status-json FILE answers the page's /status.json requests with FILE (a document the sidecar
// cannot be made to serve, such as one with drift_error); everything else still comes from URL.
//
//   node browser.mjs --url URL --out DIR --name NAME [--status-json FILE]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const url = arg('url');
const out = arg('out', '.');
const name = arg('name', 'page');
const chromium = arg('chromium', process.env.CHROMIUM || '/usr/bin/chromium');
const statusJson = arg('status-json');
fs.mkdirSync(out, { recursive: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mlsidecar-chromium-'));

const problems = [];
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn' || m.type() === 'warning') {
      problems.push({ kind: 'console.' + m.type(), text: m.text() });
    }
  });
  page.on('pageerror', (e) => problems.push({ kind: 'pageerror', text: String(e) }));
  page.on('requestfailed', (r) => problems.push({ kind: 'requestfailed', text: r.url() }));
  page.on('dialog', async (d) => {
    problems.push({ kind: 'dialog', text: d.message() });
    await d.dismiss();
  });
  if (statusJson) {
    const body = fs.readFileSync(statusJson, 'utf8');
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/status.json') {
        r.respond({ status: 200, contentType: 'application/json', body });
      } else {
        r.continue();
      }
    });
  }
  // Runs before the page's scripts, outside its CSP (DevTools protocol).
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
    });
  });

  async function load(viewport) {
    await page.setViewport(viewport);
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('#app[data-rendered]', { timeout: 15000 });
    await page.waitForSelector('svg[data-chart] g[data-series], .feature svg.hist',
      { timeout: 15000 });
  }

  await load({ width: 1280, height: 900 });
  const seen = await page.evaluate(() => {
    const numbers = (s) => (s ? s.split(' ').map((x) => (x === 'null' ? null : Number(x))) : []);
    const charts = {};
    for (const svg of document.querySelectorAll('svg[data-chart]')) {
      const c = { times: numbers(svg.dataset.times), seconds: numbers(svg.dataset.seconds),
        series: {}, drawn: svg.querySelectorAll('polyline, circle').length };
      for (const k of Object.keys(svg.dataset)) {
        if (k.startsWith('window')) c[k] = numbers(svg.dataset[k])[0];
      }
      for (const g of svg.querySelectorAll('g[data-series]')) {
        c.series[g.dataset.series] = numbers(g.dataset.values);
      }
      charts[svg.dataset.chart] = c;
    }
    const features = [...document.querySelectorAll('.feature')].map((f) => {
      const hist = f.querySelector('svg.hist');
      return { name: f.dataset.feature, direction: f.dataset.direction,
        flagged: f.dataset.flagged === 'true', psi: numbers(f.dataset.psi)[0],
        enough_data: f.dataset.enoughData === 'true', missing: numbers(f.dataset.missing)[0],
        badge: (f.querySelector('h3 .badge') || {}).textContent || null,
        sub: f.querySelector('.sub').textContent,
        severity: Number(f.dataset.severity), window_samples: Number(f.dataset.windowSamples),
        shown_name: f.querySelector('.name').textContent,
        reference: numbers(hist.dataset.reference), live: numbers(hist.dataset.live),
        bars: hist.querySelectorAll('rect').length };
    });
    const shadow = [...document.querySelectorAll('[data-shadow-version]')].map((card) => ({
      version: card.dataset.shadowVersion,
      shown_version: card.querySelector('.name').textContent,
      rows: Object.fromEntries([...card.querySelectorAll('tr')].map(
        (tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])),
      disagreements_heading: (card.querySelector('.disagreements h4') || {}).textContent || null,
      disagreements: [...card.querySelectorAll('[data-disagreements] li')].map((li) => ({
        request_id: li.querySelector('.rid').textContent,
        what: li.querySelector('.what').textContent,
        primary: li.querySelector('.primary').textContent,
        shadow: li.querySelector('.shadow').textContent,
        text: li.textContent,
      })),
    }));
    const model = document.getElementById('model');
    const summary = document.getElementById('drift-summary');
    const notEnough = document.getElementById('drift-not-enough');
    const text = (id) => (document.getElementById(id) || {}).textContent || null;
    return {
      title: document.title,
      model: model ? model.textContent : null,
      ready: (document.getElementById('ready') || {}).textContent || null,
      verdict: (document.getElementById('verdict') || {}).textContent || null,
      drifted: summary ? Number(summary.dataset.drifted) : null,
      not_enough_data: notEnough ? JSON.parse(notEnough.dataset.features) : [],
      not_enough_text: notEnough ? notEnough.textContent : null,
      drift_error: text('drift-error'),
      drift_off: text('drift-off'),
      shadow_section: !!document.getElementById('shadow'),
      shadow,
      charts,
      features,
      imgs: document.querySelectorAll('img').length,
      onerror_attributes: document.querySelectorAll('[onerror]').length,
      links: [...document.querySelectorAll('nav a')].map((a) => a.getAttribute('href')),
      body_text: document.body.innerText.slice(0, 4000),
    };
  });
  await page.screenshot({ path: path.join(out, name + '-desktop.png'), fullPage: true });

  await load({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  seen.phone = await page.evaluate(() => ({
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth,
    widest: Math.max(...[...document.querySelectorAll('body *')].map(
      (e) => e.getBoundingClientRect().right)),
  }));
  await page.screenshot({ path: path.join(out, name + '-phone.png') });
  await page.screenshot({ path: path.join(out, name + '-phone-full.png'), fullPage: true });
  seen.problems = problems;
  process.stdout.write(JSON.stringify(seen) + '\n');
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
