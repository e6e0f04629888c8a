#!/usr/bin/env python3
"""Drives rserver's administration over HTTP as root: the /admin dashboard
page and /admin/api (members of admin-group only, working in offline mode),
actions on other users' sessions checked on the sessions themselves,
/metrics (Prometheus text that parses and whose counters move), the audit
trail in sqlite, and the notifications view. Real PAM, users and R.

Uses harness.py: users rs_aw_{a,b}_<pid> (A is in the throwaway group
rs_aw_adm_<pid>, which is admin-group), all removed at the end.
Environment: RSERVER, LAUNCHER, RSESSION. Skips when not root.
"""

import atexit
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import (  # noqa: E402
    Browser, browser, check, check_eq, create_session, open_console, quit_all, require, server,
    wait_running, wait_state,
)

H.configure("test-admin-web", "aw", users=("A", "B"))
GROUP = "rs_aw_adm_%d" % os.getpid()
state = {}


def admin_conf(**extra):
    conf = {"admin-group": GROUP}
    conf.update(extra)
    return conf


def make_group():
    if "group" in state:
        return
    subprocess.run(["groupadd", GROUP], check=True)
    state["group"] = True
    atexit.register(lambda: subprocess.run(["groupdel", GROUP], capture_output=True))
    subprocess.run(["usermod", "-aG", GROUP, H.USERS["A"]], check=True)


def t1_access():
    make_group()
    server.ensure(admin_conf())
    a, b = browser("A"), browser("B")
    state["sa"] = create_session(a, "1 A")
    state["sb"] = create_session(b, "1 B")
    wait_running(a, state["sa"], "1 A")
    wait_running(b, state["sb"], "1 B")

    r = a.request("GET", "/admin")
    check("1: GET /admin as an admin-group member: 200 HTML", r.status == 200 and
          "text/html" in (r.header("content-type") or "") and b"Administration" in r.body, r.said())
    r = b.request("GET", "/admin")
    check_eq("1: GET /admin as a plain user: 403", r.status, 403, r.said())
    r = b.api("GET", "/admin/api/sessions")
    check_eq("1: GET /admin/api/sessions as a plain user: 403", r.status, 403, r.said())
    r = Browser("B").request("GET", "/admin/api/sessions")
    check_eq("1: GET /admin/api/sessions without a sign-in: 401", r.status, 401, r.said())

    r = a.api("GET", "/admin/api/sessions")
    lst = r.json() if r.status == 200 else None
    ids = {s.get("id") for s in lst or []}
    check("1: the admin sees every user's sessions", state["sa"] in ids and state["sb"] in ids, r.said())
    fields = {"id", "user", "pid", "state", "started", "last_activity", "exit_reason", "cpu_percent",
              "rss_bytes", "profile"}
    check("1: admin session JSON has cpu_percent, rss_bytes and profile",
          bool(lst) and all(fields <= set(s) for s in lst), r.said())
    r = b.api("GET", "/api/sessions")
    check("1: a user's own list has no admin fields",
          r.status == 200 and all("profile" not in s for s in r.json()), r.said())


def t2_stats():
    server.ensure(admin_conf())
    a = browser("A")
    deadline = time.monotonic() + 30
    got = None
    while time.monotonic() < deadline:
        lst = a.api("GET", "/admin/api/sessions").json() or []
        got = next((s for s in lst if s.get("id") == state["sb"]), None)
        if got and isinstance(got.get("rss_bytes"), int) and got["rss_bytes"] > 0:
            break
        time.sleep(0.5)
    check("2: a running session's memory is measured (rss_bytes > 0 within 30 s)",
          got and isinstance(got.get("rss_bytes"), int) and got["rss_bytes"] > 10 << 20, str(got))
    check("2: and its CPU use (a number)", got and isinstance(got.get("cpu_percent"), (int, float)), str(got))
    r = a.api("GET", "/admin/api/sessions/%s/history" % state["sb"])
    hist = r.json() if r.status == 200 else None
    check("2: the session's history has samples with t, cpu_percent, rss_bytes",
          isinstance(hist, list) and len(hist) >= 1 and
          all({"t", "cpu_percent", "rss_bytes"} <= set(x) for x in hist), r.said())


def t3_actions():
    server.ensure(admin_conf())
    a, b = browser("A"), browser("B")
    sb = state["sb"]
    r = a.api("POST", "/admin/api/sessions/%s/suspend" % sb, csrf=False)
    check_eq("3: admin suspend without the CSRF header: 403", r.status, 403, r.said())
    r = b.api("POST", "/admin/api/sessions/%s/suspend" % sb)
    check_eq("3: admin suspend by a plain user: 403", r.status, 403, r.said())
    pid = b.session(sb)["pid"]
    r = a.api("POST", "/admin/api/sessions/%s/suspend" % sb)
    check_eq("3: an admin suspends B's session: 200", r.status, 200, r.said())
    info, good, seen = wait_state(b, sb, "suspended")
    check("3: B's session is suspended", good, "states: %s" % seen, str(info))
    check("3: its rsession is gone", H.wait_pid_gone(pid, H.uids["B"]), "pid %d" % pid)

    # Force-suspend a busy session: B opens it again (resumes) and sleeps.
    c = open_console(b, sb, "3 B")
    c.ws.send_json({"type": "input", "text": "Sys.sleep(120)\n"})
    time.sleep(1)
    r = a.api("POST", "/admin/api/sessions/%s/force-suspend" % sb)
    check_eq("3: force-suspend of a busy session: 200", r.status, 200, r.said())
    info, good, seen = wait_state(b, sb, "suspended")
    check("3: the busy session is force-suspended", good and "force" in (info.get("exit_reason") or ""),
          "states: %s" % seen, str(info))
    c.close()

    sa = state["sa"]
    pid = a.session(sa)["pid"]
    r = a.api("POST", "/admin/api/sessions/%s/kill" % sa)
    check_eq("3: kill: 200", r.status, 200, r.said())
    info, good, seen = wait_state(a, sa, "exited")
    check("3: the killed session exited, its reason names the administrator",
          good and "killed by an administrator" in (info.get("exit_reason") or "")
          and H.USERS["A"] in info.get("exit_reason", ""), "states: %s" % seen, str(info))
    check("3: its rsession is gone", H.wait_pid_gone(pid, H.uids["A"]), "pid %d" % pid)
    r = a.api("POST", "/admin/api/sessions/%s/kill" % sa)
    check_eq("3: kill of an exited session: 409", r.status, 409, r.said())
    r = a.api("POST", "/admin/api/sessions/0000000000000000/kill")
    check_eq("3: kill of an unknown session: 404", r.status, 404, r.said())


METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? '
                       r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def metrics(b=None):
    r = (b or Browser("A")).request("GET", "/metrics")
    values = {}
    bad = []
    for line in r.body.decode(errors="replace").splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            bad.append(line)
            continue
        key, _, value = line.rpartition(" ")
        values[key] = float(value)
    return r, values, bad


def t4_metrics():
    server.ensure(admin_conf())
    r, v, bad = metrics()
    check_eq("4: GET /metrics from loopback without a sign-in: 200", r.status, 200, r.said())
    check("4: every line is Prometheus text", not bad and len(v) > 10, *bad[:5])
    for name in ('rserver_sessions{state="running"}', 'rserver_signins_total{result="ok"}',
                 "rserver_websockets", "rserver_event_loop_lag_seconds",
                 "rserver_session_launch_seconds_count", "rserver_lockouts_total"):
        check("4: has %s" % name, name in v, "names: %s" % sorted(v)[:40])
    check("4: sign-ins counted (>= 2 ok)", v.get('rserver_signins_total{result="ok"}', 0) >= 2, str(v))
    check("4: launches timed (count >= 2)", v.get("rserver_session_launch_seconds_count", 0) >= 2, str(v))
    before = v.get('rserver_signins_total{result="wrong_password"}', 0)
    x = Browser("B")
    x.request("GET", "/auth-sign-in")
    import urllib.parse
    x.request("POST", "/auth-do-sign-in", urllib.parse.urlencode(
        {"username": H.USERS["B"], "password": "wrong", "rs-csrf-token": x.cookies.get("rs-csrf-token", "")}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    _, v2, _ = metrics()
    check("4: a wrong password moves rserver_signins_total{result=\"wrong_password\"}",
          v2.get('rserver_signins_total{result="wrong_password"}', 0) == before + 1, str(v2))
    check("4: suspends timed (count >= 1)", v2.get("rserver_session_suspend_seconds_count", 0) >= 1, str(v2))


def t5_audit():
    server.ensure(admin_conf())
    db = sqlite3.connect("file:%s/rstudio.sqlite?mode=ro" % H.DB_DIR, uri=True)
    try:
        cols = [r[1] for r in db.execute("PRAGMA table_info(audit_events)")]
        rows = db.execute("SELECT * FROM audit_events").fetchall()
    finally:
        db.close()
    ev = [dict(zip(cols, r)) for r in rows]

    def has(actor, action, target=None, detail=None):
        return any(e.get("actor") == actor and e.get("action") == action and
                   (target is None or e.get("target") == target) and
                   (detail is None or detail in (e.get("detail") or "")) for e in ev)
    A, B = H.USERS["A"], H.USERS["B"]
    check("5: audit: sign-in of A", has(A, "sign-in"), "%d events" % len(ev))
    check("5: audit: failed sign-in of B with its reason", has(B, "sign-in-failed", detail="wrong password"),
          *[str(e) for e in ev if e.get("actor") == B][:10])
    check("5: audit: the admin's suspend of B's session, by A", has(A, "admin-suspend", state["sb"]))
    check("5: audit: the admin's kill, by A", has(A, "admin-kill", state["sa"]))
    check("5: audit: session start and exit with the cause",
          has(A, "session-start", state["sa"]) and has(A, "session-exit", state["sa"], "killed by an administrator"))
    check("5: audit: B's session suspended", has(B, "session-suspend", state["sb"]))
    check("5: audit events are in the log too", "audit: %s admin-kill" % A in open(H.LOG).read())


def t6_offline_notices():
    server.ensure(admin_conf())
    a = browser("A")
    with open(H.CONF + "/notifications.conf", "w") as f:
        f.write("EndTime: 2999-01-01\nMessage: aw maintenance\n\nEndTime: nonsense\nMessage: broken\n")
    deadline = time.monotonic() + 15
    n = {}
    while time.monotonic() < deadline:
        n = a.api("GET", "/admin/api/notifications").json() or {}
        if n.get("notifications"):
            break
        time.sleep(0.2)
    ents = n.get("notifications") or []
    check("6: notifications view lists the entry with its acknowledgement count",
          len(ents) == 1 and ents[0].get("message") == "aw maintenance" and ents[0].get("acknowledged_by") == 0
          and ents[0].get("active") is True, str(n))
    check("6: and the file's problem with its line", any(":4:" in p for p in n.get("problems") or []), str(n))
    off = H.DB_DIR + "/offline"
    open(off, "w").close()
    try:
        r = a.api("GET", "/admin/api/sessions")
        check_eq("6: offline: /admin/api/sessions still 200", r.status, 200, r.said())
        r = a.api("GET", "/api/sessions")
        check_eq("6: offline: /api/sessions 503", r.status, 503, r.said())
        r, _, _ = metrics()
        check_eq("6: offline: /metrics still 200", r.status, 200, r.said())
    finally:
        os.unlink(off)


def t7_disabled():
    server.ensure(admin_conf(**{"metrics-enabled": "0", "admin-enabled": "0"}))
    r, _, _ = metrics()
    check_eq("7: metrics-enabled=0: /metrics 404", r.status, 404, r.said())
    H.browsers.clear()
    r = browser("A").request("GET", "/admin")
    check_eq("7: admin-enabled=0: /admin 403 even for admin-group", r.status, 403, r.said())
    quit_all(browser("A"))
    quit_all(browser("B"))


TESTS = [
    (1, "dashboard access", t1_access),
    (2, "CPU and memory", t2_stats),
    (3, "admin actions", t3_actions),
    (4, "metrics", t4_metrics),
    (5, "audit trail", t5_audit),
    (6, "offline and notifications view", t6_offline_notices),
    (7, "disabled", t7_disabled),
]

if __name__ == "__main__":
    sys.exit(H.main(TESTS))
