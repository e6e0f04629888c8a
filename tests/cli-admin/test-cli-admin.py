#!/usr/bin/env python3
"""The rstudio-server CLI against a running rserver, as root: every admin
command's effect is checked on the sessions themselves (state through the
JSON API, the rsession pid gone from /proc, the saved state directory in
the user's home), sessions are named by id and by pid, usage errors exit
2, a non-root user outside admin-group is refused (by the socket's mode,
and by SO_PEERCRED when the mode is opened up), a member of admin-group is
let in, a malformed frame ends the connection, verify-installation passes
(with --user: a real session runs 1+1), and stop/start/restart work
without systemd through the pid file.

Built on the shared harness (tests/server/harness.py), which creates, and
removes on exit even on failure or interrupt: a server user
rs_ca_srv_<pid>, users rs_ca_a_<pid>, rs_ca_b_<pid> and rs_ca_adm_<pid>
(the latter in group rs_ca_grp_<pid>, H.GROUP, which is admin-group), the
PAM services /etc/pam.d/rs-ca-<pid> and /etc/pam.d/rs-ca-<pid>-session,
and a temporary root /tmp/rs-ca-XXXXXX (config, data, database, key,
homes, rserver's log). At the end every process of those users or naming
this run's config dir (rserver, monitor, launchers, sessions, an rserver
the CLI started) is killed by pid. KEEP_TMP=1 keeps the root.

Environment: RSERVER, LAUNCHER, RSESSION, CLI (rstudio-server). Skips when
not root. Output: "ok   NAME" / "FAIL NAME" with evidence, and
"N passed, M failed".
"""

import grp
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import harness as H  # noqa: E402
from harness import (  # noqa: E402
    EVAL_WAIT, USERS, browser, check, create_session, open_console, pid_alive, require,
)

H.configure("test-cli-admin", "ca", users=("A", "B", "ADM"), group_members=("ADM",))

CLI_WAIT = 300
PERMISSION = "permission denied: run as root or as a member of admin-group"
RS = {"admin-group": H.GROUP}  # rserver.conf beyond the harness's base
CLI = None


def serve():
    """rserver running with admin-group set, its admin socket in place."""
    H.server.ensure(rserver=RS)
    sock = H.DATA_DIR + "/admin.sock"
    deadline = time.monotonic() + H.START_WAIT
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.1)
    require("%d: rserver made its admin.sock" % H.current["num"], os.path.exists(sock), sock, *H.log_tail(20))


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def said(self):
        return "exit %s\nstdout: %s\nstderr: %s" % (self.rc, self.out.strip(), self.err.strip())


def cli(*args, user=None, conf=True, timeout=CLI_WAIT):
    argv = [CLI] + (["--config-dir", H.CONF] if conf else []) + list(args)
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return Result(None, e.stdout or "", "timed out after %d s" % timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def wait_pid_gone(pid, timeout=20):
    return H.wait_pid_gone(pid, None, timeout)


def wait_running(b, sid, label):
    return H.wait_running(b, sid, "%s %s" % (label, sid))


def wait_state(b, sid, want, timeout):
    """The session's info once in state want (or the last seen)."""
    return H.wait_state(b, sid, want, timeout)[0]


def busy_session(b, sid, label):
    """Opens a console, waits for a prompt, starts Sys.sleep(60) and waits
    until R is busy with it."""
    c = open_console(b, sid, label)
    _, good = c.run("cat('sleeping\\n'); Sys.sleep(60)\n", "sleeping", EVAL_WAIT, until_prompt=False)
    require("%s: R is busy in Sys.sleep(60)" % label, good, *c.evidence(5))
    return c


def state_dir(who, sid):
    home = pwd.getpwnam(USERS[who]).pw_dir
    return "%s/.local/share/rstudio/sessions/%s" % (home, sid)


def line_for(out, who, sid):
    return [ln for ln in out.splitlines() if ln.startswith("%s/%s " % (USERS[who], sid))]


# ---- the tests ----


def t_basics():
    serve()
    r = cli("version", conf=False)
    check("version: exit 0, 'rstudio-server <version>'", r.rc == 0 and re.match(r"^rstudio-server \d", r.out),
          r.said())
    for args, what in [((), "no command"), (("frobnicate",), "unknown command"),
                       (("suspend-session",), "suspend-session without a session"),
                       (("kill-session", "a", "b"), "kill-session with two arguments"),
                       (("kill-all", "--bogus"), "kill-all --bogus"),
                       (("suspend-all", "--user"), "suspend-all --user without a name"),
                       (("list-sessions", "extra"), "list-sessions extra"),
                       (("--config-dir",), "--config-dir without a directory"),
                       (("--frob", "status"), "unknown global option")]:
        r = cli(*args, conf=args[:1] != ("--config-dir",))
        check("usage error (%s): exit 2 with usage" % what, r.rc == 2 and "usage:" in r.err, r.said())
    r = cli("test-config")
    check("test-config: exit 0 on the test's configuration", r.rc == 0, r.said())
    bad = H.TMP + "/badconf"
    shutil.copytree(H.CONF, bad)
    with open(bad + "/rserver.conf", "a") as f:
        f.write("no-such-key=1\n")
    p = subprocess.run([CLI, "--config-dir", bad, "test-config"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    check("test-config: exit 1 naming file:line of a bad key", p.returncode == 1 and "rserver.conf:" in p.stdout
          and "no-such-key" in p.stdout, p.stdout)
    env = dict(os.environ, RSTUDIO_CONFIG_DIR=H.CONF)
    p = subprocess.run([CLI, "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    check("RSTUDIO_CONFIG_DIR selects the configuration", p.returncode == 0 and "running" in p.stdout,
          p.stdout, p.stderr)

    r = cli("status")
    check("status: exit 0, running with rserver's pid, address and port",
          r.rc == 0 and ("pid %d," % H.server.proc.pid) in r.out and ("127.0.0.1:%d" % H.PORT) in r.out
          and "online" in r.out, r.said())
    st = os.stat(H.DATA_DIR + "/admin.sock")
    gid = grp.getgrnam(H.GROUP).gr_gid
    check("admin.sock: a socket, root:admin-group, mode 0660",
          stat.S_ISSOCK(st.st_mode) and st.st_uid == 0 and st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660,
          "uid %d gid %d mode %o" % (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)))
    with open(H.DATA_DIR + "/rserver.pid") as f:
        check("rserver.pid names rserver", f.read().strip() == str(H.server.proc.pid))


def t_access():
    serve()
    r = cli("list-sessions", user=USERS["A"])
    check("a user outside admin-group is refused: exit 1, permission message",
          r.rc == 1 and PERMISSION in r.err, r.said())
    r = cli("status", user=USERS["ADM"])
    check("a member of admin-group may use the CLI", r.rc == 0 and "running" in r.out, r.said())
    mark = H.log_size()
    r = cli("offline", user=USERS["ADM"])
    cli("online", user=USERS["ADM"])
    check("an admin-group member's action is audited with their name", r.rc == 0 and any(
        ("audit: %s admin-offline" % USERS["ADM"]) in ln for ln in H.log_since(mark)), r.said(),
        *H.log_since(mark)[-5:])
    # With the file mode opened up, SO_PEERCRED still keeps others out.
    path = H.DATA_DIR + "/admin.sock"
    os.chmod(path, 0o666)
    try:
        mark = H.log_size()
        r = cli("list-sessions", user=USERS["A"])
        check("with the socket mode 0666, SO_PEERCRED refuses a non-admin: exit 1, permission message",
              r.rc == 1 and PERMISSION in r.err, r.said())
        check("the refusal is logged", any("refused %s" % USERS["A"] in ln for ln in H.log_since(mark)),
              *H.log_since(mark)[-5:])
    finally:
        os.chmod(path, 0o660)

    def exchange(payload):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(payload)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            return data, False
        finally:
            s.close()
        return data, True

    def frame(obj, version=1):
        b = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return struct.pack(">IH", len(b) + 2, version) + b

    def answer(data):
        if len(data) < 6:
            return None
        try:
            return json.loads(data[6:6 + struct.unpack(">I", data[:4])[0] - 2])
        except ValueError:
            return None

    for what, payload, err in [
        ("an unknown command", frame({"command": "shutdown"}), "unknown command"),
        ("an unknown argument", frame({"command": "status", "args": {"x": 1}}), "no field 'x'"),
        ("a mistyped argument", frame({"command": "kill-session", "args": {"session": 12}}), "must be"),
        ("malformed JSON", frame(b"{nope"), "malformed JSON"),
        ("a wrong version", frame({"command": "status"}, version=9), "version"),
        ("an oversized frame", struct.pack(">IH", 64 * 1024 * 1024, 1), "size limit"),
    ]:
        data, closed = exchange(payload)
        a = answer(data)
        check("%s: an error answer, then the server closes the connection" % what,
              closed and isinstance(a, dict) and a.get("ok") is False and err in str(a.get("error")),
              "closed: %s, answer: %r" % (closed, data[:300]))
    r = cli("status")
    check("rserver still answers after the malformed requests", r.rc == 0, r.said())


def t_list_and_single():
    serve()
    a, b = browser("A"), browser("B")
    a1, a2 = create_session(a, "A 1"), create_session(a, "A 2")
    b1 = create_session(b, "B 1")
    info = {sid: wait_running(br, sid, "list") for br, sid in ((a, a1), (a, a2), (b, b1))}

    r = cli("list-sessions")
    good = r.rc == 0 and all(sid in r.out and str(i["pid"]) in r.out for sid, i in info.items())
    check("list-sessions: exit 0, every session with its pid", good, r.said())
    r = cli("list-sessions", "--json")
    try:
        lst = json.loads(r.out)
    except ValueError:
        lst = None
    by_id = {s.get("id"): s for s in lst or [] if isinstance(s, dict)}
    check("list-sessions --json: a JSON array with each session's id, user, pid and state",
          r.rc == 0 and isinstance(lst, list) and all(
              sid in by_id and by_id[sid].get("pid") == i["pid"] and by_id[sid].get("user") == i["user"]
              and by_id[sid].get("state") == "running" for sid, i in info.items()), r.said())
    check("list-sessions --json: the SPEC.md fields",
          all({"id", "user", "pid", "state", "started", "last_activity", "exit_reason"} <= set(s) for s in lst or []),
          r.out[:500])
    r = cli("active-sessions", "--json")
    try:
        act = json.loads(r.out)
    except ValueError:
        act = None
    check("active-sessions: only sessions with a process",
          r.rc == 0 and isinstance(act, list) and {s["id"] for s in act} >= set(info)
          and all(s.get("state") in ("starting", "running", "suspending") for s in act), r.said())

    # suspend-session by id
    r = cli("suspend-session", a1)
    pid = info[a1]["pid"]
    check("suspend-session <id>: exit 0, '%s/%s (pid %d): suspended'" % (USERS["A"], a1, pid),
          r.rc == 0 and ("%s/%s (pid %d): suspended" % (USERS["A"], a1, pid)) in r.out, r.said())
    s = wait_state(a, a1, "suspended", 5)
    check("suspend-session: the session is suspended", s and s.get("state") == "suspended", json.dumps(s))
    check("suspend-session: its rsession (pid %d) is gone" % pid, wait_pid_gone(pid))
    check("suspend-session: saved state in ~/.local/share/rstudio/sessions/<id>/", os.path.isdir(state_dir("A", a1)),
          state_dir("A", a1))
    r = cli("suspend-session", a1)
    check("suspend-session on a suspended session: exit 0, 'already suspended'",
          r.rc == 0 and "already suspended" in r.out, r.said())

    # A busy session: a plain suspend is refused, a forced one (by pid) works.
    c = busy_session(a, a2, "force")
    pid = info[a2]["pid"]
    r = cli("suspend-session", str(pid))
    check("suspend-session <pid> of a busy session: exit 1, refused because R is busy",
          r.rc == 1 and "not suspended" in r.err and "busy" in r.err, r.said())
    t0 = time.monotonic()
    r = cli("force-suspend-session", str(pid))
    check("force-suspend-session <pid> of a busy session: exit 0, 'force-suspended'",
          r.rc == 0 and ("%s/%s (pid %d): force-suspended" % (USERS["A"], a2, pid)) in r.out, r.said())
    check("force-suspend did not wait for Sys.sleep(60)", time.monotonic() - t0 < 45,
          "%.1f s" % (time.monotonic() - t0))
    s = wait_state(a, a2, "suspended", 5)
    check("force-suspend-session: suspended", s and s.get("state") == "suspended", json.dumps(s))
    check("force-suspend-session: its rsession (pid %d) is gone" % pid, wait_pid_gone(pid))
    check("force-suspend-session: saved state present", os.path.isdir(state_dir("A", a2)), state_dir("A", a2))
    c.close()

    # kill-session by id
    pid = info[b1]["pid"]
    r = cli("kill-session", b1)
    check("kill-session <id>: exit 0, 'killed'",
          r.rc == 0 and ("%s/%s (pid %d): killed" % (USERS["B"], b1, pid)) in r.out, r.said())
    s = wait_state(b, b1, "exited", 5)
    check("kill-session: exited, reason names the administrator",
          s and s.get("state") == "exited" and "killed by an administrator (root)" in str(s.get("exit_reason")),
          json.dumps(s))
    check("kill-session: its rsession (pid %d) is gone" % pid, wait_pid_gone(pid))

    for target in ("0" * 16, "999999999", "-4", "x y"):
        r = cli("kill-session", target)
        check("kill-session %r: exit 1, no such session" % target, r.rc == 1 and "no session" in r.err, r.said())

    # The audit trail has the actions with the admin's name.
    con = sqlite3.connect("file:%s/rstudio.sqlite?mode=ro" % H.DB_DIR, uri=True)
    try:
        rows = con.execute("SELECT actor, action, target FROM audit_events").fetchall()
    finally:
        con.close()
    for action, sid in (("admin-suspend", a1), ("admin-force-suspend", a2), ("admin-kill", b1)):
        check("audit: root %s %s" % (action, sid), ("root", action, sid) in rows, rows[-10:])


def t_all():
    serve()
    a, b = browser("A"), browser("B")
    a3, a4, b3 = create_session(a, "A 3"), create_session(a, "A 4"), create_session(b, "B 3")
    info = {sid: wait_running(br, sid, "all") for br, sid in ((a, a3), (a, a4), (b, b3))}

    r = cli("suspend-all", "--user", USERS["B"])
    check("suspend-all --user B: exit 0, one line, for B's session, 'suspended'",
          r.rc == 0 and len(r.out.strip().splitlines()) == 1 and line_for(r.out, "B", b3)
          and line_for(r.out, "B", b3)[0].endswith(": suspended"), r.said())
    s = wait_state(b, b3, "suspended", 5)
    check("suspend-all --user B: B's session suspended, pid gone, state saved",
          s and s.get("state") == "suspended" and wait_pid_gone(info[b3]["pid"]) and os.path.isdir(state_dir("B", b3)),
          json.dumps(s))
    check("suspend-all --user B: A's sessions still running",
          all((a.session(sid) or {}).get("state") == "running" for sid in (a3, a4)))

    c = busy_session(a, a4, "force-all")
    t0 = time.monotonic()
    r = cli("force-suspend-all")
    lines = r.out.strip().splitlines()
    check("force-suspend-all: exit 0, one line per running session (A's two), each force-suspended",
          r.rc == 0 and len(lines) == 2 and all(line_for(r.out, "A", sid) for sid in (a3, a4))
          and all(ln.endswith(": force-suspended") for ln in lines), r.said())
    check("force-suspend-all took seconds (%.1f s)" % (time.monotonic() - t0), time.monotonic() - t0 < 45)
    for sid in (a3, a4):
        s = wait_state(a, sid, "suspended", 5)
        check("force-suspend-all: %s suspended, pid gone, state saved" % sid,
              s and s.get("state") == "suspended" and wait_pid_gone(info[sid]["pid"])
              and os.path.isdir(state_dir("A", sid)), json.dumps(s))
    c.close()

    r = cli("kill-all")
    check("kill-all with nothing running: exit 0, 'no running sessions'",
          r.rc == 0 and "no running sessions" in r.out, r.said())
    a5, b5 = create_session(a, "A 5"), create_session(b, "B 5")
    info = {a5: wait_running(a, a5, "kill-all"), b5: wait_running(b, b5, "kill-all")}
    r = cli("kill-all", "--user=%s" % USERS["A"])
    check("kill-all --user=A: exit 0, only A's session killed",
          r.rc == 0 and len(r.out.strip().splitlines()) == 1 and line_for(r.out, "A", a5), r.said())
    check("kill-all --user=A: B's session still running", (b.session(b5) or {}).get("state") == "running")
    r = cli("kill-all")
    check("kill-all: exit 0, B's session killed", r.rc == 0 and line_for(r.out, "B", b5), r.said())
    for br, sid in ((a, a5), (b, b5)):
        s = wait_state(br, sid, "exited", 10)
        check("kill-all: %s exited, pid gone" % sid,
              s and s.get("state") == "exited" and wait_pid_gone(info[sid]["pid"]), json.dumps(s))
    r = cli("status")
    check("status counts sessions by state (0 running)", r.rc == 0 and " 0 running" in r.out, r.said())


def t_offline_reload():
    serve()
    a = browser("A")
    r = cli("offline", "Back at five")
    status = a.api("GET", "/api/sessions").status
    check("offline: exit 0; /api/sessions answers 503", r.rc == 0 and status == 503, r.said(), "HTTP %s" % status)
    resp = H.http_request(H.server.scheme, "GET", "/auth-sign-in")
    check("offline: the page carries the message", resp.status == 503 and b"Back at five" in resp.body, resp.said())
    r = cli("status")
    check("status says offline", r.rc == 0 and "offline" in r.out, r.said())
    r = cli("online")
    status = a.api("GET", "/api/sessions").status
    check("online: exit 0; /api/sessions answers 200", r.rc == 0 and status == 200, r.said(), "HTTP %s" % status)
    r = cli("online")
    check("online again: exit 0, 'already online'", r.rc == 0 and "already online" in r.out, r.said())

    mark = H.log_size()
    r = cli("reload")
    check("reload: exit 0, 'reloaded'", r.rc == 0 and "reloaded" in r.out, r.said())
    check("reload: logged with the admin's name",
          any("Reloading the configuration" in ln and "admin root" in ln for ln in H.log_since(mark)),
          *H.log_since(mark)[-5:])
    with open(H.CONF + "/rserver.conf", "a") as f:
        f.write("no-such-key=1\n")
    try:
        r = cli("reload")
        check("reload with a broken configuration: exit 1, refused", r.rc == 1 and "refused" in r.err, r.said())
    finally:
        H.server.write_config(rserver=RS)
    r = cli("status")
    check("rserver still serving after the refused reload", r.rc == 0, r.said())


def t_verify():
    serve()
    r = cli("verify-installation", timeout=120)
    lines = [ln for ln in r.out.splitlines() if ln.strip()]
    check("verify-installation: exit 0, every line 'ok'", r.rc == 0 and lines and all(
        ln.startswith("ok ") for ln in lines), r.said())
    for item in ("rserver", "rsession-launcher", "rsession", "server-user", "PAM service auth-pam-service",
                 "libwebsockets libuv plugin", "R", "configuration", "cookie key", "database directory"):
        check("verify-installation reports %s" % item, any(ln.split(None, 1)[1].startswith(item + ":")
                                                           for ln in lines if " " in ln), r.out)
    key = H.TMP + "/key"
    os.chmod(key, 0o644)
    try:
        r = cli("verify-installation", timeout=120)
        check("verify-installation with a 0644 cookie key: exit 1, FAIL cookie key",
              r.rc == 1 and any(ln.startswith("FAIL cookie key") for ln in r.out.splitlines()), r.said())
    finally:
        os.chmod(key, 0o600)
    r = cli("verify-installation", "--user", USERS["B"], timeout=CLI_WAIT)
    check("verify-installation --user B: exit 0, a session ran 1+1 and quit",
          r.rc == 0 and re.search(r"^ok +session as %s: .*ran 1\+1 and got \[1\] 2" % USERS["B"], r.out, re.M),
          r.said())
    r = cli("verify-installation", "--user", "no_such_user_%d" % H.PID, timeout=CLI_WAIT)
    check("verify-installation --user <unknown>: exit 1, FAIL session", r.rc == 1 and "FAIL session as" in r.out,
          r.said())


def t_service():
    serve()
    a = browser("A")
    sid = create_session(a, "service")
    pid = wait_running(a, sid, "service")["pid"]
    old = H.server.proc
    r = cli("stop")
    check("stop: exit 0, 'rserver stopped'", r.rc == 0 and "rserver stopped" in r.out, r.said())
    try:
        rc = old.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    check("stop: rserver exited (status 0)", rc == 0, "status %r" % rc)
    if rc is not None:
        # From here rserver is the CLI's: cleanup() kills it (and what is
        # left) by pid; the harness must not stop or check the old one.
        H.server.proc = None
        H.server.config = None
    check("stop: the pid file is gone", not os.path.exists(H.DATA_DIR + "/rserver.pid"))
    check("stop: the session's rsession (pid %d) keeps running" % pid, pid_alive(pid))
    r = cli("status")
    check("status when stopped: exit 1, not running", r.rc == 1 and "not running" in r.err, r.said())
    r = cli("stop")
    check("stop when stopped: exit 0, not running", r.rc == 0 and "not running" in r.out, r.said())

    r = cli("start", timeout=90)
    m = re.search(r"rserver started \(pid (\d+)\)", r.out)
    check("start: exit 0, 'rserver started (pid N)'", r.rc == 0 and m, r.said())
    new = int(m.group(1)) if m else None
    r = cli("status")
    check("status after start: running with the new pid", r.rc == 0 and ("pid %s," % new) in r.out, r.said())
    r = cli("start")
    check("start when running: exit 0, already running", r.rc == 0 and "already running" in r.out, r.said())
    s = wait_state(a, sid, "running", 20)
    check("the session is found again by the new rserver (same pid)", s and s.get("pid") == pid, json.dumps(s))

    r = cli("restart", timeout=120)
    m = re.search(r"rserver started \(pid (\d+)\)", r.out)
    check("restart: exit 0, stopped then started with a new pid",
          r.rc == 0 and "rserver stopped" in r.out and m and int(m.group(1)) != new, r.said())
    if new:
        check("restart: the old rserver (pid %d) is gone" % new, wait_pid_gone(new, 5))
    r = cli("kill-session", str(pid))
    check("kill-session by pid after the restart: exit 0", r.rc == 0 and "killed" in r.out, r.said())
    r = cli("stop")
    check("stop the CLI-started rserver: exit 0", r.rc == 0, r.said())


TESTS = [
    (1, "basics, usage, status, test-config", t_basics),
    (2, "who may connect; strict protocol", t_access),
    (3, "list-sessions; suspend, force-suspend, kill one session", t_list_and_single),
    (4, "suspend-all, force-suspend-all, kill-all", t_all),
    (5, "offline, online, reload", t_offline_reload),
    (6, "verify-installation", t_verify),
    (7, "stop, start, restart without systemd", t_service),
]


def main():
    global CLI
    if os.geteuid() == 0:  # else H.main() says SKIP
        if not os.environ.get("CLI"):
            print("test-cli-admin: set CLI")
            return 2
        CLI = os.path.abspath(os.environ["CLI"])
    return H.main(TESTS)


if __name__ == "__main__":
    sys.exit(main())
