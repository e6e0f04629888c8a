// rserver's pages: the session list (home) and the R console. Plain
// JavaScript, no build step; served from /static/app.js under a
// Content-Security-Policy that forbids inline scripts.
'use strict';

const csrf = document.body.dataset.csrf;

async function api(method, path) {
	const res = await fetch(path, {
		method,
		headers: method === 'GET' ? {} : { 'X-RS-CSRF-Token': csrf },
		credentials: 'same-origin',
	});
	let body = null;
	try { body = await res.json(); } catch (e) { /* not JSON */ }
	if (!res.ok) throw new Error((body && body.error) || res.status + ' ' + res.statusText);
	return body;
}

function el(tag, text, attrs) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null) e.textContent = text;
	for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
	return e;
}

function when(t) {
	return t ? new Date(t).toLocaleString() : '';
}

// ---- home -------------------------------------------------------------------

function home() {
	const tbody = document.querySelector('#sessions tbody');
	const message = document.getElementById('message');
	const say = (text) => { message.textContent = text; };

	async function refresh() {
		let list;
		try { list = await api('GET', '/api/sessions'); } catch (e) { say(e.message); return; }
		tbody.replaceChildren();
		document.getElementById('empty').hidden = list.length > 0;
		for (const s of list) {
			const tr = el('tr', null, { 'data-id': s.id });
			const link = el('a', s.id, { href: '/s/' + s.id + '/' });
			const cell = el('td');
			cell.append(link);
			tr.append(cell, el('td', s.state, { class: 'state' }), el('td', when(s.started)),
				el('td', when(s.last_activity)), el('td', s.exit_reason || ''));
			const actions = el('td');
			if (s.state === 'running') {
				for (const what of ['suspend', 'quit']) {
					const b = el('button', what === 'suspend' ? 'Suspend' : 'Quit', { type: 'button' });
					b.addEventListener('click', async () => {
						try { await api('POST', '/api/sessions/' + s.id + '/' + what); say(''); }
						catch (e) { say('Session ' + s.id + ': ' + e.message); }
						setTimeout(refresh, 500);
					});
					actions.append(b);
				}
			}
			tr.append(actions);
			tbody.append(tr);
		}
	}

	document.getElementById('new-session').addEventListener('click', async () => {
		try {
			const r = await api('POST', '/api/sessions');
			window.location.href = '/s/' + r.id + '/';
		} catch (e) { say(e.message); }
	});
	refresh();
	setInterval(refresh, 5000);
}

// ---- console ----------------------------------------------------------------

function consolePage() {
	const id = document.body.dataset.session;
	const output = document.getElementById('output');
	const input = document.getElementById('input');
	const promptEl = document.getElementById('prompt');
	const stateEl = document.getElementById('state');
	const notices = document.getElementById('notices');
	const history = [];
	let hpos = 0, ws = null, retry = 500, closedByServer = false;

	function append(text, cls) {
		const atEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
		const span = el('span', text);
		if (cls) span.className = cls;
		output.append(span);
		if (atEnd) output.scrollTop = output.scrollHeight;
	}

	function setState(state, detail) {
		stateEl.textContent = detail ? state + ': ' + detail : state;
		stateEl.className = state;
	}

	function connect() {
		const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
		ws = new WebSocket(scheme + '//' + location.host + '/s/' + id + '/console');
		ws.onopen = () => { retry = 500; output.replaceChildren(); };
		ws.onmessage = (ev) => {
			let m;
			try { m = JSON.parse(ev.data); } catch (e) { return; }
			switch (m.type) {
			case 'output': append(m.text, m.stream === 'stderr' ? 'stderr' : null); break;
			case 'prompt': promptEl.textContent = m.prompt; break;
			case 'busy': promptEl.textContent = ''; break;
			case 'state': setState(m.state, m.detail); break;
			case 'error': append('rserver: ' + m.message + '\n', 'stderr'); break;
			case 'notification': {
				const n = el('div', null, { class: 'notice', 'data-id': m.id });
				const ok = el('button', 'Dismiss', { type: 'button' });
				ok.addEventListener('click', () => {
					ws.send(JSON.stringify({ type: 'ack', notification: m.id }));
					n.remove();
				});
				n.append(el('span', m.message), ok);
				notices.append(n);
				break;
			}
			case 'notification-dismissed': {
				const n = notices.querySelector('[data-id="' + CSS.escape(m.id) + '"]');
				if (n) n.remove();
				break;
			}
			}
		};
		ws.onclose = (ev) => {
			if (ev.code === 1008 || closedByServer) { setState('disconnected', ev.reason); return; }
			setState('reconnecting');
			setTimeout(connect, retry);
			retry = Math.min(retry * 2, 10000);
		};
	}

	input.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && !ev.shiftKey) {
			ev.preventDefault();
			const text = input.value;
			if (text.trim()) { history.push(text); }
			hpos = history.length;
			append(promptEl.textContent + text + '\n', 'echo');
			if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'input', text: text + '\n' }));
			input.value = '';
		} else if (ev.key === 'Escape' || (ev.key === 'c' && ev.ctrlKey && !input.value)) {
			ev.preventDefault();
			if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'interrupt' }));
		} else if (ev.key === 'ArrowUp' && hpos > 0) {
			ev.preventDefault();
			input.value = history[--hpos];
		} else if (ev.key === 'ArrowDown') {
			ev.preventDefault();
			hpos = Math.min(hpos + 1, history.length);
			input.value = history[hpos] || '';
		}
	});
	document.getElementById('interrupt').addEventListener('click', () => {
		if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'interrupt' }));
		input.focus();
	});
	for (const what of ['suspend', 'quit']) {
		document.getElementById(what).addEventListener('click', async () => {
			try { await api('POST', '/api/sessions/' + id + '/' + what); }
			catch (e) { append('rserver: ' + what + ': ' + e.message + '\n', 'stderr'); }
		});
	}
	output.addEventListener('click', () => { if (!window.getSelection().toString()) input.focus(); });
	connect();
	input.focus();
}

if (document.body.dataset.page === 'home') home();
else if (document.body.dataset.page === 'console') consolePage();
