// The admin dashboard: every session, live (polled every 5 s), with
// actions, an hour of CPU and memory as inline SVG, and the notifications.
'use strict';

const csrf = document.body.dataset.csrf;
let sessions = [];
let sortKey = 'user', sortDir = 1;
const history = new Map();

async function call(method, path) {
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

function bytes(n) {
	if (n === null || n === undefined) return '';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
	return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}

function when(t) { return t ? new Date(t).toLocaleString() : ''; }
function say(text) { document.getElementById('admin-message').textContent = text; }

// An hour of samples as two polylines scaled to their own maxima.
function spark(samples) {
	const ns = 'http://www.w3.org/2000/svg', w = 120, h = 28;
	const svg = document.createElementNS(ns, 'svg');
	svg.setAttribute('class', 'spark');
	svg.setAttribute('width', w);
	svg.setAttribute('height', h);
	svg.setAttribute('role', 'img');
	if (!samples || samples.length < 2) return svg;
	const t0 = samples[0].t, t1 = samples[samples.length - 1].t || t0 + 1;
	for (const [key, cls] of [['cpu_percent', 'cpu'], ['rss_bytes', 'rss']]) {
		const max = Math.max(1e-9, ...samples.map((s) => s[key]));
		const pts = samples.map((s) =>
			((s.t - t0) / Math.max(1, t1 - t0) * (w - 2) + 1).toFixed(1) + ',' +
			(h - 1 - s[key] / max * (h - 2)).toFixed(1)).join(' ');
		const pl = document.createElementNS(ns, 'polyline');
		pl.setAttribute('points', pts);
		pl.setAttribute('class', cls);
		svg.append(pl);
	}
	const last = samples[samples.length - 1];
	svg.setAttribute('aria-label', 'CPU ' + last.cpu_percent.toFixed(1) + '%, memory ' + bytes(last.rss_bytes));
	return svg;
}

function action(s, what, label) {
	const b = el('button', label, { type: 'button', 'data-action': what });
	b.addEventListener('click', async () => {
		if (!window.confirm(label + ' session ' + s.id + ' of ' + s.user + '?')) return;
		try {
			await call('POST', '/admin/api/sessions/' + s.id + '/' + what);
			say(label + ': ' + s.user + '/' + s.id + ' done');
		} catch (e) { say(label + ' ' + s.user + '/' + s.id + ': ' + e.message); }
		refresh();
	});
	return b;
}

function render() {
	const fu = document.getElementById('filter-user').value.trim();
	const fs = document.getElementById('filter-state').value;
	const rows = sessions.filter((s) => (!fu || s.user.includes(fu)) && (!fs || s.state === fs));
	rows.sort((a, b) => {
		const x = a[sortKey], y = b[sortKey];
		if (x === y) return 0;
		if (x === null || x === undefined) return 1;
		if (y === null || y === undefined) return -1;
		return (x < y ? -1 : 1) * sortDir;
	});
	const tbody = document.querySelector('#admin-sessions tbody');
	tbody.replaceChildren();
	for (const s of rows) {
		const tr = el('tr', null, { 'data-id': s.id });
		const chart = el('td');
		chart.append(spark(history.get(s.id)));
		const acts = el('td', null, { class: 'actions' });
		if (s.state === 'running') {
			acts.append(action(s, 'suspend', 'Suspend'), action(s, 'force-suspend', 'Force suspend'),
				action(s, 'kill', 'Kill'));
		}
		tr.append(el('td', s.user), el('td', s.id), el('td', s.pid === null ? '' : String(s.pid)),
			el('td', s.state + (s.exit_reason && s.exit_reason !== s.state ? ' (' + s.exit_reason + ')' : ''), { class: 'state' }),
			el('td', when(s.started)), el('td', when(s.last_input)),
			el('td', s.cpu_percent === null || s.cpu_percent === undefined ? '' : s.cpu_percent.toFixed(1)),
			el('td', bytes(s.rss_bytes)), chart, el('td', s.profile || '', { class: 'profile' }), acts);
		tbody.append(tr);
	}
}

async function refresh() {
	try {
		sessions = await call('GET', '/admin/api/sessions');
		await Promise.all(sessions.filter((s) => s.state === 'running').map(async (s) => {
			try { history.set(s.id, await call('GET', '/admin/api/sessions/' + s.id + '/history')); }
			catch (e) { /* gone meanwhile */ }
		}));
		render();
		const n = await call('GET', '/admin/api/notifications');
		document.getElementById('notices-file').textContent = n.file || '';
		const tb = document.querySelector('#admin-notices tbody');
		tb.replaceChildren();
		for (const e of n.notifications || []) {
			const tr = el('tr', null, { 'data-id': e.id });
			tb.append(tr);
			tr.append(el('td', e.id), el('td', when(e.start)), el('td', when(e.end)),
				el('td', e.active ? 'yes' : 'no'), el('td', String(e.acknowledged_by)), el('td', e.message));
		}
		const ul = document.getElementById('notice-problems');
		ul.replaceChildren(...(n.problems || []).map((p) => el('li', p)));
	} catch (e) { say(e.message); }
}

for (const b of document.querySelectorAll('th button[data-sort]')) {
	b.addEventListener('click', () => {
		const k = b.dataset.sort;
		sortDir = k === sortKey ? -sortDir : 1;
		sortKey = k;
		render();
	});
}
document.getElementById('filter-user').addEventListener('input', render);
document.getElementById('filter-state').addEventListener('change', render);
document.getElementById('suspend-all').addEventListener('click', async () => {
	if (!window.confirm('Suspend every running session?')) return;
	try {
		const r = await call('POST', '/admin/api/suspend-all');
		say('Asked ' + r.requested + ' session(s) to suspend');
	} catch (e) { say(e.message); }
	setTimeout(refresh, 1000);
});
refresh();
setInterval(refresh, 5000);
