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

Creates, and removes on exit even on failure or interrupt (try/finally,
atexit, SIGTERM/SIGHUP handlers): a server user rs_ca_srv_<pid>, users
rs_ca_a_<pid>, rs_ca_b_<pid> and rs_ca_adm_<pid> (the latter in group
rs_ca_grp_<pid>, which is admin-group), the PAM services
/etc/pam.d/rs-ca-<pid> and /etc/pam.d/rs-ca-<pid>-session, and a
temporary root /tmp/rs-ca-XXXXXX (config, data, database, key, homes,
rserver's log). At the end every process of those users or naming this
run's config dir (rserver, monitor, launchers, sessions, an rserver the
CLI started) is killed by pid. KEEP_TMP=1 keeps the root.

Environment: RSERVER, LAUNCHER, RSESSION, CLI (rstudio-server). Skips when
not root. Output: "ok   NAME" / "FAIL NAME" with evidence, and
"N passed, M failed".
"""

import atexit
import grp
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "server"))
import wsclient  # noqa: E402

START_WAIT = 60
RUN_WAIT = 90
STATE_WAIT = 60
EVAL_WAIT = 60
CLI_WAIT = 300

PID = os.getpid()
SRV_USER = "rs_ca_srv_%d" % PID
USERS = {"A": "rs_ca_a_%d" % PID, "B": "rs_ca_b_%d" % PID, "ADM": "rs_ca_adm_%d" % PID}
PASSWORDS = {"A": "Ca-a-%d-pw!" % PID, "B": "Ca-b-%d-pw!" % PID, "ADM": "Ca-adm-%d-pw!" % PID}
ADMIN_GROUP = "rs_ca_grp_%d" % PID
PAM_SVC = "rs-ca-%d" % PID
PAM_SESSION_SVC = "rs-ca-%d-session" % PID
PAM_FILES = ["/etc/pam.d/" + PAM_SVC, "/etc/pam.d/" + PAM_SESSION_SVC]
PERMISSION = "permission denied: run as root or as a member of admin-group"

os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"

passed = 0
failed = 0
TMP = LOG = CONF = DB_DIR = DATA_DIR = None
PORT = 0
RSERVER = LAUNCHER = RSESSION = CLI = None
created_users = []
created_groups = []
created_pam = []
uids = {}
server_proc = None
_cleaned = False


class Abort(Exception):
    pass


def ok(name):
    global passed
    passed += 1
    print("ok   %s" % name, flush=True)


def fail(name, *evidence):
    global failed
    failed += 1
    print("FAIL %s" % name)
    for e in evidence:
        for line in str(e).splitlines() or [""]:
            print("     %s" % line)
    sys.stdout.flush()


def check(name, cond, *evidence):
    if cond:
        ok(name)
    else:
        fail(name, *evidence)
    return bool(cond)


def require(name, cond, *evidence):
    if not check(name, cond, *evidence):
        raise Abort(name)


def run(argv, input=None, check_rc=True):
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout.strip()))
    return p


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def said(self):
        return "exit %s\nstdout: %s\nstderr: %s" % (self.rc, self.out.strip(), self.err.strip())


def cli(*args, user=None, conf=True, timeout=CLI_WAIT):
    argv = [CLI] + (["--config-dir", CONF] if conf else []) + list(args)
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return Result(None, e.stdout or "", "timed out after %d s" % timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def log_size():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return 0


def log_since(mark):
    try:
        with open(LOG, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


# ---- processes ----


def proc_info(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return None
    ruid = euid = -1
    state = "?"
    for line in status.splitlines():
        if line.startswith("Uid:"):
            f = line.split()
            ruid, euid = int(f[1]), int(f[2])
        elif line.startswith("State:"):
            state = line.split()[1]
    return ruid, euid, state, cmdline


def pid_alive(pid):
    info = proc_info(pid) if isinstance(pid, int) and pid > 0 else None
    return info is not None and info[2] not in ("Z", "X")


def wait_pid_gone(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def leftover_pids():
    ours = set(uids.values())
    conf = CONF.encode() if CONF else None
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == PID:
            continue
        info = proc_info(int(d))
        if info is None or info[2] in ("Z", "X"):
            continue
        if info[0] in ours or info[1] in ours or (conf and conf in info[3]):
            found.append(int(d))
    return found


def kill_leftovers(timeout=10):
    deadline = time.monotonic() + timeout
    left = leftover_pids()
    while left and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
        left = leftover_pids()
    return left


# ---- rserver ----


def write_config(extra=None):
    rs = {
        "www-address": "127.0.0.1",
        "www-port": str(PORT),
        "server-user": SRV_USER,
        "server-data-dir": DATA_DIR,
        "secure-cookie-key-file": TMP + "/key",
        "auth-pam-service": PAM_SVC,
        "auth-pam-sessions-profile": PAM_SESSION_SVC,
        "rsession-launcher-path": LAUNCHER,
        "rsession-path": RSESSION,
        "session-temp-dir": TMP + "/stmp",
        "auth-sign-in-throttle-seconds": "0",
        "admin-group": ADMIN_GROUP,
    }
    rs.update(extra or {})
    with open(CONF + "/rserver.conf", "w") as f:
        f.write("".join("%s=%s\n" % kv for kv in rs.items()))
    with open(CONF + "/rsession.conf", "w") as f:
        f.write("session-save-action-default=no\nsession-timeout-minutes=600\nsession-timeout-kill-hours=0\n")
    with open(CONF + "/database.conf", "w") as f:
        f.write("provider=sqlite\ndirectory=%s\n" % DB_DIR)
    with open(CONF + "/profiles", "w") as f:
        f.write("")


def http_get(path, headers=None, method="GET", body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        h = {"Connection": "close"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def serving():
    try:
        return http_get("/health-check", timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def start_server():
    global server_proc
    with open(LOG, "ab") as f:
        f.write(b"---- test-cli-admin: start ----\n")
        server_proc = subprocess.Popen([RSERVER, "--config-dir", CONF], stdin=subprocess.DEVNULL, stdout=f,
                                       stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if server_proc.poll() is not None:
            return False
        if serving() and os.path.exists(DATA_DIR + "/admin.sock"):
            return True
        time.sleep(0.1)
    return False


class Browser:
    def __init__(self, who):
        self.who = who
        self.user = USERS[who]
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        status, hdrs, data = http_get(path, h, method, body.encode() if isinstance(body, str) else body)
        for sc in hdrs.get_all("Set-Cookie") or []:
            name, _, value = sc.split(";", 1)[0].partition("=")
            if value.strip() == "" or "max-age=0" in sc.lower():
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()
        return status, data

    def sign_in(self):
        self.request("GET", "/auth-sign-in")
        form = urllib.parse.urlencode({"username": self.user, "password": PASSWORDS[self.who],
                                       "rs-csrf-token": self.cookies.get("rs-csrf-token", ""), "appUri": "/"})
        status, _ = self.request("POST", "/auth-do-sign-in", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        return status == 302 and "user-id" in self.cookies

    def api(self, method, path):
        h = {"X-RS-CSRF-Token": self.cookies.get("rs-csrf-token", "")}
        status, data = self.request(method, path, "" if method == "POST" else None, h)
        try:
            return status, json.loads(data.decode())
        except ValueError:
            return status, None

    def session(self, sid):
        status, lst = self.api("GET", "/api/sessions")
        for s in lst if isinstance(lst, list) else []:
            if s.get("id") == sid:
                return s
        return None

    def create(self, label):
        status, j = self.api("POST", "/api/sessions")
        sid = j.get("id") if isinstance(j, dict) else None
        require("%s: POST /api/sessions: 201" % label, status == 201 and sid, "HTTP %s %r" % (status, j))
        return sid

    def wait_state(self, sid, want, timeout=STATE_WAIT):
        want = {want} if isinstance(want, str) else set(want)
        deadline = time.monotonic() + timeout
        info = None
        while time.monotonic() < deadline:
            info = self.session(sid)
            if info and info.get("state") in want:
                return info
            time.sleep(0.2)
        return info

    def wait_running(self, sid, label):
        info = self.wait_state(sid, "running", RUN_WAIT)
        require("%s: session %s running with a pid" % (label, sid),
                info and info.get("state") == "running" and isinstance(info.get("pid"), int), json.dumps(info))
        return info


browsers = {}


def browser(who):
    if who not in browsers:
        b = Browser(who)
        require("%s signs in" % who, b.sign_in(), "cookies: %r" % b.cookies)
        browsers[who] = b
    return browsers[who]


class Console:
    def __init__(self, b, sid):
        self.ws = wsclient.WebSocket()
        self.b, self.sid = b, sid
        self.msgs = []

    def connect(self):
        h = {"Origin": "http://127.0.0.1:%d" % PORT,
             "Cookie": "; ".join("%s=%s" % kv for kv in self.b.cookies.items())}
        return self.ws.connect("ws://127.0.0.1:%d/s/%s/console" % (PORT, self.sid), h, timeout=20)

    def read_until(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                m = self.ws.recv_json(left)
            except (wsclient.Closed, wsclient.ProtocolError, ValueError):
                return None
            if m is None:
                return None
            self.msgs.append(m)
            if pred(m):
                return m

    def text(self, start=0):
        return "".join(m.get("text", "") for m in self.msgs[start:] if m.get("type") == "output")

    def send(self, code):
        self.ws.send_json({"type": "input", "text": code})

    def close(self):
        self.ws.close()


def busy_session(b, sid, label):
    """Opens a console, waits for a prompt, starts Sys.sleep(60) and waits
    until R is busy with it."""
    c = Console(b, sid)
    require("%s: console upgrades" % label, c.connect() == 101, "status %s" % c.ws.error)
    require("%s: console prompt" % label, c.read_until(lambda m: m.get("type") == "prompt", RUN_WAIT) is not None,
            c.msgs[-5:])
    mark = len(c.msgs)
    c.send("cat('sleeping\\n'); Sys.sleep(60)\n")
    m = c.read_until(lambda m: "sleeping" in c.text(mark), EVAL_WAIT)
    require("%s: R is busy in Sys.sleep(60)" % label, m is not None, c.msgs[-5:])
    return c


def state_dir(who, sid):
    home = pwd.getpwnam(USERS[who]).pw_dir
    return "%s/.local/share/rstudio/sessions/%s" % (home, sid)


def line_for(out, who, sid):
    return [ln for ln in out.splitlines() if ln.startswith("%s/%s " % (USERS[who], sid))]


# ---- the tests ----


def t_basics():
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
    bad = TMP + "/badconf"
    shutil.copytree(CONF, bad)
    with open(bad + "/rserver.conf", "a") as f:
        f.write("no-such-key=1\n")
    p = subprocess.run([CLI, "--config-dir", bad, "test-config"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    check("test-config: exit 1 naming file:line of a bad key", p.returncode == 1 and "rserver.conf:" in p.stdout
          and "no-such-key" in p.stdout, p.stdout)
    env = dict(os.environ, RSTUDIO_CONFIG_DIR=CONF)
    p = subprocess.run([CLI, "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    check("RSTUDIO_CONFIG_DIR selects the configuration", p.returncode == 0 and "running" in p.stdout,
          p.stdout, p.stderr)

    r = cli("status")
    check("status: exit 0, running with rserver's pid, address and port",
          r.rc == 0 and ("pid %d," % server_proc.pid) in r.out and ("127.0.0.1:%d" % PORT) in r.out
          and "online" in r.out, r.said())
    st = os.stat(DATA_DIR + "/admin.sock")
    gid = grp.getgrnam(ADMIN_GROUP).gr_gid
    check("admin.sock: a socket, root:admin-group, mode 0660",
          stat.S_ISSOCK(st.st_mode) and st.st_uid == 0 and st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660,
          "uid %d gid %d mode %o" % (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)))
    with open(DATA_DIR + "/rserver.pid") as f:
        check("rserver.pid names rserver", f.read().strip() == str(server_proc.pid))


def t_access():
    r = cli("list-sessions", user=USERS["A"])
    check("a user outside admin-group is refused: exit 1, permission message",
          r.rc == 1 and PERMISSION in r.err, r.said())
    r = cli("status", user=USERS["ADM"])
    check("a member of admin-group may use the CLI", r.rc == 0 and "running" in r.out, r.said())
    mark = log_size()
    r = cli("offline", user=USERS["ADM"])
    cli("online", user=USERS["ADM"])
    check("an admin-group member's action is audited with their name", r.rc == 0 and any(
        ("audit: %s admin-offline" % USERS["ADM"]) in ln for ln in log_since(mark)), r.said(), *log_since(mark)[-5:])
    # With the file mode opened up, SO_PEERCRED still keeps others out.
    path = DATA_DIR + "/admin.sock"
    os.chmod(path, 0o666)
    try:
        mark = log_size()
        r = cli("list-sessions", user=USERS["A"])
        check("with the socket mode 0666, SO_PEERCRED refuses a non-admin: exit 1, permission message",
              r.rc == 1 and PERMISSION in r.err, r.said())
        check("the refusal is logged", any("refused %s" % USERS["A"] in ln for ln in log_since(mark)),
              *log_since(mark)[-5:])
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
    a, b = browser("A"), browser("B")
    a1, a2 = a.create("A 1"), a.create("A 2")
    b1 = b.create("B 1")
    info = {sid: br.wait_running(sid, "list") for br, sid in ((a, a1), (a, a2), (b, b1))}

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
    s = a.wait_state(a1, "suspended", 5)
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
    s = a.wait_state(a2, "suspended", 5)
    check("force-suspend-session: suspended", s and s.get("state") == "suspended", json.dumps(s))
    check("force-suspend-session: its rsession (pid %d) is gone" % pid, wait_pid_gone(pid))
    check("force-suspend-session: saved state present", os.path.isdir(state_dir("A", a2)), state_dir("A", a2))
    c.close()

    # kill-session by id
    pid = info[b1]["pid"]
    r = cli("kill-session", b1)
    check("kill-session <id>: exit 0, 'killed'",
          r.rc == 0 and ("%s/%s (pid %d): killed" % (USERS["B"], b1, pid)) in r.out, r.said())
    s = b.wait_state(b1, "exited", 5)
    check("kill-session: exited, reason names the administrator",
          s and s.get("state") == "exited" and "killed by an administrator (root)" in str(s.get("exit_reason")),
          json.dumps(s))
    check("kill-session: its rsession (pid %d) is gone" % pid, wait_pid_gone(pid))

    for target in ("0" * 16, "999999999", "-4", "x y"):
        r = cli("kill-session", target)
        check("kill-session %r: exit 1, no such session" % target, r.rc == 1 and "no session" in r.err, r.said())

    # The audit trail has the actions with the admin's name.
    con = sqlite3.connect("file:%s/rstudio.sqlite?mode=ro" % DB_DIR, uri=True)
    try:
        rows = con.execute("SELECT actor, action, target FROM audit_events").fetchall()
    finally:
        con.close()
    for action, sid in (("admin-suspend", a1), ("admin-force-suspend", a2), ("admin-kill", b1)):
        check("audit: root %s %s" % (action, sid), ("root", action, sid) in rows, rows[-10:])


def t_all():
    a, b = browser("A"), browser("B")
    a3, a4, b3 = a.create("A 3"), a.create("A 4"), b.create("B 3")
    info = {sid: br.wait_running(sid, "all") for br, sid in ((a, a3), (a, a4), (b, b3))}

    r = cli("suspend-all", "--user", USERS["B"])
    check("suspend-all --user B: exit 0, one line, for B's session, 'suspended'",
          r.rc == 0 and len(r.out.strip().splitlines()) == 1 and line_for(r.out, "B", b3)
          and line_for(r.out, "B", b3)[0].endswith(": suspended"), r.said())
    s = b.wait_state(b3, "suspended", 5)
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
        s = a.wait_state(sid, "suspended", 5)
        check("force-suspend-all: %s suspended, pid gone, state saved" % sid,
              s and s.get("state") == "suspended" and wait_pid_gone(info[sid]["pid"])
              and os.path.isdir(state_dir("A", sid)), json.dumps(s))
    c.close()

    r = cli("kill-all")
    check("kill-all with nothing running: exit 0, 'no running sessions'",
          r.rc == 0 and "no running sessions" in r.out, r.said())
    a5, b5 = a.create("A 5"), b.create("B 5")
    info = {a5: a.wait_running(a5, "kill-all"), b5: b.wait_running(b5, "kill-all")}
    r = cli("kill-all", "--user=%s" % USERS["A"])
    check("kill-all --user=A: exit 0, only A's session killed",
          r.rc == 0 and len(r.out.strip().splitlines()) == 1 and line_for(r.out, "A", a5), r.said())
    check("kill-all --user=A: B's session still running", (b.session(b5) or {}).get("state") == "running")
    r = cli("kill-all")
    check("kill-all: exit 0, B's session killed", r.rc == 0 and line_for(r.out, "B", b5), r.said())
    for br, sid in ((a, a5), (b, b5)):
        s = br.wait_state(sid, "exited", 10)
        check("kill-all: %s exited, pid gone" % sid,
              s and s.get("state") == "exited" and wait_pid_gone(info[sid]["pid"]), json.dumps(s))
    r = cli("status")
    check("status counts sessions by state (0 running)", r.rc == 0 and " 0 running" in r.out, r.said())


def t_offline_reload():
    a = browser("A")
    r = cli("offline", "Back at five")
    status, _ = a.api("GET", "/api/sessions")
    check("offline: exit 0; /api/sessions answers 503", r.rc == 0 and status == 503, r.said(), "HTTP %s" % status)
    s, _, body = http_get("/auth-sign-in")
    check("offline: the page carries the message", s == 503 and b"Back at five" in body, "HTTP %s %r" % (s, body[:200]))
    r = cli("status")
    check("status says offline", r.rc == 0 and "offline" in r.out, r.said())
    r = cli("online")
    status, _ = a.api("GET", "/api/sessions")
    check("online: exit 0; /api/sessions answers 200", r.rc == 0 and status == 200, r.said(), "HTTP %s" % status)
    r = cli("online")
    check("online again: exit 0, 'already online'", r.rc == 0 and "already online" in r.out, r.said())

    mark = log_size()
    r = cli("reload")
    check("reload: exit 0, 'reloaded'", r.rc == 0 and "reloaded" in r.out, r.said())
    check("reload: logged with the admin's name",
          any("Reloading the configuration" in ln and "admin root" in ln for ln in log_since(mark)),
          *log_since(mark)[-5:])
    with open(CONF + "/rserver.conf", "a") as f:
        f.write("no-such-key=1\n")
    try:
        r = cli("reload")
        check("reload with a broken configuration: exit 1, refused", r.rc == 1 and "refused" in r.err, r.said())
    finally:
        write_config()
    r = cli("status")
    check("rserver still serving after the refused reload", r.rc == 0, r.said())


def t_verify():
    r = cli("verify-installation", timeout=120)
    lines = [ln for ln in r.out.splitlines() if ln.strip()]
    check("verify-installation: exit 0, every line 'ok'", r.rc == 0 and lines and all(
        ln.startswith("ok ") for ln in lines), r.said())
    for item in ("rserver", "rsession-launcher", "rsession", "server-user", "PAM service auth-pam-service",
                 "libwebsockets libuv plugin", "R", "configuration", "cookie key", "database directory"):
        check("verify-installation reports %s" % item, any(ln.split(None, 1)[1].startswith(item + ":")
                                                           for ln in lines if " " in ln), r.out)
    key = TMP + "/key"
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
    r = cli("verify-installation", "--user", "no_such_user_%d" % PID, timeout=CLI_WAIT)
    check("verify-installation --user <unknown>: exit 1, FAIL session", r.rc == 1 and "FAIL session as" in r.out,
          r.said())


def t_service():
    global server_proc
    a = browser("A")
    sid = a.create("service")
    pid = a.wait_running(sid, "service")["pid"]
    old = server_proc
    r = cli("stop")
    check("stop: exit 0, 'rserver stopped'", r.rc == 0 and "rserver stopped" in r.out, r.said())
    try:
        rc = old.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    check("stop: rserver exited (status 0)", rc == 0, "status %r" % rc)
    check("stop: the pid file is gone", not os.path.exists(DATA_DIR + "/rserver.pid"))
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
    s = a.wait_state(sid, "running", 20)
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
    server_proc = None


TESTS = [
    ("basics, usage, status, test-config", t_basics),
    ("who may connect; strict protocol", t_access),
    ("list-sessions; suspend, force-suspend, kill one session", t_list_and_single),
    ("suspend-all, force-suspend-all, kill-all", t_all),
    ("offline, online, reload", t_offline_reload),
    ("verify-installation", t_verify),
    ("stop, start, restart without systemd", t_service),
]


def setup():
    global TMP, LOG, CONF, DB_DIR, DATA_DIR, PORT
    TMP = tempfile.mkdtemp(prefix="rs-ca-", dir="/tmp")
    os.chmod(TMP, 0o711)
    LOG, CONF, DB_DIR, DATA_DIR = TMP + "/log", TMP + "/conf", TMP + "/db", TMP + "/run"
    os.mkdir(CONF, 0o755)
    os.mkdir(TMP + "/home", 0o755)
    open(LOG, "w").close()
    for u in [SRV_USER] + list(USERS.values()):
        if run(["id", u], check_rc=False).returncode == 0:
            raise RuntimeError("user %s exists already" % u)
    for p in PAM_FILES:
        if os.path.exists(p):
            raise RuntimeError("%s exists already" % p)
    run(["groupadd", ADMIN_GROUP])
    created_groups.append(ADMIN_GROUP)
    run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", SRV_USER])
    created_users.append(SRV_USER)
    uids["srv"] = pwd.getpwnam(SRV_USER).pw_uid
    for who, name in USERS.items():
        extra = ["-G", ADMIN_GROUP] if who == "ADM" else []
        run(["useradd", "-m", "-d", "%s/home/%s" % (TMP, name), "-s", "/bin/bash"] + extra + [name])
        created_users.append(name)
        uids[who] = pwd.getpwnam(name).pw_uid
    run(["chpasswd"], input="".join("%s:%s\n" % (USERS[w], PASSWORDS[w]) for w in USERS))
    created_pam.append(PAM_FILES[0])
    with open(PAM_FILES[0], "w") as f:
        f.write("auth     required   pam_unix.so nodelay\naccount  required   pam_unix.so\n")
    created_pam.append(PAM_FILES[1])
    with open(PAM_FILES[1], "w") as f:
        f.write("auth     sufficient pam_rootok.so\naccount  required   pam_unix.so\n"
                "session  required   pam_unix.so\n")
    for p in PAM_FILES:
        os.chmod(p, 0o644)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    PORT = s.getsockname()[1]
    s.close()
    write_config()


def cleanup():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    problems = []
    if server_proc is not None and server_proc.poll() is None:
        server_proc.terminate()
        try:
            server_proc.wait(10)
        except subprocess.TimeoutExpired:
            server_proc.kill()
            server_proc.wait()
    if CONF:
        left = kill_leftovers()
        if left:
            problems.append("processes still alive after SIGKILL: %s" % left)
    for u in reversed(created_users):
        p = run(["userdel", "-r", u], check_rc=False)
        if run(["id", u], check_rc=False).returncode == 0:
            problems.append("userdel %s: %s" % (u, p.stdout.strip()))
    for g in created_groups:
        run(["groupdel", g], check_rc=False)
    for p in created_pam:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
        except OSError as e:
            problems.append("removing %s: %s" % (p, e))
    if TMP:
        if os.environ.get("KEEP_TMP"):
            print("kept %s" % TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    for p in problems:
        print("cleanup: %s" % p)
    sys.stdout.flush()


def on_signal(sig, frame):
    raise SystemExit(128 + sig)


def main():
    global RSERVER, LAUNCHER, RSESSION, CLI
    if os.geteuid() != 0:
        print("SKIP test-cli-admin: needs root (throwaway users, PAM, sessions as users)")
        print("0 passed, 0 failed")
        return 0
    missing = [v for v in ("RSERVER", "LAUNCHER", "RSESSION", "CLI") if not os.environ.get(v)]
    if missing:
        print("test-cli-admin: set %s" % ", ".join(missing))
        return 2
    RSERVER, LAUNCHER, RSESSION, CLI = (os.path.abspath(os.environ[v])
                                        for v in ("RSERVER", "LAUNCHER", "RSESSION", "CLI"))
    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    t0 = time.monotonic()
    try:
        try:
            setup()
            if not start_server():
                raise RuntimeError("rserver did not start: %s" % "\n".join(log_since(0)[-20:]))
        except Exception as e:
            fail("setup", repr(e), traceback.format_exc())
            return 1
        for title, fn in TESTS:
            print("---- %s ----" % title, flush=True)
            t = time.monotonic()
            mark = log_size()
            before = failed
            try:
                fn()
            except Abort:
                pass
            except Exception as e:
                fail("%s: raised %r" % (title, e), traceback.format_exc())
            if failed > before:
                print("     -- rserver log during this test (last 30 lines) --")
                for line in log_since(mark)[-30:]:
                    print("     | %s" % line)
            print("     (%.1f s)" % (time.monotonic() - t), flush=True)
        text = "\n".join(log_since(0))
        check("no sanitizer reports in the log", "Sanitizer" not in text,
              *[ln for ln in text.splitlines() if "Sanitizer" in ln][:20])
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        print("     (total %.1f s)" % (time.monotonic() - t0))
        cleanup()
        print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
