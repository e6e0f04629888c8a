"""Shared harness for rserver's end-to-end Python suites (standard library
only; run as root): throwaway users and PAM services, a private config dir,
rserver start/stop, sign-in, the JSON API, console WebSockets, waits,
ok/FAIL reporting and cleanup that runs even on failure or interrupt.

A suite configures it, lists its tests and hands over to main():

    import harness as H
    from harness import ok, check, require, browser, open_console  # ...

    H.configure("test-foo", "fo", users=("A", "B"))
    TESTS = [(1, "title", t1_fn), ...]
    if __name__ == "__main__":
        sys.exit(H.main(TESTS))

configure(name, tag, users) names what setup() creates: the server user
rs_<tag>_srv_<pid>, users rs_<tag>_<a|b|...>_<pid> (uid >= 1000, homes
under the temporary root, passwords in PASSWORDS), the PAM services
/etc/pam.d/rs-<tag>-<pid> (sign-in) and /etc/pam.d/rs-<tag>-<pid>-session
(sessions), and a temporary root /tmp/rs-<tag>-XXXXXX (0711) holding the
config (CONF), data (DATA_DIR), database (DB_DIR), key, homes and rserver's
log (LOG). configure(..., group_members=("ADM",)) also has setup() create
the group GROUP, rs_<tag>_grp_<pid>, with those users in it (e.g. for
admin-group); without it GROUP is None and no group is made. cleanup()
stops rserver, kills every process left of the test users or of this
run's config dir (monitor, launchers, sessions) by pid, deletes the users
with their homes, the group, the PAM files and the root.
KEEP_TMP=1 keeps the root for a look.

Values that setup() assigns (TMP, LOG, CONF, DB_DIR, DATA_DIR, PORT,
RSERVER, LAUNCHER, RSESSION) must be read as H.NAME, not imported: an
imported copy stays None. The dicts (USERS, PASSWORDS, uids, browsers,
current) and the Server instance `server` are never rebound and can be
imported.

main(TESTS): skips when not root, needs RSERVER, LAUNCHER and RSESSION in
the environment, RS_TEST_ONLY=2,5 runs only those tests (by number).
Output: "ok   NAME" or "FAIL NAME" with evidence per check, rserver's log
since the test began on a test's first failure, and "N passed, M failed".
"""

import atexit
import errno
import glob
import http.client
import json
import grp
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsclient  # noqa: E402

# ---- waits (seconds) ----
START_WAIT = 60  # rserver answering after a start
RUN_WAIT = 90  # a session from POST to running (R under ASan is slow)
STATE_WAIT = 60  # suspend, quit, kill, resume
EVAL_WAIT = 60  # one console round trip

PID = os.getpid()
SID_RE = re.compile(r"^[0-9a-f]{16}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)$")

# ---- names (configure()) ----

NAME = "test"  # the suite, in messages and rserver's log
TMP_PREFIX = "rs-test-"
SRV_USER = None
USERS = {}  # "A" -> the user's name
PASSWORDS = {}  # "A" -> the user's password
PAM_SVC = None
PAM_SESSION_SVC = None
PAM_FILES = []
GROUP = None  # rs_<tag>_grp_<pid> when configure() got group_members
GROUP_MEMBERS = ()  # the users (keys of USERS) setup() puts in GROUP


def configure(name, tag, users=("A", "B"), group_members=()):
    """Names this run's users, PAM services and temporary root after tag
    (a short lower-case word) and the process id; call before setup().
    group_members (keys of users): setup() creates GROUP with them in it."""
    global NAME, TMP_PREFIX, SRV_USER, PAM_SVC, PAM_SESSION_SVC, GROUP, GROUP_MEMBERS
    NAME = name
    TMP_PREFIX = "rs-%s-" % tag
    SRV_USER = "rs_%s_srv_%d" % (tag, PID)
    cap = tag.capitalize()
    USERS.clear()
    PASSWORDS.clear()
    for who in users:
        USERS[who] = "rs_%s_%s_%d" % (tag, who.lower(), PID)
        # Passwords with characters that form encoding must get right.
        if who == "A":
            PASSWORDS[who] = "%s-a-%d-pw!" % (cap, PID)
        elif who == "B":
            PASSWORDS[who] = "%s b&c=%d+d" % (cap, PID)
        else:
            PASSWORDS[who] = "%s-%s-%d=p w" % (cap, who.lower(), PID)
    PAM_SVC = "rs-%s-%d" % (tag, PID)
    PAM_SESSION_SVC = "rs-%s-%d-session" % (tag, PID)
    PAM_FILES[:] = ["/etc/pam.d/" + PAM_SVC, "/etc/pam.d/" + PAM_SESSION_SVC]
    GROUP_MEMBERS = tuple(group_members)
    GROUP = "rs_%s_grp_%d" % (tag, PID) if GROUP_MEMBERS else None


os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"

# ---- results ----

passed = 0
failed = 0
current = {"num": 0, "title": "", "log_mark": 0, "log_shown": False}


class Abort(Exception):
    """A check the rest of a test depends on failed: go on with the next test."""


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
    if not current["log_shown"] and TMP and os.path.exists(LOG):
        current["log_shown"] = True
        lines = log_since(current["log_mark"])
        if not lines:
            print("     -- rserver logged nothing since this test began --")
        else:
            print("     -- rserver log since this test began (last %d of %d lines) --" % (min(25, len(lines)), len(lines)))
        for line in lines[-25:]:
            print("     | %s" % line)
    sys.stdout.flush()


def check(name, cond, *evidence):
    if cond:
        ok(name)
    else:
        fail(name, *evidence)
    return bool(cond)


def check_eq(name, got, want, *evidence):
    return check(name, got == want, "got  %r" % (got,), "want %r" % (want,), *evidence)


def require(name, cond, *evidence):
    if not check(name, cond, *evidence):
        raise Abort(name)


def short(b, n=400):
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    b = str(b)
    return b if len(b) <= n else b[:n] + "...(%d chars)" % len(b)


# ---- setup state ----

TMP = None
LOG = None
CONF = None
DB_DIR = None
DATA_DIR = None
PORT = 0
created_users = []
created_pam = []
created_groups = []
uids = {}
_cleaned = False


def run(argv, input=None, check_rc=True):
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout.strip()))
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def log_tail(n=30):
    return log_since(0)[-n:]


# ---- processes (/proc) ----


def proc_info(pid):
    """(real uid, effective uid, state letter, comm, cmdline bytes) or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return None
    ruid = euid = -1
    state = "?"
    comm = ""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            f = line.split()
            ruid, euid = int(f[1]), int(f[2])
        elif line.startswith("State:"):
            state = line.split()[1]
        elif line.startswith("Name:"):
            comm = line.split(None, 1)[1] if len(line.split()) > 1 else ""
    return ruid, euid, state, comm, cmdline


def pid_alive(pid, uid=None):
    """Whether pid is a live (not zombie) process, of uid when given."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    info = proc_info(pid)
    if info is None or info[2] in ("Z", "X"):
        return False
    return uid is None or info[0] == uid or info[1] == uid


def wait_pid_gone(pid, uid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, uid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid, uid)


def leftover_pids():
    """Processes of this run: any of the test users' (server user included)
    or any whose command line names this run's config dir (rserver, its
    monitor, launchers)."""
    ours = set(uids.values())
    conf = CONF.encode() if CONF else None
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if pid == os.getpid():
            continue
        info = proc_info(pid)
        if info is None or info[2] in ("Z", "X"):
            continue
        if info[0] in ours or info[1] in ours or (conf and conf in info[4]):
            found.append(pid)
    return found


def kill_until_gone(list_pids, timeout=10):
    """SIGKILL every pid list_pids() names, by pid, until it names none or
    timeout passes (a dying parent may fork once more). Returns what is left."""
    deadline = time.monotonic() + timeout
    left = list_pids()
    while left and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
        left = list_pids()
    return left


def kill_leftovers(timeout=10):
    return kill_until_gone(leftover_pids, timeout)


# ---- rserver ----


class Server:
    def __init__(self):
        self.proc = None
        self.tls = False
        self.config = None  # what the running server was started with

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def write_config(self, rserver=None, rsession=None, profiles=""):
        rs = self._merged_rserver(rserver)
        rsess = self._merged_rsession(rsession)
        with open(CONF + "/rserver.conf", "w") as f:
            f.write("".join("%s=%s\n" % kv for kv in rs.items()))
        with open(CONF + "/rsession.conf", "w") as f:
            f.write("".join("%s=%s\n" % kv for kv in rsess.items()))
        with open(CONF + "/database.conf", "w") as f:
            f.write("provider=sqlite\ndirectory=%s\n" % DB_DIR)
        self.write_profiles(profiles)
        self.tls = rs.get("ssl-enabled") == "1"
        return (tuple(sorted(rs.items())), tuple(sorted(rsess.items())), profiles)

    def write_profiles(self, text):
        with open(CONF + "/profiles", "w") as f:
            f.write(text)
        if self.config is not None:
            self.config = self.config[:2] + (text,)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_WAIT):
        """Starts rserver and waits until it serves user routes. Returns
        (True, "") or (False, why)."""
        with open(LOG, "ab") as f:
            f.write(("---- %s: start ----\n" % NAME).encode())
        logf = open(LOG, "ab")
        try:
            self.proc = subprocess.Popen(
                [RSERVER, "--config-dir", CONF], stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT
            )
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        why = "no answer"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                return False, "rserver exited with %d while starting" % rc
            try:
                r = http_request(self.scheme, "GET", "/health-check", timeout=2)
                if r.status == 200:
                    r = http_request(self.scheme, "GET", "/auth-sign-in", timeout=2)
                    if r.status == 200:
                        return True, ""
                why = "last status %d" % r.status
            except (OSError, http.client.HTTPException) as e:
                why = str(e)
            time.sleep(0.1)
        return False, "not serving after %d s: %s" % (timeout, why)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig, waits for the exit (SIGKILL after timeout) and for the
        monitor to follow. Returns the exit status (None if none ran)."""
        if self.proc is None:
            return None
        p = self.proc
        # The monitor is rserver's fork: its child with the same command line.
        conf = CONF.encode()
        monitors = [pid for pid in leftover_pids()
                    if self._is_child(pid, p.pid) and conf in (proc_info(pid) or (0, 0, 0, 0, b""))[4]]
        try:
            p.send_signal(sig)
        except OSError:
            pass
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            print("     note: rserver still running %d s after signal %d: SIGKILL" % (timeout, sig))
            p.kill()
            rc = p.wait()
        for m in monitors:
            if not wait_pid_gone(m, None, 10):
                print("     note: rserver's monitor %d still running 10 s after rserver: SIGKILL" % m)
                try:
                    os.kill(m, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None
        self.config = None
        return rc

    @staticmethod
    def _is_child(pid, parent):
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
            return int(s[s.rindex(")") + 2:].split()[1]) == parent
        except (OSError, ValueError, IndexError):
            return False

    def ensure(self, rserver=None, rsession=None, profiles=""):
        """A running rserver with this configuration: restarts only when the
        running one has another (or none)."""
        want = (
            tuple(sorted(self._merged_rserver(rserver).items())),
            tuple(sorted(self._merged_rsession(rsession).items())),
            profiles,
        )
        if self.running() and self.config == want:
            return
        if self.proc is not None and not self.running():
            fail("%d: rserver is still running from before" % current["num"],
                 "it exited with status %s (a negative status is the signal)" % self.proc.returncode,
                 *log_tail(15))
        if self.proc is not None:
            self.stop()
        got = self.write_config(rserver, rsession, profiles)
        assert got == want
        good, why = self.start()
        require("%d: rserver starts (%s)" % (current["num"], self.describe(rserver, rsession, profiles)), good, why,
                *log_tail(20))
        self.config = want

    @staticmethod
    def describe(rserver, rsession, profiles):
        items = ["%s=%s" % kv for kv in sorted((rserver or {}).items()) if not kv[0].startswith("ssl-cert")]
        items += ["%s=%s" % kv for kv in sorted((rsession or {}).items())]
        if profiles:
            items.append("profiles")
        return ", ".join(items) or "base config"

    @staticmethod
    def _merged_rserver(extra):
        base = {
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
        }
        base.update(extra or {})
        return base

    @staticmethod
    def _merged_rsession(extra):
        base = {
            "session-save-action-default": "no",
            "session-timeout-minutes": "600",
            "session-timeout-kill-hours": "0",
        }
        base.update(extra or {})
        return base


server = Server()  # configured and started by the tests; never replaced


# ---- HTTP ----


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage
        self.body = body

    def header(self, name):
        return self.headers.get(name, "") if self.headers is not None else ""

    def set_cookies(self):
        if self.headers is None:
            return []
        return self.headers.get_all("Set-Cookie") or []

    def set_cookie(self, name):
        for sc in self.set_cookies():
            if sc.split("=", 1)[0].strip() == name:
                return sc
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def is_json(self):
        return self.header("Content-Type").split(";")[0].strip().lower() == "application/json"

    def said(self):
        return "HTTP %s, Content-Type %r, body %s" % (self.status, self.header("Content-Type"), short(self.body, 300))


def http_request(scheme, method, path, body=None, headers=None, timeout=30, source=None):
    """source: a local address to connect from (rserver allows 64
    connections per client address)."""
    src = (source, 0) if source else None
    if scheme == "https":
        c = http.client.HTTPSConnection("127.0.0.1", PORT, timeout=timeout, context=wsclient.insecure_context(),
                                        source_address=src)
    else:
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout, source_address=src)
    try:
        h = {"Connection": "close"}
        h.update(headers or {})
        if body is not None and isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data)
    finally:
        c.close()


def cookie_attrs(sc):
    """Set-Cookie line → {lower-case attribute: value or True}."""
    out = {}
    for part in sc.split(";")[1:]:
        k, eq, v = part.strip().partition("=")
        out[k.strip().lower()] = v.strip() if eq else True
    return out


class Browser:
    """One browser: a cookie jar and a scheme."""

    def __init__(self, who, tls=False):
        self.who = who
        self.user = USERS[who]
        self.tls = tls
        self.cookies = {}
        self.last_signin = None

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def origin(self):
        return "%s://127.0.0.1:%d" % (self.scheme, PORT)

    def cookie_header(self):
        return "; ".join("%s=%s" % kv for kv in self.cookies.items())

    def request(self, method, path, body=None, headers=None, cookies=True, source=None):
        h = dict(headers or {})
        if cookies and self.cookies:
            h["Cookie"] = self.cookie_header()
        r = http_request(self.scheme, method, path, body, h, source=source)
        for sc in r.set_cookies():
            nv = sc.split(";", 1)[0]
            name, _, value = nv.partition("=")
            name = name.strip()
            a = cookie_attrs(sc)
            if value == "" or a.get("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()
        return r

    def sign_in(self):
        """GET /auth-sign-in for the CSRF cookie, POST the form. Returns the
        POST's response; the jar then holds user-id and rs-csrf-token."""
        self.request("GET", "/auth-sign-in")
        token = self.cookies.get("rs-csrf-token", "")
        form = urllib.parse.urlencode(
            {"username": self.user, "password": PASSWORDS[self.who], "rs-csrf-token": token, "appUri": "/"}
        )
        r = self.request("POST", "/auth-do-sign-in", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.last_signin = r
        return r

    def signed_in(self):
        return "user-id" in self.cookies

    def api(self, method, path, body=None, csrf=True, source=None):
        h = {}
        if csrf and "rs-csrf-token" in self.cookies:
            h["X-RS-CSRF-Token"] = self.cookies["rs-csrf-token"]
        if body is not None:
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        elif method == "POST":
            body = ""
        return self.request(method, path, body, h, source=source)

    def sessions(self):
        r = self.api("GET", "/api/sessions")
        j = r.json()
        return r, (j if isinstance(j, list) else None)

    def session(self, sid):
        r, lst = self.sessions()
        if lst is None:
            return None
        for s in lst:
            if isinstance(s, dict) and s.get("id") == sid:
                return s
        return None

    def ws_url(self, sid):
        return "%s://127.0.0.1:%d/s/%s/console" % ("wss" if self.tls else "ws", PORT, sid)


browsers = {}


def browser(who):
    """A signed-in browser for user who ("A" or "B") over the server's scheme."""
    b = browsers.get(who)
    if b is None or b.tls != server.tls:
        b = Browser(who, server.tls)
        r = b.sign_in()
        require(
            "%d: %s signs in" % (current["num"], who),
            r.status == 302 and b.signed_in(),
            r.said(),
            "Set-Cookie: %s" % r.set_cookies(),
        )
        browsers[who] = b
    return b


# ---- sessions ----


def create_session(b, label):
    r = b.api("POST", "/api/sessions")
    j = r.json()
    sid = j.get("id") if isinstance(j, dict) else None
    require(
        "%s: POST /api/sessions: 201 with a 16-hex id" % label,
        r.status == 201 and isinstance(sid, str) and SID_RE.match(sid),
        r.said(),
    )
    return sid


def wait_state(b, sid, want, timeout=STATE_WAIT, stop_on=()):
    """Polls /api/sessions until session sid is in one of the states want.
    Returns (info or None, ok, states seen)."""
    want = {want} if isinstance(want, str) else set(want)
    deadline = time.monotonic() + timeout
    seen = []
    info = None
    while True:
        try:
            info = b.session(sid)
        except (OSError, http.client.HTTPException) as e:
            info = {"error": str(e)}
        st = info.get("state") if isinstance(info, dict) else None
        if not seen or seen[-1] != st:
            seen.append(st)
        if st in want:
            return info, True, seen
        if st in stop_on or time.monotonic() >= deadline:
            return info, False, seen
        time.sleep(0.2)


def wait_running(b, sid, label, timeout=RUN_WAIT):
    info, good, seen = wait_state(b, sid, "running", timeout, stop_on=("exited",))
    require(
        "%s: session running (within %d s) with an int pid" % (label, timeout),
        good and isinstance(info.get("pid"), int) and info["pid"] > 0,
        "states seen: %s" % seen,
        "last: %s" % json.dumps(info),
    )
    return info


def quit_session(b, sid):
    """Best effort: quit (when running) and wait for exited."""
    try:
        info = b.session(sid)
        if info and info.get("state") in ("running", "starting", "resuming"):
            b.api("POST", "/api/sessions/%s/quit" % sid)
            wait_state(b, sid, "exited", 30)
    except Exception:
        pass


def quit_all(b):
    try:
        _, lst = b.sessions()
        for s in lst or []:
            if s.get("state") in ("running", "starting"):
                b.api("POST", "/api/sessions/%s/quit" % s["id"])
        for s in lst or []:
            if s.get("state") in ("running", "starting"):
                wait_state(b, s["id"], "exited", 30)
    except Exception:
        pass


class Console:
    """One console WebSocket, with every message received kept for evidence."""

    def __init__(self, b, sid):
        self.b = b
        self.sid = sid
        self.ws = wsclient.WebSocket()
        self.msgs = []
        self.closed = None
        self.mark = 0
        self.times = []  # time.monotonic() of msgs[i] when poll() read it (else None)

    def connect(self, origin="same", cookie=True, timeout=20, source=None):
        """The WebSocket handshake; returns its HTTP status. source: the
        client address to bind (see wsclient's source_address)."""
        h = {}
        if origin == "same":
            h["Origin"] = self.b.origin
        elif origin is not None:
            h["Origin"] = origin
        if cookie:
            h["Cookie"] = self.b.cookie_header()
        return self.ws.connect(self.b.ws_url(self.sid), h, timeout=timeout, source_address=source)

    def read_until(self, pred, timeout):
        """Reads messages until pred(msg); returns that message, or None on
        timeout or close (self.closed then says how)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                m = self.ws.recv_json(left)
            except wsclient.Closed as e:
                self.closed = str(e)
                return None
            except (wsclient.ProtocolError, ValueError) as e:
                self.closed = "protocol error: %s" % e
                self.ws.close()
                return None
            if m is None:
                return None
            self.msgs.append(m)
            if pred(m):
                return m

    def poll(self):
        """Every message readable now, without waiting: appended to msgs
        (with their arrival times in times) and returned. A close or a
        protocol error sets self.closed."""
        got = []
        if self.closed or not self.ws.open:
            return got
        while True:
            try:
                m = self.ws.recv_json_nowait()
            except wsclient.Closed as e:
                self.closed = str(e)
                break
            except (wsclient.ProtocolError, ValueError) as e:
                self.closed = "protocol error: %s" % e
                self.ws.close()
                break
            if m is None:
                break
            self.times.extend([None] * (len(self.msgs) - len(self.times)))
            self.msgs.append(m)
            self.times.append(time.monotonic())
            got.append(m)
        return got

    def wait_prompt(self, timeout=RUN_WAIT):
        return self.read_until(lambda m: m.get("type") == "prompt", timeout)

    def run(self, code, expect, timeout=EVAL_WAIT, until_prompt=True):
        """Sends code as input; reads until a prompt after which the output
        so far contains expect (until_prompt=False: until the output
        contains it). Returns (output text, whether it did)."""
        start = self.mark = len(self.msgs)
        try:
            self.ws.send_json({"type": "input", "text": code})
        except wsclient.Closed as e:
            self.closed = str(e)
            return "", False

        def pred(m):
            if until_prompt and m.get("type") != "prompt":
                return False
            return expect in self.text(start)

        m = self.read_until(pred, timeout)
        return self.text(start), m is not None

    def text(self, start=0):
        return "".join(
            m.get("text", "") for m in self.msgs[start:] if m.get("type") == "output" and isinstance(m.get("text"), str)
        )

    def states(self, start=0):
        return [m.get("state") for m in self.msgs[start:] if m.get("type") == "state"]

    def evidence(self, n=12):
        out = ["websocket: %d messages%s" % (len(self.msgs), (", closed: " + self.closed) if self.closed else "")]
        out += ["  %s" % short(json.dumps(m), 200) for m in self.msgs[-n:]]
        return out

    def close(self):
        self.ws.close()

    def fileno(self):
        return self.ws.fileno()


def gather(consoles, pred, timeout):
    """Reads every console at once (select) until each has a message,
    since its mark, for which pred(console, msg) holds, or timeout.
    Returns {console: (msg, monotonic arrival time)} for those that got one
    in time; the others are missing. Every message read stays in msgs."""
    found = {}
    start = {c: c.mark for c in consoles}

    def scan(c):
        for i in range(start[c], len(c.msgs)):
            if pred(c, c.msgs[i]):
                t = c.times[i] if i < len(c.times) and c.times[i] is not None else time.monotonic()
                found[c] = (c.msgs[i], t)
                return
        start[c] = len(c.msgs)

    for c in consoles:
        c.poll()  # messages already buffered in the client
        scan(c)
    deadline = time.monotonic() + timeout
    while True:
        want = [c for c in consoles if c not in found and not c.closed and c.ws.open]
        left = deadline - time.monotonic()
        if not want or left <= 0:
            return found
        r, _, _ = select.select(want, [], [], min(left, 1.0))
        for c in r:
            c.poll()
            scan(c)


def open_console(b, sid, label, timeout=RUN_WAIT):
    c = Console(b, sid)
    st = c.connect()
    require("%s: console WebSocket upgrades (101)" % label, st == 101,
            "status %s %s %s" % (st, c.ws.error, short(c.ws.body, 200)))
    m = c.wait_prompt(timeout)
    require("%s: console gives a prompt (within %d s)" % (label, timeout), m is not None, *c.evidence())
    return c


def check_eval(c, label, code, expect, timeout=EVAL_WAIT):
    text, good = c.run(code, expect, timeout)
    return check("%s: %s → %r" % (label, code.strip(), expect), good and expect in text,
                 "output: %r" % short(text, 300), *c.evidence())


def connect_as(uid, gid, path):
    """Connects to unix socket path in a child running as uid:gid; returns
    "connected" or "errno N NAME"."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        res = "child failed"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                res = "connected"
            except OSError as e:
                res = "errno %d %s" % (e.errno, errno.errorcode.get(e.errno, "?"))
        except BaseException as e:  # noqa: B036 - the child must always _exit
            res = "child: %r" % e
        finally:
            try:
                os.write(w, res.encode())
            finally:
                os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


# ==== setup and cleanup ====


def setup():
    global TMP, LOG, CONF, DB_DIR, DATA_DIR, PORT
    TMP = tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp")
    os.chmod(TMP, 0o711)
    LOG = TMP + "/log"
    CONF = TMP + "/conf"
    DB_DIR = TMP + "/db"
    DATA_DIR = TMP + "/run"
    os.mkdir(CONF, 0o755)
    os.mkdir(TMP + "/home", 0o755)
    open(LOG, "w").close()
    for u in [SRV_USER] + list(USERS.values()):
        if run(["id", u], check_rc=False).returncode == 0:
            raise RuntimeError("user %s exists already" % u)
    for p in PAM_FILES:
        if os.path.exists(p):
            raise RuntimeError("%s exists already" % p)
    if GROUP:
        try:
            grp.getgrnam(GROUP)
            raise RuntimeError("group %s exists already" % GROUP)
        except KeyError:
            pass
        run(["groupadd", GROUP])
        created_groups.append(GROUP)

    run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", SRV_USER])
    created_users.append(SRV_USER)
    uids["srv"] = pwd.getpwnam(SRV_USER).pw_uid
    for who, name in USERS.items():
        extra = ["-G", GROUP] if GROUP and who in GROUP_MEMBERS else []
        run(["useradd", "-m", "-d", "%s/home/%s" % (TMP, name), "-s", "/bin/bash"] + extra + [name])
        created_users.append(name)
        uids[who] = pwd.getpwnam(name).pw_uid
        if uids[who] < 1000:
            raise RuntimeError("useradd gave %s uid %d, below 1000" % (name, uids[who]))
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

    PORT = free_port()


def cleanup():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    problems = []
    try:
        if server is not None and server.proc is not None:
            server.stop(signal.SIGTERM, 10)
    except Exception as e:
        problems.append("stopping rserver: %r" % e)
    if CONF:
        left = kill_leftovers()
        if left:
            problems.append("processes still alive after SIGKILL: %s" % left)
    for u in reversed(created_users):
        p = run(["userdel", "-r", u], check_rc=False)
        if run(["id", u], check_rc=False).returncode == 0:
            problems.append("userdel %s: %s" % (u, p.stdout.strip()))
    for g in created_groups:
        p = run(["groupdel", g], check_rc=False)
        if run(["getent", "group", g], check_rc=False).returncode == 0:
            problems.append("groupdel %s: %s" % (g, p.stdout.strip()))
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
            if os.path.exists(TMP):
                problems.append("%s still there" % TMP)
    for p in problems:
        print("cleanup: %s" % p)
    sys.stdout.flush()


def check_session_logs():
    """A test: rsession's own reports (its log, sanitizer findings under
    ASan) go to each user's ~/.local/share/rstudio/log, not to rserver's
    log, so the suites that end with this look there."""
    hits = []
    logs = sorted(glob.glob(TMP + "/home/*/.local/share/rstudio/log/*.log"))
    for path in logs:
        with open(path, errors="replace") as f:
            for ln in f:
                if any(m in ln for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")):
                    hits.append("%s: %s" % (os.path.basename(path), ln.rstrip()))
    check("%d: no sanitizer reports in the %d session logs" % (current["num"], len(logs)), not hits, *hits[:20])


def server_status():
    """Whether rserver runs, after a moment for a dying one to be reaped."""
    if server is None or server.proc is None:
        return "not started"
    try:
        rc = server.proc.wait(2)
    except subprocess.TimeoutExpired:
        return "running"
    return "NOT running: exited with status %s (a negative status is the signal)" % rc


class Interrupted(BaseException):
    """SIGTERM or SIGHUP to the test (ctest's timeout, a closed terminal)."""


def on_signal(sig, frame):
    raise Interrupted("signal %d" % sig)


def binaries():
    """Sets RSERVER, LAUNCHER and RSESSION from the environment. Returns
    the names of those missing (then nothing is set)."""
    global RSERVER, LAUNCHER, RSESSION
    missing = [v for v in ("RSERVER", "LAUNCHER", "RSESSION") if not os.environ.get(v)]
    if missing:
        return missing
    RSERVER = os.path.abspath(os.environ["RSERVER"])
    LAUNCHER = os.path.abspath(os.environ["LAUNCHER"])
    RSESSION = os.path.abspath(os.environ["RSESSION"])
    return []


def install_cleanup():
    """cleanup() at exit; SIGTERM and SIGHUP raise Interrupted (so that
    finally blocks run); SIGPIPE ignored."""
    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def _our_frame(f):
    """A traceback frame in the suite's script or in this harness."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return f.filename in (__file__, main_file)


def main(tests):
    """Runs tests, a list of (number, title, function), after setup();
    cleans up. Returns the exit status: 0 all passed (or skipped), 1 a
    failure, 2 a usage error."""
    if os.geteuid() != 0:
        print("SKIP %s: needs root (throwaway users, PAM, sessions as users)" % NAME)
        print("0 passed, 0 failed")
        return 0
    missing = binaries()
    if missing:
        print("%s: set %s" % (NAME, ", ".join(missing)))
        return 2
    only = None
    if os.environ.get("RS_TEST_ONLY"):
        only = {int(x) for x in os.environ["RS_TEST_ONLY"].replace(",", " ").split()}

    install_cleanup()
    t0 = time.monotonic()
    try:
        try:
            setup()
        except Exception as e:
            fail("setup", repr(e), traceback.format_exc())
            print("%d passed, %d failed" % (passed, failed))
            return 1
        for num, title, fn in tests:
            if only is not None and num not in only:
                continue
            current.update(num=num, title=title, log_mark=log_size(), log_shown=False)
            t = time.monotonic()
            print("---- %d. %s ----" % (num, title), flush=True)
            try:
                fn()
            except Abort:
                pass
            except (OSError, http.client.HTTPException) as e:
                # A connection refused or dropped: say where, and whether rserver is gone.
                where = [f for f in traceback.extract_tb(e.__traceback__) if _our_frame(f)]
                fail("%d %s: %s: %s" % (num, title, e.__class__.__name__, e),
                     "at " + " → ".join("%s:%d" % (f.name, f.lineno) for f in where),
                     "rserver: %s" % server_status())
            except Exception as e:
                fail("%d %s: raised %r" % (num, title, e), traceback.format_exc())
            print("     (%d. %s: %.1f s)" % (num, title, time.monotonic() - t), flush=True)
        current.update(num=0, log_mark=0, log_shown=True)
        if server.proc is not None:
            check("rserver still running at the end", server.running(), *log_tail(20))
            server.stop()
        text = "\n".join(log_tail(100000))
        check("no sanitizer reports in the log", "Sanitizer" not in text,
              *[ln for ln in text.splitlines() if "Sanitizer" in ln][:20])
    except (KeyboardInterrupt, Interrupted) as e:
        current["log_shown"] = True
        fail("interrupted (%s)" % (e or "SIGINT"))
    finally:
        if failed:
            print("---- rserver log (last 40 lines) ----")
            for line in log_tail(40):
                print(line)
        print("     (total %.1f s)" % (time.monotonic() - t0))
        cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


RSERVER = LAUNCHER = RSESSION = None
