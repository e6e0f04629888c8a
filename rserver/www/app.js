// rserver's pages: sign-in, the session list (home) and the R console.
// Plain JavaScript, no build step and no libraries; served from
// /static/app.js under a Content-Security-Policy that forbids inline
// scripts and styles. Each page says which it is in <body data-page>.
'use strict';

const csrf = document.body.dataset.csrf || '';

// Set by the sign-in form, read once by the home page: a sign-in that lands
// on / goes straight to the user's only running session.
const AFTER_SIGNIN = 'rs-after-signin';
const SIGNIN_USER = 'rs-signin-user';

function storage(kind) {
	try { return kind === 'local' ? window.localStorage : window.sessionStorage; } catch (e) { return null; }
}

async function api(method, path) {
	const res = await fetch(path, {
		method,
		headers: method === 'GET' ? {} : { 'X-RS-CSRF-Token': csrf },
		credentials: 'same-origin',
	});
	let body = null;
	try { body = await res.json(); } catch (e) { /* not JSON */ }
	if (res.status === 401) {
		// Signed out (or the sign-in expired): sign in again, then come back.
		window.location.href = '/auth-sign-in?appUri=' + encodeURIComponent(location.pathname);
		throw new Error('You are signed out.');
	}
	if (!res.ok) {
		const err = new Error((body && body.error) || res.status + ' ' + res.statusText);
		err.status = res.status;
		throw err;
	}
	return body;
}

function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'class') e.className = v;
		else if (k === 'text') e.textContent = v;
		else e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children) if (c !== null && c !== undefined) e.append(c);
	return e;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const longDateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeStyle: 'short' });

function parseTime(t) {
	const d = t ? new Date(t) : null;
	return d && !isNaN(d) ? d : null;
}

function when(t) {
	const d = parseTime(t);
	return d ? dateFormat.format(d) : '';
}

function ago(t) {
	const d = parseTime(t);
	if (!d) return '';
	const s = Math.round((Date.now() - d.getTime()) / 1000);
	if (s < 45) return 'just now';
	if (s < 90 * 60) return Math.max(1, Math.round(s / 60)) + ' min ago';
	if (s < 24 * 3600) return Math.round(s / 3600) + ' h ago';
	return dateFormat.format(d);
}

function bytes(n) {
	if (typeof n !== 'number' || !isFinite(n)) return '';
	const units = ['B', 'KB', 'MB', 'GB', 'TB'];
	let i = 0;
	while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
	return (n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
}

const STATE_LABELS = {
	starting: 'Starting', resuming: 'Resuming', running: 'Running', suspending: 'Suspending',
	suspended: 'Suspended', exited: 'Exited',
};

// A modal confirmation (<dialog>: focus moves in, Esc cancels, focus comes
// back). Resolves true when confirmed.
function confirmBox(title, text, okLabel) {
	return new Promise((resolve) => {
		const ok = el('button', { type: 'button', class: 'danger', text: okLabel });
		const cancel = el('button', { type: 'button', text: 'Cancel' });
		const titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
		const dlg = el('dialog', { class: 'confirm', 'aria-labelledby': titleId },
			el('h2', { id: titleId, text: title }), el('p', { text: text }),
			el('div', { class: 'dialog-actions' }, cancel, ok));
		const back = document.activeElement;
		let answer = false;
		ok.addEventListener('click', () => { answer = true; dlg.close(); });
		cancel.addEventListener('click', () => dlg.close());
		dlg.addEventListener('close', () => {
			dlg.remove();
			if (back && back.isConnected) back.focus();
			resolve(answer);
		});
		document.body.append(dlg);
		dlg.showModal();
		cancel.focus();
	});
}

// ---- sign-in ----------------------------------------------------------------

function signinPage() {
	const form = document.getElementById('signin-form');
	const user = document.getElementById('username');
	const pass = document.getElementById('password');
	const error = document.getElementById('signin-error');
	const caps = document.getElementById('caps');
	const ss = storage('session');

	if (ss) ss.removeItem(AFTER_SIGNIN);
	// After a refusal, keep the name typed and put the cursor on the password.
	const remembered = ss && ss.getItem(SIGNIN_USER);
	if (error.textContent.trim() && remembered && !user.value) user.value = remembered;
	(user.value ? pass : user).focus();

	const capsCheck = (ev) => {
		if (ev.getModifierState) caps.hidden = !ev.getModifierState('CapsLock');
	};
	pass.addEventListener('keydown', capsCheck);
	pass.addEventListener('keyup', capsCheck);
	pass.addEventListener('blur', () => { caps.hidden = true; });

	form.addEventListener('submit', () => {
		if (ss) {
			ss.setItem(AFTER_SIGNIN, String(Date.now()));
			ss.setItem(SIGNIN_USER, user.value);
		}
		const b = document.getElementById('signin-submit');
		// Disabled after the submit has been taken, so the form still posts.
		setTimeout(() => { b.disabled = true; b.textContent = 'Signing in…'; }, 0);
	});
}

// ---- home -------------------------------------------------------------------

function homePage() {
	const table = document.getElementById('sessions');
	const tbody = table.querySelector('tbody');
	const message = document.getElementById('message');
	const empty = document.getElementById('empty');
	const loading = document.getElementById('loading');
	const newButton = document.getElementById('new-session');
	const ss = storage('session');
	// Only straight from the sign-in form (the flag is never older than
	// the redirect that follows it).
	let afterSignin = ss && Date.now() - Number(ss.getItem(AFTER_SIGNIN) || 0) < 60000;
	let last = '';
	let timer = null;
	let acted = 0; // when the user last suspended or quit a session
	if (ss) ss.removeItem(AFTER_SIGNIN);

	const say = (text) => { message.textContent = text || ''; };

	function row(s) {
		const tr = el('tr', { 'data-id': s.id, 'data-state': s.state });
		const open = el('a', { href: '/s/' + encodeURIComponent(s.id) + '/', class: 'session-link' },
			el('code', { text: s.id }));
		// Why it stopped, unless that only repeats the state.
		const reason = (s.state === 'exited' || s.state === 'suspended') && s.exit_reason
			&& s.exit_reason.toLowerCase() !== s.state ? s.exit_reason : '';
		const note = reason ? el('div', { class: 'note', text: reason[0].toUpperCase() + reason.slice(1) }) : null;
		const mem = typeof s.rss_bytes === 'number' && s.state === 'running' ? bytes(s.rss_bytes) : '—';
		const actions = el('td', { class: 'actions' });
		const openLabel = s.state === 'exited' ? 'Start' : s.state === 'suspended' ? 'Resume' : 'Open';
		actions.append(el('a', { href: '/s/' + encodeURIComponent(s.id) + '/', class: 'button',
			'data-action': 'open', 'aria-label': openLabel + ' session ' + s.id, text: openLabel }));
		if (s.state === 'running') {
			for (const what of ['suspend', 'quit']) {
				const label = what === 'suspend' ? 'Suspend' : 'Quit';
				const b = el('button', { type: 'button', 'data-action': what,
					'aria-label': label + ' session ' + s.id, text: label,
					class: what === 'quit' ? 'danger-quiet' : null });
				b.addEventListener('click', () => act(s, what, b));
				actions.append(b);
			}
		}
		tr.append(
			el('td', { 'data-label': 'Session' }, open),
			el('td', { 'data-label': 'State' },
				el('span', { class: 'pill ' + s.state, text: STATE_LABELS[s.state] || s.state }), note),
			el('td', { 'data-label': 'Started' }, el('time', { datetime: s.started || '', text: when(s.started) })),
			el('td', { 'data-label': 'Last activity' },
				el('time', { datetime: s.last_activity || '', title: when(s.last_activity), text: ago(s.last_activity) })),
			el('td', { 'data-label': 'Memory', class: 'num' }, mem),
			actions);
		return tr;
	}

	async function act(s, what, button) {
		if (what === 'quit' && !await confirmBox('Quit session ' + s.id + '?',
			'R stops and everything in this session that is not saved to a file is lost. '
			+ 'To keep your work for later, suspend the session instead.', 'Quit session')) return;
		button.disabled = true;
		acted = Date.now();
		say('');
		try {
			await api('POST', '/api/sessions/' + encodeURIComponent(s.id) + '/' + what);
		} catch (e) {
			say('Could not ' + what + ' session ' + s.id + ': ' + e.message);
		}
		refresh().finally(schedule);
	}

	async function refresh() {
		let list;
		try {
			list = await api('GET', '/api/sessions');
		} catch (e) {
			say('Could not load your sessions: ' + e.message);
			return;
		}
		loading.hidden = true;
		if (afterSignin) {
			afterSignin = false;
			const live = list.filter((s) => s.state !== 'exited');
			if (live.length === 1 && live[0].state === 'running') {
				window.location.replace('/s/' + encodeURIComponent(live[0].id) + '/');
				return;
			}
		}
		const text = JSON.stringify(list) + '|' + Math.floor(Date.now() / 30000);
		if (text === last) return;
		last = text;
		// Rebuilt whole; keyboard focus stays on the same control.
		const f = document.activeElement;
		const fid = f && f.closest && f.closest('tr') && f.closest('tr').dataset.id;
		const faction = f && f.dataset && f.dataset.action;
		tbody.replaceChildren(...list.slice().reverse().map(row));
		table.hidden = list.length === 0;
		empty.hidden = list.length > 0;
		if (fid && faction) {
			const again = tbody.querySelector('tr[data-id="' + CSS.escape(fid) + '"] [data-action="' + faction + '"]');
			if (again) again.focus();
		}
	}

	// Every 5 s; every second while a session is on its way somewhere.
	function schedule() {
		clearTimeout(timer);
		const moving = /"state":"(starting|resuming|suspending)"/.test(last) || Date.now() - acted < 10000;
		if (!document.hidden) timer = setTimeout(() => refresh().finally(schedule), moving ? 1000 : 5000);
	}

	newButton.addEventListener('click', async () => {
		newButton.disabled = true;
		say('');
		try {
			const r = await api('POST', '/api/sessions');
			window.location.href = '/s/' + encodeURIComponent(r.id) + '/';
		} catch (e) {
			say('Could not start a session: ' + e.message);
			newButton.disabled = false;
		}
	});
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden) refresh();
		schedule();
	});
	refresh().finally(schedule);
}

// ---- console ----------------------------------------------------------------

const MAX_LINES = 5000; // console scrollback kept in the page
const MAX_CHARS = 2000000;
const MAX_HISTORY = 500;
const MAX_PLOTS = 30; // plot history kept in the page

function consolePage() {
	const id = document.body.dataset.session;
	const pane = document.getElementById('pane');
	const output = document.getElementById('output');
	const input = document.getElementById('input');
	const promptEl = document.getElementById('prompt');
	const stateEl = document.getElementById('state');
	const busyEl = document.getElementById('busy');
	const banner = document.getElementById('banner');
	const notices = document.getElementById('notices');
	const interruptButton = document.getElementById('interrupt');
	const suspendButton = document.getElementById('suspend');
	const ls = storage('local');
	const historyKey = 'rs-history:' + id;

	let ws = null;
	let retry = 0; // reconnect attempts since the last good connection
	let retryTimer = null;
	let state = '';
	let busy = false;
	let restoredNote = null; // "Session restored …", kept until the next command
	let stopped = false; // do not reconnect (the session is gone)
	const echoes = []; // input lines sent, echoed when R reads each
	const outbox = []; // input typed while disconnected: {msg, lines}

	// ---- output: batched, with a bounded scrollback ----
	let pending = [];
	let flushTimer = null;
	const chunks = []; // {node: Text, cls, lines, chars}, oldest first
	let totalLines = 0, totalChars = 0;

	function countLines(t) {
		let n = 0;
		for (let i = t.indexOf('\n'); i >= 0; i = t.indexOf('\n', i + 1)) n++;
		return n;
	}

	function write(text, cls) {
		if (!text) return;
		pending.push([text, cls]);
		if (!flushTimer) flushTimer = setTimeout(flush, 16);
	}

	function flush() {
		flushTimer = null;
		const atEnd = atBottom();
		for (const [text, cls] of pending) {
			const lastChunk = chunks[chunks.length - 1];
			const lines = countLines(text);
			if (lastChunk && lastChunk.cls === cls && output.lastChild === lastChunk.span) {
				lastChunk.node.appendData(text);
				lastChunk.lines += lines;
				lastChunk.chars += text.length;
			} else {
				const node = document.createTextNode(text);
				const span = el('span', { class: cls }, node);
				output.append(span);
				chunks.push({ span, node, cls, lines, chars: text.length });
			}
			totalLines += lines;
			totalChars += text.length;
		}
		pending = [];
		trim();
		if (atEnd) toBottom();
	}

	function atBottom() {
		return pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 24;
	}

	function toBottom() {
		pane.scrollTop = pane.scrollHeight;
	}

	function trim() {
		while (chunks.length > 1 && (totalLines - chunks[0].lines >= MAX_LINES
			|| totalChars - chunks[0].chars >= MAX_CHARS)) {
			const c = chunks.shift();
			c.span.remove();
			totalLines -= c.lines;
			totalChars -= c.chars;
			output.dataset.trimmed = '1';
		}
		const c = chunks[0];
		if (!c || (totalLines <= MAX_LINES && totalChars <= MAX_CHARS)) return;
		let t = c.node.data;
		if (totalLines > MAX_LINES) {
			let cut = -1;
			for (let k = totalLines - MAX_LINES; k > 0; k--) cut = t.indexOf('\n', cut + 1);
			t = t.slice(cut + 1);
		}
		if (totalChars - c.chars + t.length > MAX_CHARS) t = t.slice(totalChars - c.chars + t.length - MAX_CHARS);
		const lines = countLines(t);
		totalLines += lines - c.lines;
		totalChars += t.length - c.chars;
		c.node.data = t;
		c.lines = lines;
		c.chars = t.length;
		output.dataset.trimmed = '1';
	}

	function clearOutput() {
		pending = [];
		chunks.length = 0;
		totalLines = totalChars = 0;
		output.replaceChildren();
		delete output.dataset.trimmed;
	}

	// ---- state, banner ----
	function showBanner(kind, parts, actions) {
		banner.hidden = false;
		banner.className = 'banner ' + kind;
		banner.querySelector('.banner-text').replaceChildren(...parts.filter((p) => p !== null));
		banner.querySelector('.banner-actions').replaceChildren(...(actions || []));
	}

	function hideBanner() {
		banner.hidden = true;
	}

	function button(label, onClick, cls) {
		const b = el('button', { type: 'button', text: label, class: cls });
		b.addEventListener('click', onClick);
		return b;
	}

	function setPill(label, cls) {
		stateEl.textContent = label;
		stateEl.className = 'pill ' + cls;
	}

	function setBusy(b) {
		busy = b;
		busyEl.hidden = !b;
		document.body.classList.toggle('is-busy', b);
	}

	function savedOn(detail) {
		const m = /^saved (.+)$/.exec(detail || '');
		const d = m && parseTime(m[1]);
		return d ? 'Session restored from your saved work on ' + longDateFormat.format(d) + '.'
			: 'Session restored from your saved work.';
	}

	function onState(s, detail) {
		state = s;
		setPill(STATE_LABELS[s] || s, s);
		// A new R process numbers its pages afresh; a running one needs
		// the plot area's size (it may be new, or just reconnected).
		if (s === 'starting' || s === 'resuming') epoch++;
		if (s === 'running') sendPlotSize(true);
		renderPlots();
		suspendButton.disabled = interruptButton.disabled = s !== 'running';
		if (s !== 'running') {
			// R reads nothing now; what is typed is echoed at its next prompt.
			setBusy(false);
			promptEl.textContent = '';
		}
		switch (s) {
		case 'starting':
			showBanner('info', [el('strong', { text: 'Starting R…' })]);
			break;
		case 'resuming':
			// rsession repeats the state without the detail rserver gave.
			if (detail || !restoredNote) restoredNote = savedOn(detail);
			showBanner('info', [el('strong', { text: restoredNote }), ' Loading it back into R…']);
			break;
		case 'running':
			if (restoredNote) {
				showBanner('info', [el('strong', { text: restoredNote })],
					[button('Dismiss', () => { restoredNote = null; hideBanner(); input.focus(); }, 'quiet')]);
			} else {
				hideBanner();
			}
			break;
		case 'suspending':
			showBanner('info', [el('strong', { text: 'Saving your work and suspending R…' })]);
			break;
		case 'suspended':
			restoredNote = null;
			showBanner('warn', [el('strong', { text: 'This session is suspended.' }),
				detail && detail !== 'suspended' ? el('span', { class: 'detail', text: ' (' + detail + ')' }) : null,
				' Your work is saved; it comes back when you type a command or resume.'],
			[button('Resume', () => reconnectNow(true), 'primary')]);
			break;
		case 'exited':
			restoredNote = null;
			showBanner('error', [el('strong', { text: 'R has exited.' }),
				detail ? el('span', { class: 'detail', text: ' Reason: ' + detail + '.' }) : null,
				' Start R again to keep working here.'],
			[button('Start R again', () => reconnectNow(true), 'primary')]);
			break;
		default:
			hideBanner();
		}
	}

	// ---- the WebSocket ----
	function send(obj) {
		if (ws && ws.readyState === WebSocket.OPEN) {
			ws.send(JSON.stringify(obj));
			return true;
		}
		return false;
	}

	function connect() {
		clearTimeout(retryTimer);
		retryTimer = null;
		if (stopped) return;
		const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
		const sock = new WebSocket(scheme + '//' + location.host + '/s/' + encodeURIComponent(id) + '/console');
		ws = sock;
		setPill(retry ? 'Reconnecting' : 'Connecting', 'connecting');
		sock.onopen = () => {
			if (ws !== sock) return;
			retry = 0;
			// The server replays recent output and the unacknowledged notices.
			clearOutput();
			notices.replaceChildren();
			echoes.length = 0;
			while (outbox.length) {
				const o = outbox.shift();
				if (send(o.msg)) echoes.push(...o.lines);
			}
		};
		sock.onmessage = (ev) => {
			if (ws !== sock) return;
			let m;
			try { m = JSON.parse(ev.data); } catch (e) { return; }
			onMessage(m);
		};
		sock.onclose = (ev) => {
			if (ws !== sock) return;
			ws = null;
			setBusy(false);
			if (ev.code === 1008 || ev.code === 1009) {
				stopped = true;
				setPill('Disconnected', 'exited');
				showBanner('error', [el('strong', { text: 'Disconnected by the server.' }),
					ev.reason ? ' ' + ev.reason : ''], [button('Reload', () => location.reload(), 'primary')]);
				return;
			}
			scheduleReconnect();
		};
	}

	function scheduleReconnect() {
		if (stopped || retryTimer) return;
		retry++;
		// 0.5 s, 1 s, 2 s … up to 15 s, with some jitter.
		const delay = Math.min(15000, 500 * 2 ** Math.min(retry - 1, 5)) * (0.8 + Math.random() * 0.4);
		setPill('Reconnecting', 'connecting');
		suspendButton.disabled = interruptButton.disabled = true;
		lostBanner(delay);
		retryTimer = setTimeout(async () => {
			retryTimer = null;
			// A suspended session is resumed by connecting: not from a
			// tab nobody is looking at. An exited one would start afresh.
			if (state === 'exited' || (state === 'suspended' && document.hidden)) return;
			if (retry >= 3 && !await stillThere()) return;
			connect();
		}, delay);
	}

	function lostBanner(delay) {
		if (state === 'exited' || stopped) return;
		const waiting = outbox.length;
		showBanner('warn', [el('strong', { text: 'Connection lost.' }),
			' Reconnecting' + (retry > 1 && delay ? ' in ' + Math.round(delay / 1000) + ' s' : '') + '…',
			waiting ? ' ' + waiting + (waiting === 1 ? ' command waits' : ' commands wait') + ' to be sent.' : ''],
		[button('Reconnect now', () => reconnectNow(true))]);
	}

	// After repeated failures: signed out (api() goes to the sign-in page)
	// or the session gone?
	async function stillThere() {
		try {
			const list = await api('GET', '/api/sessions');
			if (!list.some((s) => s.id === id)) {
				stopped = true;
				setPill('Gone', 'exited');
				showBanner('error', [el('strong', { text: 'This session no longer exists.' })],
					[el('a', { href: '/', class: 'button primary', text: 'Your sessions' })]);
				return false;
			}
		} catch (e) {
			if (e.status === undefined) { scheduleReconnect(); return false; } // server unreachable
		}
		return true;
	}

	function reconnectNow(force) {
		if (ws && ws.readyState <= WebSocket.OPEN && !force) return;
		stopped = false;
		retry = 0;
		clearTimeout(retryTimer);
		retryTimer = null;
		if (ws) {
			const old = ws;
			ws = null;
			old.close();
		}
		connect();
		input.focus();
	}

	function onMessage(m) {
		switch (m.type) {
		case 'output':
			write(m.text, m.stream === 'stderr' ? 'stderr' : 'stdout');
			break;
		case 'prompt':
			setBusy(false);
			if (echoes.length) {
				// R reads the next line we sent: show it after this prompt.
				write(m.prompt + echoes.shift() + '\n', 'input');
				setBusy(true);
			} else {
				promptEl.textContent = m.prompt;
			}
			break;
		case 'busy':
			setBusy(true);
			break;
		case 'state':
			onState(m.state, m.detail);
			break;
		case 'error':
			write('rserver: ' + m.message + '\n', 'system');
			// The password kept from the sign-in has expired and the
			// session's PAM stack needs it: sign in again, then come back.
			if (m.sign_in) {
				window.location.href = '/auth-sign-in?appUri=' +
					encodeURIComponent(window.location.pathname);
			}
			break;
		case 'notification':
			addNotice(m.id, m.message);
			break;
		case 'plot':
			onPlot(m);
			break;
		case 'plot-export':
			onPlotExport(m);
			break;
		case 'help':
			onHelp(m);
			break;
		case 'notification-dismissed': {
			const n = notices.querySelector('[data-id="' + CSS.escape(m.id) + '"]');
			if (n) n.remove();
			break;
		}
		}
	}

	// ---- notifications ----
	function addNotice(nid, text) {
		if (notices.querySelector('[data-id="' + CSS.escape(nid) + '"]')) return;
		const dismiss = el('button', { type: 'button', class: 'quiet', text: 'Dismiss',
			'aria-label': 'Dismiss this notice' });
		const n = el('div', { class: 'notice', role: 'alert', 'data-id': nid },
			el('span', { class: 'notice-icon', 'aria-hidden': 'true', text: 'i' }),
			el('div', { class: 'notice-text', text: text }), dismiss);
		dismiss.addEventListener('click', async () => {
			n.hidden = true;
			try {
				await api('POST', '/api/notifications/' + encodeURIComponent(nid) + '/ack');
				n.remove();
			} catch (e) {
				if (e.status === 404) { n.remove(); return; } // over already
				n.hidden = false;
				write('rserver: could not dismiss the notice: ' + e.message + '\n', 'system');
			}
			input.focus();
		});
		notices.append(n);
	}

	// ---- plots and help: the side panel ----
	// rsession renders plots at the size of #plot-area (plot-size) and
	// sends each as a PNG; a frame of the same page replaces the entry it
	// updates, a new page is a new entry. Help pages (?topic, file.show)
	// arrive as text with R's overstrikes for headings.
	const side = document.getElementById('side');
	const plotsView = document.getElementById('plots');
	const helpView = document.getElementById('help');
	const tabPlots = document.getElementById('tab-plots');
	const tabHelp = document.getElementById('tab-help');
	const plotArea = document.getElementById('plot-area');
	const plotImg = document.getElementById('plot-img');
	const plotEmpty = document.getElementById('plot-empty');
	const plotPos = document.getElementById('plot-pos');
	const plotPrev = document.getElementById('plot-prev');
	const plotNext = document.getElementById('plot-next');
	const plotSave = document.getElementById('plot-save');
	const plotExport = document.getElementById('plot-export');
	const showSide = document.getElementById('show-side');
	const helpTitle = document.getElementById('help-title');
	const helpText = document.getElementById('help-text');
	const plots = []; // {url, png, width, height, dpr, page, seq, epoch}, oldest first
	let plotAt = -1; // the entry shown; plots.length: "no current plot"
	let plotClosed = false; // R closed the device after the last entry
	let epoch = 0; // a new R process counts pages afresh
	let plotNumber = 0; // entries ever made, for file names
	let sentSize = '';
	let sizeTimer = null;
	let pendingExport = null;
	let haveHelp = false;

	function setView(view) {
		side.dataset.view = view;
		plotsView.hidden = view !== 'plots';
		helpView.hidden = view !== 'help';
		tabPlots.setAttribute('aria-selected', String(view === 'plots'));
		tabHelp.setAttribute('aria-selected', String(view === 'help'));
		tabPlots.hidden = !plots.length && view !== 'plots';
		tabHelp.hidden = !haveHelp;
	}

	function openSide(view) {
		side.hidden = false;
		showSide.hidden = true;
		setView(view);
	}

	function closeSide() {
		side.hidden = true;
		showSide.hidden = !plots.length && !haveHelp;
		showSide.textContent = plots.length ? 'Plots' : 'Help';
		input.focus();
	}

	// The plot area's size in CSS pixels as it is, or would be with the
	// panel open on its plots (measured by showing it for a moment, within
	// one task: nothing is painted in between).
	function plotAreaSize() {
		const was = { hidden: side.hidden, view: side.dataset.view, plotsHidden: plotsView.hidden };
		side.hidden = false;
		side.dataset.view = 'plots';
		plotsView.hidden = false;
		const r = plotArea.getBoundingClientRect();
		side.hidden = was.hidden;
		side.dataset.view = was.view;
		plotsView.hidden = was.plotsHidden;
		return { width: Math.floor(r.width), height: Math.floor(r.height) };
	}

	function clampDpr(w, h) {
		let dpr = Math.min(8, Math.max(0.25, window.devicePixelRatio || 1));
		// rsession renders at most 4096 x 4096 pixels' worth.
		while (dpr > 0.25 && (w * dpr > 8192 || h * dpr > 8192 || w * h * dpr * dpr > 4096 * 4096)) dpr /= 1.25;
		return Math.round(dpr * 100) / 100;
	}

	function sendPlotSize(force) {
		const s = plotAreaSize();
		if (s.width < 16 || s.height < 16) return;
		const width = Math.min(8192, s.width), height = Math.min(8192, s.height);
		const dpr = clampDpr(width, height);
		const key = width + 'x' + height + '@' + dpr;
		if (!force && key === sentSize) return;
		if (send({ type: 'plot-size', width, height, dpr })) sentSize = key;
	}

	function plotSizeSoon() {
		clearTimeout(sizeTimer);
		sizeTimer = setTimeout(() => sendPlotSize(false), 250);
	}

	function renderPlots() {
		const n = plots.length;
		const p = plotAt >= 0 && plotAt < n ? plots[plotAt] : null;
		plotImg.hidden = !p;
		plotEmpty.hidden = !!p;
		if (p) {
			plotImg.src = p.url;
			plotImg.width = Math.round(p.width / p.dpr);
			plotImg.height = Math.round(p.height / p.dpr);
			plotImg.alt = 'Plot ' + (plotAt + 1) + ' of ' + n;
		} else {
			plotImg.removeAttribute('src');
			plotEmpty.textContent = n ? 'No current plot: the plot device was closed.' : 'No plot yet.';
		}
		plotPos.textContent = n ? (p ? plotAt + 1 : '–') + ' / ' + n : '';
		plotPrev.disabled = plotAt <= 0;
		plotNext.disabled = plotAt >= (plotClosed ? n : n - 1);
		plotSave.disabled = !p;
		// Only the current plot can be drawn again: rsession has no other.
		const current = p && plotAt === n - 1 && !plotClosed;
		plotExport.disabled = !current || state !== 'running';
		plotExport.title = current ? 'Draw this plot again at a size you choose and save it as PNG'
			: 'Only the current plot can be drawn again at another size';
	}

	function onPlot(m) {
		if (!m.png) {
			// dev.off(): the history stays, there is no current plot.
			if (!plotClosed && plots.length) {
				plotClosed = true;
				plotAt = plots.length;
				renderPlots();
			}
			return;
		}
		const last = plots[plots.length - 1];
		if (last && !plotClosed && last.epoch === epoch && last.page === m.page && last.seq === m.seq) {
			return; // the same frame again (a reconnect replays the latest)
		}
		const entry = {
			url: 'data:image/png;base64,' + m.png, png: m.png, width: m.width, height: m.height,
			dpr: m.dpr || 1, page: m.page, seq: m.seq, epoch,
		};
		let newPage = false;
		if (last && !plotClosed && last.epoch === epoch && last.page === m.page) {
			entry.number = last.number;
			plots[plots.length - 1] = entry; // more drawn on the same page, or a new size
		} else {
			entry.number = ++plotNumber;
			plots.push(entry);
			if (plots.length > MAX_PLOTS) plots.shift();
			newPage = true;
		}
		plotClosed = false;
		plotAt = plots.length - 1;
		// A new plot opens the panel; the same page drawn again (a resize,
		// added lines) must not reopen a panel the user closed.
		if (newPage && (side.hidden || side.dataset.view !== 'plots')) openSide('plots');
		if (side.hidden) {
			showSide.hidden = false;
			showSide.textContent = 'Plots';
		}
		renderPlots();
	}

	function pngBlob(b64) {
		const bin = atob(b64);
		const bytes = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
		return new Blob([bytes], { type: 'image/png' });
	}

	function download(blob, name) {
		const url = URL.createObjectURL(blob);
		const a = el('a', { href: url, download: name, hidden: true });
		document.body.append(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(url), 60000);
	}

	function plotName(p, suffix) {
		return 'plot-' + id + '-' + p.number + (suffix || '') + '.png';
	}

	function exportDialog() {
		const p = plots[plotAt];
		if (!p) return;
		const s = plotAreaSize();
		const num = (label, value) => {
			const i = el('input', { type: 'number', min: 16, max: 8192, step: 1, value: String(value), required: true });
			return [el('label', { class: 'field-inline' }, label, i), i];
		};
		const [wl, wIn] = num('Width (px)', Math.max(16, s.width));
		const [hl, hIn] = num('Height (px)', Math.max(16, s.height));
		const scale = el('select', {}, ...[1, 2, 3, 4].map((k) => el('option', { value: String(k), text: k + '×' })));
		scale.value = '2';
		const msg = el('p', { class: 'dialog-note', role: 'status' });
		const save = el('button', { type: 'submit', class: 'primary', text: 'Save PNG' });
		const cancel = el('button', { type: 'button', text: 'Cancel' });
		const titleId = 'dlg-title-export';
		const form = el('form', { method: 'dialog' },
			el('h2', { id: titleId, text: 'Save a larger plot' }),
			el('p', { class: 'dialog-lead', text: 'R draws the current plot again at this size. '
				+ 'Scale multiplies the pixels, keeping the layout: 2× is print quality.' }),
			el('div', { class: 'dialog-fields' }, wl, hl, el('label', { class: 'field-inline' }, 'Scale', scale)),
			msg, el('div', { class: 'dialog-actions' }, cancel, save));
		const dlg = el('dialog', { class: 'confirm export', 'aria-labelledby': titleId }, form);
		const back = document.activeElement;
		cancel.addEventListener('click', () => dlg.close());
		dlg.addEventListener('close', () => {
			if (pendingExport && pendingExport.dlg === dlg) {
				clearTimeout(pendingExport.timer);
				pendingExport = null;
			}
			dlg.remove();
			if (back && back.isConnected) back.focus();
		});
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			const width = Math.round(Number(wIn.value)), height = Math.round(Number(hIn.value));
			const dpr = Number(scale.value);
			if (!(width >= 16 && height >= 16 && width * dpr <= 8192 && height * dpr <= 8192
				&& width * height * dpr * dpr <= 4096 * 4096)) {
				msg.textContent = 'That is too large: at most 8192 pixels a side and 16.7 million in all (after scaling).';
				return;
			}
			const xid = 'x' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
			if (!send({ type: 'plot-export', id: xid, width, height, dpr })) {
				msg.textContent = 'Not connected to the session.';
				return;
			}
			save.disabled = true;
			msg.textContent = busy ? 'Waiting for R to finish the running command…' : 'Drawing…';
			pendingExport = {
				id: xid, dlg, name: plotName(p, '-' + width * dpr + 'x' + height * dpr),
				fail: (text) => { msg.textContent = text; save.disabled = false; },
				timer: setTimeout(() => {
					if (pendingExport && pendingExport.id === xid) {
						pendingExport.fail('R did not answer within a minute.');
						pendingExport = null;
					}
				}, 60000),
			};
		});
		document.body.append(dlg);
		dlg.showModal();
		wIn.focus();
	}

	function onPlotExport(m) {
		const x = pendingExport;
		if (!x || x.id !== m.id) return; // another tab's
		pendingExport = null;
		clearTimeout(x.timer);
		if (m.error) {
			x.fail('Could not draw the plot: ' + m.error + '.');
			return;
		}
		download(pngBlob(m.png), x.name);
		x.dlg.close();
	}

	// R's text help marks headings "_\bX" (underline) and "X\bX" (bold).
	function overstruck(text) {
		const frag = document.createDocumentFragment();
		let run = '', style = '';
		const flush = () => {
			if (run) frag.append(style ? el('span', { class: style }, run) : document.createTextNode(run));
			run = '';
		};
		for (let i = 0; i < text.length; i++) {
			let ch = text[i], st = '';
			if (text[i + 1] === '\b' && i + 2 < text.length) {
				const next = text[i + 2];
				st = ch === '_' ? 'ul' : ch === next ? 'bold' : '';
				ch = next;
				i += 2;
			} else if (ch === '\b') {
				continue;
			}
			if (st !== style) { flush(); style = st; }
			run += ch;
		}
		flush();
		return frag;
	}

	function onHelp(m) {
		haveHelp = true;
		helpTitle.textContent = m.title;
		helpText.replaceChildren(overstruck(m.text));
		helpText.scrollTop = 0;
		openSide('help');
		// A full-screen page on phones: put the keyboard there.
		if (getComputedStyle(side).position === 'fixed') helpText.focus();
	}

	tabPlots.addEventListener('click', () => { setView('plots'); renderPlots(); });
	tabHelp.addEventListener('click', () => setView('help'));
	document.getElementById('side-close').addEventListener('click', closeSide);
	showSide.addEventListener('click', () => openSide(plots.length ? 'plots' : 'help'));
	plotPrev.addEventListener('click', () => { if (plotAt > 0) { plotAt--; renderPlots(); } });
	plotNext.addEventListener('click', () => {
		if (plotAt < (plotClosed ? plots.length : plots.length - 1)) { plotAt++; renderPlots(); }
	});
	plotSave.addEventListener('click', () => {
		const p = plots[plotAt];
		if (p) download(pngBlob(p.png), plotName(p));
	});
	plotExport.addEventListener('click', exportDialog);
	side.addEventListener('keydown', (ev) => {
		// Esc in the panel closes it (elsewhere Esc interrupts R).
		if (ev.key === 'Escape') {
			ev.preventDefault();
			ev.stopPropagation();
			closeSide();
		} else if ((ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') && side.dataset.view === 'plots'
			&& ev.target.closest('.plot-tools')) {
			(ev.key === 'ArrowLeft' ? plotPrev : plotNext).click();
		}
	});
	new ResizeObserver(plotSizeSoon).observe(plotArea);
	window.addEventListener('resize', plotSizeSoon);

	// ---- input and history ----
	let history = [];
	try { history = JSON.parse((ls && ls.getItem(historyKey)) || '[]'); } catch (e) { history = []; }
	if (!Array.isArray(history)) history = [];
	let hpos = history.length;
	let draft = '';

	function remember(text) {
		if (!text.trim() || history[history.length - 1] === text) return;
		history.push(text);
		if (history.length > MAX_HISTORY) history.splice(0, history.length - MAX_HISTORY);
		try { if (ls) ls.setItem(historyKey, JSON.stringify(history)); } catch (e) { /* full */ }
	}

	function autosize() {
		const end = atBottom();
		input.style.height = 'auto';
		input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.5) + 'px';
		if (end) toBottom();
	}

	function setInput(text) {
		input.value = text;
		autosize();
		input.setSelectionRange(text.length, text.length);
		toBottom();
	}

	function run() {
		const text = input.value;
		remember(text);
		hpos = history.length;
		draft = '';
		if (restoredNote) { restoredNote = null; if (state === 'running') hideBanner(); }
		const lines = text.split('\n');
		if (!busy && promptEl.textContent && (ws && ws.readyState === WebSocket.OPEN)) {
			write(promptEl.textContent + lines.shift() + '\n', 'input');
			promptEl.textContent = '';
			setBusy(true);
		}
		const msg = { type: 'input', text: text + '\n' };
		if (send(msg)) {
			echoes.push(...lines);
		} else {
			outbox.push({ msg, lines: text.split('\n') });
			lostBanner(0);
			reconnectNow(false);
		}
		setInput('');
	}

	function interrupt() {
		echoes.length = 0;
		send({ type: 'interrupt' });
	}

	function onFirstLine() {
		return input.value.lastIndexOf('\n', input.selectionStart - 1) < 0;
	}

	function onLastLine() {
		return input.value.indexOf('\n', input.selectionEnd) < 0;
	}

	input.addEventListener('keydown', (ev) => {
		if (ev.isComposing) return;
		if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey) {
			ev.preventDefault();
			run();
		} else if (ev.key === 'ArrowUp' && !ev.shiftKey && onFirstLine() && hpos > 0) {
			ev.preventDefault();
			if (hpos === history.length) draft = input.value;
			setInput(history[--hpos]);
		} else if (ev.key === 'ArrowDown' && !ev.shiftKey && onLastLine() && hpos < history.length) {
			ev.preventDefault();
			hpos++;
			setInput(hpos === history.length ? draft : history[hpos]);
		} else if (ev.key === 'PageUp' || ev.key === 'PageDown') {
			ev.preventDefault();
			pane.scrollBy(0, (ev.key === 'PageUp' ? -0.9 : 0.9) * pane.clientHeight);
		}
	});
	input.addEventListener('input', autosize);

	// Esc, or Ctrl+C with nothing selected, interrupts; Ctrl+L clears.
	document.addEventListener('keydown', (ev) => {
		if (document.querySelector('dialog[open]') || ev.defaultPrevented) return;
		const sel = window.getSelection().toString() ||
			(document.activeElement === input && input.selectionStart !== input.selectionEnd);
		if (ev.key === 'Escape' || (ev.ctrlKey && !ev.shiftKey && !ev.altKey && ev.key === 'c' && !sel)) {
			ev.preventDefault();
			interrupt();
		} else if (ev.ctrlKey && !ev.shiftKey && !ev.altKey && ev.key === 'l') {
			ev.preventDefault();
			clearOutput();
		}
	});

	interruptButton.addEventListener('click', () => { interrupt(); input.focus(); });
	suspendButton.addEventListener('click', async () => {
		try {
			await api('POST', '/api/sessions/' + encodeURIComponent(id) + '/suspend');
		} catch (e) {
			write('rserver: cannot suspend: ' + e.message + '\n', 'system');
		}
	});
	document.getElementById('quit').addEventListener('click', async () => {
		if (!await confirmBox('Quit this session?',
			'R stops and everything in this session that is not saved to a file is lost. '
			+ 'To keep your work for later, suspend the session instead.', 'Quit session')) return;
		try {
			await api('POST', '/api/sessions/' + encodeURIComponent(id) + '/quit');
		} catch (e) {
			write('rserver: cannot quit: ' + e.message + '\n', 'system');
		}
	});
	// A click in the output (not a selection) goes back to the input line.
	pane.addEventListener('mouseup', () => {
		if (!window.getSelection().toString()) input.focus({ preventScroll: true });
	});
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden && !ws && !stopped && state !== 'exited') reconnectNow(false);
	});
	window.addEventListener('online', () => { if (!ws && !stopped && state !== 'exited') reconnectNow(false); });

	connect();
	input.focus();
}

// A sign-in that came back to another page is not one for the home page.
if (document.body.dataset.page !== 'home' && storage('session')) storage('session').removeItem(AFTER_SIGNIN);

switch (document.body.dataset.page) {
case 'signin': signinPage(); break;
case 'home': homePage(); break;
case 'console': consolePage(); break;
}
