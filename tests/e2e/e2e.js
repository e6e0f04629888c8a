#!/usr/bin/env node
// rserver's pages end to end in a real browser: Debian's chromium, headless,
// driven by playwright-core, against a real rserver with real throwaway
// users, PAM, the monitor, rsession-launcher and R. Run as root (run.sh
// checks and installs playwright-core from package-lock.json).
//
// One rserver and one browser serve the whole run; tests run in order and
// some build on the ones before (the session started in "console" is the
// one suspended later). Each test saves a screenshot to E2E_ARTIFACTS.
//
// Creates, and removes at the end even on failure (finally, exit and signal
// handlers, and a watchdog below ctest's timeout): a server user
// rs_e2e_srv_<pid>, users rs_e2e_a_<pid> and rs_e2e_b_<pid> (homes under
// the temporary root), the PAM services /etc/pam.d/rs-e2e-<pid> and
// rs-e2e-<pid>-session, and /tmp/rs-e2e-XXXXXX with the config, data,
// database, key, homes and rserver's log. Processes are killed by pid:
// rserver, then any process of the test users or naming this run's config
// dir (monitor, launchers, sessions), then the browser's.
//
// Environment: RSERVER, LAUNCHER, RSESSION (programs), E2E_ARTIFACTS
// (screenshots), CHROMIUM (default /usr/bin/chromium), KEEP_TMP=1 keeps the
// temporary root, E2E_ONLY=name,name runs only those tests (and what they
// need is then up to the caller).
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');

const WATCHDOG_MS = 270 * 1000; // below ctest's TIMEOUT (300 s)
const START_WAIT = 60000;
const RUN_WAIT = 90000; // a session from start to its first prompt
const EVAL_WAIT = 30000;

const PID = process.pid;
const SRV_USER = `rs_e2e_srv_${PID}`;
const USER_A = `rs_e2e_a_${PID}`;
const USER_B = `rs_e2e_b_${PID}`;
const PASS_A = `E2e-a-${PID}-pw!`;
const PASS_B = `E2e b&c=${PID}+d`;
const ADMIN_GROUP = `rs_e2e_adm_${PID}`; // admin-group: USER_A is in it
const PAM_SVC = `rs-e2e-${PID}`;
const PAM_SESSION_SVC = `rs-e2e-${PID}-session`;
const PAM_FILES = [`/etc/pam.d/${PAM_SVC}`, `/etc/pam.d/${PAM_SESSION_SVC}`];
const LOCKOUT_ATTEMPTS = 3;
const NOTICE = 'Maintenance tonight at 22:00: save your work before then.';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || 'artifacts');

let TMP = null, CONF = null, LOG = null, PORT = 0, BASE = '';
const createdUsers = [];
const createdPam = [];
let createdGroup = false;
const uids = new Set();
let server = null; // the rserver child
let browser = null;
let browserPid = 0;
let cleaned = false;

let passed = 0, failed = 0;

function say(s) { process.stdout.write(s + '\n'); }

function run(cmd, args, input) {
	return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
}

function tryRun(cmd, args) {
	try { return run(cmd, args); } catch (e) { return null; }
}

// ---- processes (/proc) ----

function procInfo(pid) {
	try {
		const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
		const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
		const st = /^State:\s+(\S)/m.exec(status);
		const ppid = parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1], 10);
		return { ruid: +uid[1], euid: +uid[2], state: st[1], cmdline, ppid };
	} catch (e) {
		return null;
	}
}

function allPids() {
	return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => p !== PID);
}

function alive(pid) {
	const i = procInfo(pid);
	return i !== null && i.state !== 'Z' && i.state !== 'X';
}

// Processes of this run: the test users' (server user included), any
// naming this run's config dir, and the browser's tree.
function leftovers() {
	const found = [];
	const tree = new Set(browserPid ? [browserPid] : []);
	const infos = new Map(allPids().map((p) => [p, procInfo(p)]));
	let grew = true;
	while (grew && tree.size) {
		grew = false;
		for (const [p, i] of infos) if (i && !tree.has(p) && tree.has(i.ppid)) { tree.add(p); grew = true; }
	}
	for (const [p, i] of infos) {
		if (!i || i.state === 'Z' || i.state === 'X') continue;
		if (uids.has(i.ruid) || uids.has(i.euid) || (CONF && i.cmdline.includes(CONF)) || tree.has(p)) found.push(p);
	}
	return found;
}

function sleepSync(ms) {
	Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function killLeftovers() {
	const deadline = Date.now() + 10000;
	let left = leftovers();
	while (left.length && Date.now() < deadline) {
		for (const p of left) { try { process.kill(p, 'SIGKILL'); } catch (e) { /* gone */ } }
		sleepSync(100);
		left = leftovers();
	}
	return left;
}

// ---- setup and cleanup ----

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
		s.on('error', reject);
	});
}

function ymd(d) {
	const z = (n) => String(n).padStart(2, '0');
	return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}`;
}

async function setup() {
	TMP = fs.mkdtempSync('/tmp/rs-e2e-');
	fs.chmodSync(TMP, 0o711);
	CONF = TMP + '/conf';
	LOG = TMP + '/log';
	fs.mkdirSync(CONF, { mode: 0o755 });
	fs.mkdirSync(TMP + '/home', { mode: 0o755 });
	fs.writeFileSync(LOG, '');
	for (const u of [SRV_USER, USER_A, USER_B])
		if (tryRun('id', [u]) !== null) throw new Error(`user ${u} exists already`);
	for (const p of PAM_FILES) if (fs.existsSync(p)) throw new Error(`${p} exists already`);

	run('useradd', ['-r', '-M', '-s', '/usr/sbin/nologin', SRV_USER]);
	createdUsers.push(SRV_USER);
	for (const u of [USER_A, USER_B]) {
		run('useradd', ['-m', '-d', `${TMP}/home/${u}`, '-s', '/bin/bash', u]);
		createdUsers.push(u);
	}
	for (const u of createdUsers) uids.add(parseInt(run('id', ['-u', u]).trim(), 10));
	if (tryRun('getent', ['group', ADMIN_GROUP]) !== null) throw new Error(`group ${ADMIN_GROUP} exists already`);
	run('groupadd', [ADMIN_GROUP]);
	createdGroup = true;
	run('usermod', ['-aG', ADMIN_GROUP, USER_A]);
	run('chpasswd', [], `${USER_A}:${PASS_A}\n${USER_B}:${PASS_B}\n`);

	createdPam.push(PAM_FILES[0]);
	fs.writeFileSync(PAM_FILES[0], 'auth     required   pam_unix.so nodelay\naccount  required   pam_unix.so\n', { mode: 0o644 });
	createdPam.push(PAM_FILES[1]);
	fs.writeFileSync(PAM_FILES[1], 'auth     sufficient pam_rootok.so\naccount  required   pam_unix.so\n'
		+ 'session  required   pam_unix.so\n', { mode: 0o644 });

	PORT = await freePort();
	BASE = `http://127.0.0.1:${PORT}`;
	const conf = {
		'www-address': '127.0.0.1',
		'www-port': PORT,
		'server-user': SRV_USER,
		'server-data-dir': TMP + '/run',
		'secure-cookie-key-file': TMP + '/key',
		'auth-pam-service': PAM_SVC,
		'auth-pam-sessions-profile': PAM_SESSION_SVC,
		'rsession-launcher-path': process.env.LAUNCHER,
		'rsession-path': process.env.RSESSION,
		'session-temp-dir': TMP + '/stmp',
		'auth-sign-in-throttle-seconds': 0,
		'auth-lockout-attempts': LOCKOUT_ATTEMPTS,
		'auth-lockout-minutes': 5,
		'admin-group': ADMIN_GROUP,
	};
	fs.writeFileSync(CONF + '/rserver.conf', Object.entries(conf).map(([k, v]) => `${k}=${v}\n`).join(''));
	fs.writeFileSync(CONF + '/rsession.conf',
		'session-save-action-default=no\nsession-timeout-minutes=600\nsession-timeout-kill-hours=0\n');
	fs.writeFileSync(CONF + '/database.conf', `provider=sqlite\ndirectory=${TMP}/db\n`);
	fs.writeFileSync(CONF + '/profiles', '');
	const day = 86400000;
	fs.writeFileSync(CONF + '/notifications.conf',
		`StartTime: ${ymd(new Date(Date.now() - day))}\nEndTime: ${ymd(new Date(Date.now() + day))}\nMessage: ${NOTICE}\n`);
}

function get(p) {
	return new Promise((resolve) => {
		const req = http.get(BASE + p, { timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode); });
		req.on('error', () => resolve(0));
		req.on('timeout', () => { req.destroy(); resolve(0); });
	});
}

async function startServer() {
	const out = fs.openSync(LOG, 'a');
	server = spawn(process.env.RSERVER, ['--config-dir', CONF], { stdio: ['ignore', out, out] });
	fs.closeSync(out);
	let exited = null;
	server.on('exit', (code, sig) => { exited = code !== null ? code : sig; });
	const deadline = Date.now() + START_WAIT;
	while (Date.now() < deadline) {
		if (exited !== null) throw new Error(`rserver exited (${exited}) while starting:\n${logTail(20)}`);
		if (await get('/health-check') === 200 && await get('/auth-sign-in') === 200) return;
		await sleep(100);
	}
	throw new Error(`rserver not serving after ${START_WAIT / 1000} s:\n${logTail(20)}`);
}

async function stopServer() {
	const p = server;
	if (!p || p.exitCode !== null || p.signalCode !== null) return;
	const gone = new Promise((resolve) => p.once('exit', resolve));
	p.kill('SIGTERM');
	await Promise.race([gone, sleep(15000)]);
	if (p.exitCode === null && p.signalCode === null) throw new Error('rserver still running 15 s after SIGTERM');
}

function logTail(n) {
	try { return fs.readFileSync(LOG, 'utf8').split('\n').slice(-n - 1).join('\n'); } catch (e) { return ''; }
}

function cleanup() {
	if (cleaned) return;
	cleaned = true;
	const problems = [];
	if (server && server.exitCode === null && server.signalCode === null) {
		try { server.kill('SIGTERM'); } catch (e) { /* gone */ }
		const deadline = Date.now() + 10000;
		while (alive(server.pid) && Date.now() < deadline) sleepSync(50);
	}
	const left = killLeftovers();
	if (left.length) problems.push(`processes still alive after SIGKILL: ${left.join(' ')}`);
	for (const u of createdUsers.slice().reverse()) {
		tryRun('userdel', ['-r', u]);
		if (tryRun('id', [u]) !== null) problems.push(`userdel ${u} failed`);
	}
	if (createdGroup) {
		tryRun('groupdel', [ADMIN_GROUP]);
		if (tryRun('getent', ['group', ADMIN_GROUP]) !== null) problems.push(`groupdel ${ADMIN_GROUP} failed`);
	}
	for (const p of createdPam) {
		try { fs.unlinkSync(p); } catch (e) { if (e.code !== 'ENOENT') problems.push(`removing ${p}: ${e.message}`); }
	}
	if (TMP) {
		if (process.env.KEEP_TMP) say(`kept ${TMP}`);
		else {
			fs.rmSync(TMP, { recursive: true, force: true });
			if (fs.existsSync(TMP)) problems.push(`${TMP} still there`);
		}
	}
	for (const p of problems) say(`cleanup: ${p}`);
}

// ---- results ----

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

class Check extends Error {}

function ok(name) { passed++; say(`ok   ${name}`); }

function fail(name, ...evidence) {
	failed++;
	say(`FAIL ${name}`);
	for (const e of evidence) for (const line of String(e).split('\n')) say(`     ${line}`);
}

// A condition the rest of the test depends on.
function require_(cond, what, ...evidence) {
	if (!cond) throw new Check([what, ...evidence].join('\n'));
}

async function shot(page, name) {
	try {
		await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: false });
	} catch (e) {
		say(`     (no screenshot ${name}: ${e.message.split('\n')[0]})`);
	}
}

// ---- page helpers ----

const timeoutOf = (ms) => ({ timeout: ms });

async function outputText(page) {
	return page.locator('#output').evaluate((e) => e.textContent);
}

// Waits until the console output contains text (after `after` characters).
async function waitOutput(page, text, ms = EVAL_WAIT, after = 0) {
	try {
		await page.waitForFunction(([t, a]) => {
			const o = document.getElementById('output');
			return o && o.textContent.indexOf(t, a) >= 0;
		}, [text, after], timeoutOf(ms));
	} catch (e) {
		const got = await outputText(page).catch(() => '');
		throw new Check(`console output never showed ${JSON.stringify(text)} in ${ms / 1000} s; it ends with:\n`
			+ got.slice(-600));
	}
}

// Waits for R at a prompt (the prompt beside the input, not busy).
async function waitPrompt(page, ms = RUN_WAIT, want = '> ') {
	try {
		await page.waitForFunction((w) => document.getElementById('prompt').textContent === w
			&& document.getElementById('busy').hidden, want, timeoutOf(ms));
	} catch (e) {
		const st = await page.evaluate(() => [document.getElementById('state').textContent,
			document.getElementById('prompt').textContent, document.getElementById('busy').hidden,
			document.getElementById('banner').textContent]).catch(() => []);
		throw new Check(`no ${JSON.stringify(want)} prompt within ${ms / 1000} s: state/prompt/busy-hidden/banner = `
			+ JSON.stringify(st) + '\n' + (await outputText(page).catch(() => '')).slice(-400));
	}
}

async function type(page, text) {
	const input = page.locator('#input');
	await input.click();
	await input.fill(text);
	await input.press('Enter');
}

// Runs code at the prompt and waits for want in the output that follows.
async function evalR(page, code, want, ms = EVAL_WAIT) {
	const before = (await outputText(page)).length;
	await type(page, code);
	await waitOutput(page, want, ms, Math.max(0, before - 200));
	await waitPrompt(page, ms);
}

async function signIn(page, user, pass, { stay = false } = {}) {
	await page.goto(BASE + '/auth-sign-in');
	await page.fill('#username', user);
	await page.fill('#password', pass);
	if (stay) await page.check('input[name=staySignedIn]');
	await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.press('#password', 'Enter')]);
}

async function alertText(page) {
	return (await page.locator('#signin-error').textContent()).trim();
}

// ---- the tests ----

const ctx = {}; // shared between tests: contexts, pages, the session id

const tests = [
	['sign-in page: focus, then sign in to the home page', async () => {
		ctx.a = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		const page = ctx.page = await ctx.a.newPage();
		await page.goto(BASE + '/');
		require_(new URL(page.url()).pathname === '/auth-sign-in', 'GET / signed out goes to the sign-in page', page.url());
		const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
		require_(focused === 'username', 'the username field has focus', `focus: ${focused}`);
		require_(await alertText(page) === '', 'no error message on a fresh sign-in page');
		await page.fill('#username', USER_A);
		await page.fill('#password', PASS_A);
		await shot(page, '01-signin');
		await Promise.all([page.waitForNavigation(), page.press('#password', 'Enter')]);
		require_(new URL(page.url()).pathname === '/', 'signed in: on the home page', page.url());
		await page.locator('#empty').waitFor(timeoutOf(10000));
		const who = await page.locator('.who').textContent();
		require_(who.includes(USER_A), 'the home page says who is signed in', who);
		await shot(page, '02-home-empty');
	}],

	['new session: 1+1 shows [1] 2', async () => {
		const page = ctx.page;
		await Promise.all([page.waitForURL(/\/s\/[^/]+\/$/, timeoutOf(30000)), page.click('#new-session')]);
		ctx.sid = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]);
		await waitPrompt(page);
		require_(await page.evaluate(() => document.activeElement.id) === 'input', 'the console input has focus');
		await evalR(page, '1+1', '[1] 2');
		const txt = await outputText(page);
		require_(txt.includes('> 1+1'), 'the command is echoed after its prompt', txt.slice(-200));
		await shot(page, '03-console-1plus1');
	}],

	['an error is styled as stderr', async () => {
		const page = ctx.page;
		await evalR(page, 'stop("boom")', 'boom');
		const err = page.locator('#output .stderr', { hasText: 'boom' });
		require_(await err.count() > 0, 'the error text is in a .stderr span', (await outputText(page)).slice(-300));
		const colors = await page.evaluate(() => {
			const c = (sel) => { const e = document.querySelector(sel); return e && getComputedStyle(e).color; };
			return { stderr: c('#output .stderr'), stdout: c('#output .stdout') };
		});
		require_(colors.stderr && colors.stdout && colors.stderr !== colors.stdout,
			'stderr is coloured differently from stdout', JSON.stringify(colors));
		await shot(page, '04-console-stderr');
	}],

	['interrupting Sys.sleep(60): Esc, Ctrl+C and the button', async () => {
		const page = ctx.page;
		for (const how of ['Escape', 'Control+c', 'button']) {
			const t0 = Date.now();
			await type(page, 'Sys.sleep(60)');
			await page.locator('#busy').waitFor({ state: 'visible', timeout: 10000 });
			await sleep(300);
			if (how === 'button') {
				await page.click('#interrupt');
			} else {
				if (how === 'Escape') await shot(page, '05-console-busy');
				await page.locator('#input').press(how);
			}
			await waitPrompt(page, 15000);
			require_(Date.now() - t0 < 30000, `${how}: the prompt is back well before 60 s`, `${Date.now() - t0} ms`);
		}
		await evalR(page, '1+2', '[1] 3');
		await shot(page, '06-console-interrupted');
	}],

	['history: up arrow recalls commands, also after a reload', async () => {
		const page = ctx.page;
		await page.reload();
		await waitPrompt(page);
		const input = page.locator('#input');
		await input.click();
		await input.press('ArrowUp');
		let v = await input.inputValue();
		require_(v === '1+2', 'first ArrowUp after a reload recalls the last command', `got ${JSON.stringify(v)}`);
		await input.press('ArrowUp');
		v = await input.inputValue();
		require_(v === 'Sys.sleep(60)', 'second ArrowUp recalls the one before', `got ${JSON.stringify(v)}`);
		await input.press('ArrowDown');
		v = await input.inputValue();
		require_(v === '1+2', 'ArrowDown goes forward again', `got ${JSON.stringify(v)}`);
		for (let i = 0; i < 5; i++) await input.press('ArrowUp');
		v = await input.inputValue();
		require_(v === '1+1', 'ArrowUp back to 1+1', `got ${JSON.stringify(v)}`);
		await shot(page, '07-console-history');
		const before = (await outputText(page)).length;
		await input.press('Enter');
		await waitOutput(page, '[1] 2', EVAL_WAIT, before);
		await waitPrompt(page);
	}],

	['multi-line input: Shift+Enter, and a continuation prompt', async () => {
		const page = ctx.page;
		const input = page.locator('#input');
		await input.click();
		await input.type('f <- function(x) {');
		await input.press('Shift+Enter');
		await input.type('  x * 2');
		await input.press('Shift+Enter');
		await input.type('}');
		require_((await input.inputValue()).split('\n').length === 3, 'Shift+Enter adds lines');
		await input.press('Enter');
		await waitPrompt(page);
		await evalR(page, 'f(21)', '[1] 42');
		await type(page, 'c(1,');
		await waitPrompt(page, EVAL_WAIT, '+ ');
		await evalR(page, '2)', '[1] 1 2');
		await shot(page, '08-console-multiline');
	}],

	['plots: plot(1:10) shows in the plot panel; history, save and a larger copy', async () => {
		const page = ctx.page;
		await type(page, 'plot(1:10)');
		try {
			await page.locator('#plot-img').waitFor({ state: 'visible', timeout: EVAL_WAIT });
		} catch (e) {
			throw new Check('the plot panel shows an image', await page.locator('#side').evaluate((s) => s.outerHTML.slice(0, 400)));
		}
		await waitPrompt(page);
		const fit = await page.evaluate(() => {
			const img = document.getElementById('plot-img');
			const area = document.getElementById('plot-area').getBoundingClientRect();
			return { nw: img.naturalWidth, nh: img.naturalHeight, aw: Math.floor(area.width), ah: Math.floor(area.height),
				dpr: window.devicePixelRatio, complete: img.complete };
		});
		require_(fit.complete && fit.nw > 0, 'the image has loaded', JSON.stringify(fit));
		// Rendered for the panel: its pixels are the area's (device pixel ratio 1 here).
		require_(Math.abs(fit.nw - fit.aw * fit.dpr) <= 2 && Math.abs(fit.nh - fit.ah * fit.dpr) <= 2,
			'the PNG is rendered at the plot area\'s size', JSON.stringify(fit));
		require_(await page.locator('#plot-pos').textContent() === '1 / 1', 'one plot in the history');
		await shot(page, '08b-console-plot');
		// More on the same page replaces it; a new plot is a new entry.
		await type(page, 'lines(1:10, (1:10)^1.2, col = "red")');
		await waitPrompt(page);
		await type(page, 'hist(c(1, 2, 2, 3, 3, 3, 4, 4, 5), col = "steelblue")');
		await page.waitForFunction(() => document.getElementById('plot-pos').textContent === '2 / 2', null, timeoutOf(EVAL_WAIT));
		await waitPrompt(page);
		await page.click('#plot-prev');
		require_(await page.locator('#plot-pos').textContent() === '1 / 2', 'previous goes back to the first plot');
		require_(await page.locator('#plot-export').isDisabled(), 'only the current plot can be drawn again');
		await shot(page, '08c-console-plot-history');
		const [saved] = await Promise.all([page.waitForEvent('download', timeoutOf(10000)), page.click('#plot-save')]);
		const savedBytes = fs.readFileSync(await saved.path());
		require_(/\.png$/.test(saved.suggestedFilename()) && savedBytes.slice(1, 4).toString() === 'PNG',
			'Save PNG downloads the plot as a PNG', saved.suggestedFilename());
		await page.click('#plot-next');
		await page.click('#plot-export');
		const dlg = page.locator('dialog.export[open]');
		await dlg.waitFor(timeoutOf(5000));
		await dlg.locator('input').nth(0).fill('800');
		await dlg.locator('input').nth(1).fill('600');
		await dlg.locator('select').selectOption('2');
		await shot(page, '08d-console-plot-export');
		const [big] = await Promise.all([page.waitForEvent('download', timeoutOf(EVAL_WAIT)),
			dlg.locator('button[type=submit]').click()]);
		const b = fs.readFileSync(await big.path());
		const w = b.readUInt32BE(16), h = b.readUInt32BE(20);
		require_(b.slice(1, 4).toString() === 'PNG' && w === 1600 && h === 1200,
			'Larger… downloads the plot drawn again at 800 x 600, scale 2', `${big.suggestedFilename()}: ${w} x ${h}`);
		await dlg.waitFor({ state: 'detached', timeout: 5000 });
	}],

	['help: ?mean opens the help view', async () => {
		const page = ctx.page;
		await type(page, '?mean');
		try {
			await page.locator('#help').waitFor({ state: 'visible', timeout: EVAL_WAIT });
		} catch (e) {
			throw new Check('the help view opens', await page.locator('#side').evaluate((s) => s.outerHTML.slice(0, 400)));
		}
		await waitPrompt(page);
		const title = await page.locator('#help-title').textContent();
		const text = await page.locator('#help-text').textContent();
		require_(/mean/.test(title), 'the help view is titled for mean', title);
		require_(text.includes('Arithmetic Mean') && text.includes('Description:') && !text.includes('\b'),
			'the help page reads cleanly (headings without overstrikes)', text.slice(0, 300));
		require_(!(await outputText(page)).includes('Arithmetic Mean'), 'the help text is not in the console');
		require_(await page.locator('#help-text .ul').count() > 0, 'headings are styled');
		await shot(page, '08e-console-help');
		await page.click('#tab-plots');
		require_(await page.locator('#plot-img').isVisible(), 'the Plots tab shows the plot again');
		await page.click('#side-close');
		require_(await page.locator('#side').isHidden(), 'the panel closes');
		require_(await page.evaluate(() => document.activeElement.id) === 'input', 'closing it puts the cursor back');
		await page.click('#show-side');
		require_(await page.locator('#side').isVisible(), 'the Plots button opens it again');
	}],

	['readline("Name? "): typing Ada gives [1] "Ada"', async () => {
		const page = ctx.page;
		await type(page, 'readline("Name? ")');
		await waitPrompt(page, EVAL_WAIT, 'Name? ');
		await shot(page, '08f-console-readline');
		const before = (await outputText(page)).length;
		await type(page, 'Ada');
		await waitOutput(page, '[1] "Ada"', EVAL_WAIT, before);
		await waitPrompt(page);
		require_((await outputText(page)).includes('Name? Ada'), 'the answer is echoed after its prompt');
		// menu() asks the same way, and an interrupt cancels a question.
		await type(page, 'menu(c("tea", "coffee"))');
		await waitPrompt(page, EVAL_WAIT, 'Selection: ');
		await page.locator('#input').press('Escape');
		await waitPrompt(page, EVAL_WAIT);
	}],

	['large output: scrollback is capped and the console stays quick', async () => {
		const page = ctx.page;
		const t0 = Date.now();
		await evalR(page, 'cat(paste("line", 1:20000), sep = "\\n")', 'line 20000', 60000);
		const ms = Date.now() - t0;
		const lines = await page.evaluate(() => document.getElementById('output').textContent.split('\n').length);
		const trimmed = await page.evaluate(() => document.getElementById('output').dataset.trimmed);
		require_(lines <= 5002, 'at most 5000 lines kept', `${lines} lines`);
		require_(trimmed === '1', 'the output says older lines were dropped');
		require_(ms < 20000, '20000 lines shown within 20 s', `${ms} ms`);
		await evalR(page, '3*3', '[1] 9');
		say(`     (20000 lines in ${ms} ms, ${lines} kept)`);
		await shot(page, '09-console-large-output');
	}],

	['suspend from the home page; reopen restores the work', async () => {
		const page = ctx.page;
		await evalR(page, 'x <- 42; cat("x set\\n")', 'x set');
		await Promise.all([page.waitForURL(BASE + '/'), page.click('a.brand')]);
		const row = page.locator(`tr[data-id="${ctx.sid}"]`);
		await row.waitFor(timeoutOf(10000));
		await row.locator('[data-action=suspend]').click();
		try {
			await row.locator('.pill.suspended').waitFor(timeoutOf(60000));
		} catch (e) {
			throw new Check('the session shows as Suspended on the home page', await row.textContent(),
				await page.locator('#message').textContent());
		}
		await shot(page, '10-home-suspended');
		await Promise.all([page.waitForURL(/\/s\//), row.locator('[data-action=open]').click()]);
		try {
			await page.locator('#banner', { hasText: 'Session restored from your saved work on' }).waitFor(timeoutOf(RUN_WAIT));
		} catch (e) {
			throw new Check('the console says the session was restored', await page.locator('#banner').textContent());
		}
		await waitPrompt(page);
		await shot(page, '11-console-restored');
		await evalR(page, 'x', '[1] 42');
		await evalR(page, 'f(4)', '[1] 8');
	}],

	['the plot is back after the suspend and resume', async () => {
		const page = ctx.page;
		try {
			await page.locator('#plot-img').waitFor({ state: 'visible', timeout: EVAL_WAIT });
		} catch (e) {
			throw new Check('the resumed session shows its last plot', await page.locator('#side').evaluate((s) => s.outerHTML.slice(0, 400)));
		}
		require_(await page.evaluate(() => document.getElementById('plot-img').naturalWidth) > 0, 'the image has loaded');
		require_(!(await outputText(page)).includes('could not be restored'), 'nothing says the plot was lost');
		await shot(page, '11b-console-restored-plot');
	}],

	['notification: shown, dismissed in one tab, gone in the other and after a reload', async () => {
		const page = ctx.page;
		const notice = page.locator('.notice', { hasText: NOTICE });
		try {
			await notice.waitFor(timeoutOf(15000));
		} catch (e) {
			throw new Check('the notification banner shows', await page.locator('#notices').innerHTML());
		}
		const other = await ctx.a.newPage();
		await other.goto(page.url());
		await other.locator('.notice', { hasText: NOTICE }).waitFor(timeoutOf(15000));
		await shot(page, '12-console-notification');
		await notice.locator('button').click();
		await notice.waitFor({ state: 'detached', timeout: 10000 });
		try {
			await other.locator('.notice').waitFor({ state: 'detached', timeout: 10000 });
		} catch (e) {
			throw new Check('the banner disappears from the other tab too');
		}
		await other.close();
		await page.reload();
		await waitPrompt(page);
		await sleep(1000);
		require_(await page.locator('.notice').count() === 0, 'after a reload the dismissed notification stays away');
		await shot(page, '13-console-notification-dismissed');
	}],

	['suspend from the console: a banner, and typing resumes', async () => {
		const page = ctx.page;
		await page.click('#suspend');
		try {
			await page.locator('#banner', { hasText: 'This session is suspended.' }).waitFor(timeoutOf(60000));
		} catch (e) {
			throw new Check('the suspended banner shows', await page.locator('#banner').textContent());
		}
		const said = await page.locator('#banner').textContent();
		require_(!/\b(null|undefined)\b/.test(said), 'the banner reads cleanly', said);
		await shot(page, '14-console-suspended');
		await type(page, 'x + 1');
		await page.locator('#banner', { hasText: 'Session restored from your saved work on' }).waitFor(timeoutOf(RUN_WAIT));
		await waitOutput(page, '[1] 43', RUN_WAIT);
		await waitPrompt(page);
	}],

	['the console reconnects by itself when rserver restarts', async () => {
		const page = ctx.page;
		await stopServer();
		try {
			await page.locator('#banner', { hasText: 'Connection lost' }).waitFor(timeoutOf(15000));
		} catch (e) {
			throw new Check('a lost connection is shown', await page.locator('#banner').textContent());
		}
		// Typed while disconnected: sent once the connection is back.
		await type(page, 'y <- x + 8');
		await page.locator('#banner', { hasText: '1 command waits' }).waitFor(timeoutOf(5000));
		await shot(page, '15-console-reconnecting');
		await startServer();
		try {
			await page.waitForFunction(() => !/Connection lost/.test(document.getElementById('banner').textContent)
				|| document.getElementById('banner').hidden, null, timeoutOf(60000));
		} catch (e) {
			throw new Check('the console reconnects within 60 s', await page.locator('#banner').textContent());
		}
		await waitPrompt(page);
		await evalR(page, 'x * 2', '[1] 84');
		await evalR(page, 'y', '[1] 50');
		const txt = await outputText(page);
		require_(txt.includes('> y <- x + 8'), 'the input typed while disconnected is echoed when R reads it', txt.slice(-300));
	}],

	['sign-in with exactly one running session goes straight to it', async () => {
		const c = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		try {
			const page = await c.newPage();
			await signIn(page, USER_A, PASS_A);
			await page.waitForURL(new RegExp(`/s/${ctx.sid}/$`), timeoutOf(15000));
			await waitPrompt(page);
		} finally {
			await c.close();
		}
	}],

	['phone width (and dark): sign-in, home and console fit the screen', async () => {
		const c = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
			deviceScaleFactor: 2, colorScheme: 'dark' });
		try {
			const page = await c.newPage();
			await page.goto(BASE + '/auth-sign-in');
			await shot(page, '16-phone-signin-dark');
			await signIn(page, USER_A, PASS_A);
			await waitPrompt(page);
			await evalR(page, 'summary(c(1, 5, 9))', 'Median');
			const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
			require_(await overflow() <= 0, 'console: no sideways scrolling', `${await overflow()} px too wide`);
			await shot(page, '16-phone-console-dark');
			// Help takes the whole screen on a phone, and closes again.
			await type(page, '?mean');
			await page.locator('#help').waitFor({ state: 'visible', timeout: EVAL_WAIT });
			await waitPrompt(page);
			const box = await page.locator('#side').boundingBox();
			require_(box && box.width >= 389 && box.height >= 800, 'help covers the phone screen', JSON.stringify(box));
			require_(await overflow() <= 0, 'help: no sideways scrolling', `${await overflow()} px too wide`);
			await shot(page, '16b-phone-help-dark');
			await page.click('#side-close');
			// Closing is not instant on a loaded machine: wait for it.
			const closed = await page.locator('#side').waitFor({ state: 'hidden', timeout: 5000 })
				.then(() => true, () => false);
			require_(closed, 'the help closes');
			await page.goto(BASE + '/');
			await page.locator(`tr[data-id="${ctx.sid}"]`).waitFor(timeoutOf(10000));
			require_(await overflow() <= 0, 'home: no sideways scrolling', `${await overflow()} px too wide`);
			await shot(page, '17-phone-home-dark');
		} finally {
			await c.close();
		}
	}],

	['wrong password, then lockout with how long', async () => {
		const c = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		try {
			const page = await c.newPage();
			await signIn(page, USER_B, 'not-the-password');
			let u = new URL(page.url());
			require_(u.pathname === '/auth-sign-in' && u.searchParams.get('error') === '1',
				'a wrong password comes back to the sign-in page with error=1', page.url());
			let msg = await alertText(page);
			require_(/incorrect username or password/i.test(msg), 'it says the username or password is wrong', msg);
			require_(await page.inputValue('#username') === USER_B, 'the username is kept');
			require_(await page.evaluate(() => document.activeElement.id) === 'password', 'the password field has focus');
			await shot(page, '18-signin-wrong-password');
			for (let i = 1; i < LOCKOUT_ATTEMPTS; i++) await signIn(page, USER_B, 'not-the-password-' + i);
			await signIn(page, USER_B, PASS_B);
			u = new URL(page.url());
			msg = await alertText(page);
			require_(u.searchParams.get('error') === '2', 'after the failures even the right password is locked out', page.url());
			require_(/locked/i.test(msg) && /try again in [1-5] minutes?/i.test(msg), 'it says how long the lockout lasts', msg);
			await shot(page, '19-signin-locked');
			// Refused by auth-minimum-user-id or auth-required-user-group.
			await page.goto(BASE + '/auth-sign-in?error=4');
			msg = await alertText(page);
			require_(/not permitted/i.test(msg), 'error=4 says the account is not permitted here', msg);
		} finally {
			await c.close();
		}
	}],

	['quit from the home page asks first', async () => {
		const page = ctx.page;
		await page.goto(BASE + '/');
		const row = page.locator(`tr[data-id="${ctx.sid}"]`);
		await row.locator('[data-action=quit]').waitFor(timeoutOf(10000));
		await row.locator('[data-action=quit]').click();
		const dlg = page.locator('dialog[open]');
		await dlg.waitFor(timeoutOf(5000));
		await shot(page, '20-home-quit-confirm');
		await dlg.locator('button', { hasText: 'Cancel' }).click();
		await dlg.waitFor({ state: 'detached', timeout: 5000 });
		require_(await row.locator('.pill.running').count() === 1, 'Cancel leaves the session running');
		await row.locator('[data-action=quit]').click();
		await page.locator('dialog[open] button', { hasText: 'Quit session' }).click();
		try {
			await row.locator('.pill.exited').waitFor(timeoutOf(60000));
		} catch (e) {
			throw new Check('the session shows as Exited', await row.textContent());
		}
		await shot(page, '21-home-quit');
	}],

	['system messages: changed in rserver.conf, reloaded with SIGHUP, shown', async () => {
		const page = ctx.page;
		const before = fs.readFileSync(LOG, 'utf8').length;
		fs.appendFileSync(CONF + '/rserver.conf',
			'server-public-warning=<b id="pw">Maintenance</b> tonight at 22:00\n'
			+ 'server-logged-in-warning=<i id="lw">Please save your work</i>\n');
		server.kill('SIGHUP');
		const deadline = Date.now() + 10000;
		while (!/Reloaded the configuration/.test(fs.readFileSync(LOG, 'utf8').slice(before)) && Date.now() < deadline)
			await sleep(100);
		await page.goto(BASE + '/');
		const lw = await page.locator('#system-message #lw').textContent(timeoutOf(5000)).catch(() => null);
		require_(lw === 'Please save your work', 'home shows server-logged-in-warning as HTML after the reload', String(lw));
		await page.goto(BASE + `/s/${ctx.sid}/`);
		require_(await page.locator('#system-message #lw').count() === 1, 'the console page shows it too');
		await shot(page, '21b-logged-in-warning');
		const c = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		try {
			const p2 = await c.newPage();
			await p2.goto(BASE + '/auth-sign-in');
			const pw = await p2.locator('#system-message #pw').textContent(timeoutOf(5000)).catch(() => null);
			require_(pw === 'Maintenance', 'the sign-in page shows server-public-warning as HTML', String(pw));
			await shot(p2, '21c-public-warning');
		} finally {
			await c.close();
		}
	}],

	['admin dashboard: a session appears, suspend it, its state changes', async () => {
		const page = ctx.page;
		// A (in admin-group) starts a session through the API, then watches
		// it appear on the dashboard. (B is locked out by an earlier test.)
		await page.goto(BASE + '/');
		const sid = await page.evaluate(async () => {
			const r = await fetch('/api/sessions', { method: 'POST',
				headers: { 'X-RS-CSRF-Token': document.body.dataset.csrf } });
			return (await r.json()).id;
		});
		require_(/^[0-9a-f]{16}$/.test(String(sid)), 'a new session was created', String(sid));
		await page.goto(BASE + '/admin');
		const row = page.locator(`#admin-sessions tr[data-id="${sid}"]`);
		await row.waitFor(timeoutOf(15000));
		await page.waitForFunction((id) => {
			const r = document.querySelector(`#admin-sessions tr[data-id="${id}"] td.state`);
			return r && r.textContent.startsWith('running');
		}, sid, timeoutOf(RUN_WAIT));
		require_((await row.textContent()).includes(USER_A), 'the dashboard shows the session with its user');
		await shot(page, '21d-admin-dashboard');
		page.once('dialog', (d) => d.accept());
		await row.locator('button[data-action=suspend]').click();
		try {
			await page.waitForFunction((id) => {
				const r = document.querySelector(`#admin-sessions tr[data-id="${id}"] td.state`);
				return r && r.textContent.startsWith('suspended');
			}, sid, timeoutOf(60000));
		} catch (e) {
			throw new Check('the dashboard shows the session suspended', await row.textContent());
		}
		ok('the dashboard shows the session suspended');
		await shot(page, '21e-admin-suspended');
	}],

	['sign out', async () => {
		const page = ctx.page;
		await page.goto(BASE + '/');
		await Promise.all([page.waitForURL(/\/auth-sign-in/), page.click('a.signout')]);
		await shot(page, '22-signed-out');
		await page.goto(BASE + '/');
		require_(new URL(page.url()).pathname === '/auth-sign-in', 'after signing out / asks to sign in again', page.url());
	}],
];

// ---- main ----

async function main() {
	const { chromium } = require('playwright-core');
	const only = process.env.E2E_ONLY ? process.env.E2E_ONLY.split(',') : null;
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	for (const f of fs.readdirSync(ARTIFACTS)) if (f.endsWith('.png')) fs.unlinkSync(path.join(ARTIFACTS, f));
	const t0 = Date.now();
	try {
		await setup();
		await startServer();
		ok('rserver starts');
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			headless: true,
			args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
				'--disable-component-update', '--disable-sync', '--no-first-run'],
		});
		const bp = browser.process && browser.process();
		browserPid = bp ? bp.pid : 0;
		ok(`chromium ${browser.version()} starts`);
	} catch (e) {
		fail('setup', e.stack || e);
		return;
	}
	const pageErrors = [];
	let closing = false;
	browser.on('disconnected', () => { if (!closing) say('     (the browser went away)'); });
	for (const [name, fn] of tests) {
		if (only && !only.some((o) => name.includes(o))) continue;
		const t = Date.now();
		const logMark = fs.statSync(LOG).size;
		try {
			if (ctx.page && !ctx.page.__watched) {
				ctx.page.__watched = true;
				ctx.page.on('pageerror', (e) => pageErrors.push(e.message));
				ctx.page.on('console', (m) => {
					// A WebSocket refused while rserver restarts is expected.
					if (m.type() === 'error' && !/WebSocket connection/.test(m.text())) pageErrors.push(m.text());
				});
				if (process.env.E2E_DEBUG) {
					ctx.page.on('websocket', (ws) => ws.on('framereceived',
						(f) => say('     << ' + String(f.payload).slice(0, 200))));
				}
			}
			await fn();
			ok(`${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
		} catch (e) {
			const what = e instanceof Check ? e.message : (e.stack || String(e));
			fail(name, what, '-- rserver log since this test began --',
				fs.readFileSync(LOG, 'utf8').slice(logMark).split('\n').slice(-15).join('\n'));
			if (ctx.page) await shot(ctx.page, 'failed-' + name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40));
		}
	}
	if (pageErrors.length) fail('no script errors in the pages', ...pageErrors.slice(0, 10));
	else ok('no script errors in the pages');
	closing = true;
	try { await browser.close(); } catch (e) { /* killed below */ }
	const text = fs.readFileSync(LOG, 'utf8');
	if (text.includes('Sanitizer')) fail('no sanitizer reports', ...text.split('\n').filter((l) => l.includes('Sanitizer')).slice(0, 10));
	say(`     (total ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS})`);
}

if (process.getuid() !== 0) {
	say('SKIP e2e: needs root (throwaway users, PAM, sessions as users)');
	say('0 passed, 0 failed');
	process.exit(0);
}
for (const v of ['RSERVER', 'LAUNCHER', 'RSESSION']) {
	if (!process.env[v]) { say(`e2e: set ${v}`); process.exit(2); }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
	process.on(sig, () => { say(`e2e: ${sig}: cleaning up`); cleanup(); process.exit(128 + os.constants.signals[sig]); });
}
const watchdog = setTimeout(() => {
	fail('the whole run finishes in time', `still running after ${WATCHDOG_MS / 1000} s`);
	say(`${passed} passed, ${failed} failed`);
	cleanup();
	process.exit(1);
}, WATCHDOG_MS);
main().catch((e) => fail('harness', e.stack || e)).finally(() => {
	clearTimeout(watchdog);
	if (failed) say('---- rserver log (last 40 lines) ----\n' + logTail(40));
	cleanup();
	say(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
});
