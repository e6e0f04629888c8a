"""JupyterHub beside rserver, for scripts/bench (standard library only).

The benchmark compares rserver with the nearest thing people run instead:
JupyterHub (Debian's 3.0, with configurable-http-proxy, LocalProcessSpawner,
the classic notebook server and IRkernel). The bench installs it; the
product never uses it. This module drives a private hub over HTTP and
WebSocket only, the way a browser would:

    hub = Hub("/tmp/rs-bench-XXXX")
    hub.start(users=["alice"])
    t = hub.sign_in_spawn_1plus1("alice", "secret")   # ms since the sign-in POST
    mem = hub.memory("alice")                         # KiB of hub, proxy, server, kernel
    ms = hub.rtt_python("alice", 50)                  # round trips of `1`
    ep = hub.rtt_endpoint("alice")                    # the same, for bench/rsload
    hub.stop_user("alice")                            # so the next run is a cold spawn
    hub.stop()

The hub runs under Debian's /usr/bin/python3 (not the interpreter running
this module) as root, in its own session, with everything it writes (config,
sqlite database, cookie secret, proxy pid file, log) in a private 0700
directory, and its own PAM service file in /etc/pam.d. stop() removes both
and kills by pid whatever is left; it is safe to call twice, and after a
failed start.

Run as a script for a self-check against an existing user:
    bench/jupyterhub.py --user U --password P
"""

import email.utils
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "server"))
import wsclient  # noqa: E402

WAIT = 120  # seconds for any one step before giving up
PYTHON = "/usr/bin/python3"  # Debian's, the one jupyterhub is installed for
SINGLEUSER = "/usr/bin/jupyterhub-singleuser"
PROXY = "/usr/bin/configurable-http-proxy"
ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
# Debian's node finds Debian's node modules (configurable-http-proxy's
# "commander" and the rest, in /usr/share/nodejs) by a search path built into
# its own binary; a NodeSource node installed over it (this machine has one)
# does not, and the proxy dies at its first require() without this.
NODE_PATH = "/usr/lib/x86_64-linux-gnu/nodejs:/usr/share/nodejs:/usr/lib/nodejs"
KERNEL = "ir"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc ----

def _starttime(pid):
    """The process's start time in clock ticks (field 22 of stat), or None
    when it is gone: with the pid, it names a process unambiguously, so that
    a pid reused by someone else's process is never killed."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None  # a zombie holds no memory and is its parent's to reap
    return int(fields[19])


def _status(pid):
    """/proc/<pid>/status as a dict of strings, or None when gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def _rss_kib(pid):
    st = _status(pid)
    if not st or "VmRSS" not in st:
        return 0
    return int(st["VmRSS"].split()[0])


def _pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _role(argv):
    """Which of the hub's per-user processes argv is: "server", "kernel" or None."""
    joined = " ".join(argv)
    if "jupyterhub-singleuser" in joined:
        return "server"
    if "IRkernel::main" in joined:
        return "kernel"
    return None


def _user_procs(uid):
    """{"server": [pids], "kernel": [pids]} of the single-user servers and R
    kernels running as uid."""
    found = {"server": [], "kernel": []}
    for pid in _pids():
        st = _status(pid)
        if not st or int(st.get("Uid", "-1\t").split()[0]) != uid:
            continue
        role = _role(_cmdline(pid))
        if role:
            found[role].append(pid)
    return found


# ---- a browser's worth of HTTP ----

class _Browser:
    """One keep-alive connection to the hub's public port, with cookies kept
    and sent by path as a browser does: the hub, the user's server and the
    notebook each set their own (_xsrf among them, on different paths)."""

    def __init__(self, port):
        self.port = port
        self.origin = "http://127.0.0.1:%d" % port
        self.cookies = {}  # (name, path) -> value
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _store(self, header, req_path):
        parts = [p.strip() for p in header.split(";")]
        name, _, value = parts[0].partition("=")
        # RFC 6265 5.1.4: without Path, a cookie belongs to the request's directory.
        path = req_path.split("?", 1)[0]
        path = path[:path.rindex("/")] or "/"
        gone = False
        for attr in parts[1:]:
            k, _, v = attr.partition("=")
            k = k.strip().lower()
            if k == "path" and v.startswith("/"):
                path = v
            elif k == "max-age":
                gone = gone or v.strip().lstrip("-").isdigit() and int(v) <= 0
            elif k == "expires":
                try:
                    gone = gone or email.utils.parsedate_to_datetime(v).timestamp() < time.time()
                except (TypeError, ValueError):
                    pass
        if gone:
            self.cookies.pop((name, path), None)
        else:
            self.cookies[(name, path)] = value

    def _matching(self, path):
        """The cookies sent with a request for path, longest path first."""
        path = path.split("?", 1)[0]
        hits = []
        for (name, cpath), value in self.cookies.items():
            if path == cpath or path.startswith(cpath if cpath.endswith("/") else cpath + "/"):
                hits.append((len(cpath), name, value))
        hits.sort(key=lambda h: -h[0])
        return [(n, v) for _, n, v in hits]

    def cookie_header(self, path):
        return "; ".join("%s=%s" % nv for nv in self._matching(path))

    def cookie(self, name, path):
        for n, v in self._matching(path):
            if n == name:
                return v
        return None

    def send(self, method, path, body=None, headers=None, stream=False):
        """Sends one request; returns the response, its body read unless
        stream (then the caller reads it and the connection is not reused)."""
        h = {"Host": "127.0.0.1:%d" % self.port, "Accept": "*/*"}
        cookies = self.cookie_header(path)
        if cookies:
            h["Cookie"] = cookies
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        for attempt in (1, 2):
            reused = self.conn is not None
            if not reused:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
            try:
                self.conn.request(method, path, body, h)
                resp = self.conn.getresponse()
                if not stream:
                    resp.body = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                # A keep-alive connection the proxy closed while idle: once more.
                if not reused or attempt == 2:
                    raise
        for v in resp.headers.get_all("Set-Cookie") or []:
            self._store(v, path)
        if stream or resp.will_close:
            conn, self.conn = self.conn, None
            if not stream:
                conn.close()
        return resp

    def local(self, location, base):
        """A Location as a path on our origin (redirects never leave it here)."""
        url = urllib.parse.urljoin(self.origin + base, location)
        if not url.startswith(self.origin + "/"):
            raise RuntimeError("redirected off the hub: %s" % url)
        return url[len(self.origin):]

    def follow(self, path, limit=20):
        """GETs path and the redirects after it; returns the last response,
        with .path its path."""
        for _ in range(limit):
            resp = self.send("GET", path, headers={"Accept": "text/html"})
            resp.path = path
            if resp.status not in (301, 302, 303, 307, 308):
                return resp
            path = self.local(resp.headers["Location"], path)
        raise RuntimeError("more than %d redirects from %s" % (limit, path))


def _execute_request(code, msg_id, session):
    """A Jupyter execute_request as the notebook's page sends it on the channels socket."""
    return {
        "header": {"msg_id": msg_id, "username": "", "session": session,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        "channel": "shell",
        "buffers": [],
    }


class Hub:
    """A private JupyterHub on 127.0.0.1 (public port `port`, free if None)."""

    def __init__(self, tmpdir, port=None):
        self.parent = tmpdir
        self.port = port or _free_port()
        self.origin = "http://127.0.0.1:%d" % self.port
        self.dir = None
        self.pam_service = None
        self.pam_file = None
        self.token = None
        self.proc = None
        self.log_path = None
        self.started = set()  # (pid, starttime) of every process of ours seen alive
        self.uids = set()  # the users whose servers we spawned
        self.sessions = {}  # user -> {"browser": _Browser, "kernel": id}
        self.stopped = False

    # ---- life cycle ----

    def _config(self, users):
        d = self.dir
        c = {
            "bind": self.origin,
            "hub": "http://127.0.0.1:%d" % _free_port(),
            "api": "http://127.0.0.1:%d" % _free_port(),
        }
        lines = [
            "c = get_config()  # noqa",
            "c.JupyterHub.bind_url = %r" % c["bind"],
            "c.JupyterHub.hub_bind_url = %r" % c["hub"],
            "c.ConfigurableHTTPProxy.api_url = %r" % c["api"],
            "c.ConfigurableHTTPProxy.command = [%r]" % PROXY,
            "c.ConfigurableHTTPProxy.pid_file = %r" % os.path.join(d, "proxy.pid"),
            "c.JupyterHub.pid_file = %r" % os.path.join(d, "hub.pid"),
            "c.JupyterHub.db_url = %r" % ("sqlite:///" + os.path.join(d, "jupyterhub.sqlite")),
            "c.JupyterHub.cookie_secret_file = %r" % os.path.join(d, "cookie_secret"),
            "c.JupyterHub.authenticator_class = 'jupyterhub.auth.PAMAuthenticator'",
            "c.PAMAuthenticator.service = %r" % self.pam_service,
            # Our service file has no session stack, and JupyterHub would open
            # the PAM session inside the hub process, not around the server.
            "c.PAMAuthenticator.open_sessions = False",
            "c.JupyterHub.spawner_class = 'jupyterhub.spawner.LocalProcessSpawner'",
            "c.Spawner.cmd = [%r]" % SINGLEUSER,
            # Debian's jupyter_server has no front end installed (no nbclassic,
            # no JupyterLab), so the server JupyterHub 3.0 picks by default
            # would give the browser a 404; the classic notebook is the UI a
            # user of these packages actually gets.
            "c.Spawner.environment = {'JUPYTERHUB_SINGLEUSER_APP': 'notebook.notebookapp.NotebookApp'}",
            "c.Spawner.default_url = '/tree'",
            "c.Spawner.notebook_dir = '~'",
            "c.Spawner.args = ['--MultiKernelManager.default_kernel_name=%s']" % KERNEL,
            # The machine may be busy (CI beside us): no spurious spawn failures.
            "c.Spawner.start_timeout = %d" % WAIT,
            "c.Spawner.http_timeout = %d" % WAIT,
            # The bench's admin: stops servers between cold runs and at the end.
            "c.JupyterHub.services = [{'name': 'rs-bench', 'api_token': %r}]" % self.token,
            "c.JupyterHub.load_roles = [{'name': 'rs-bench-admin', 'scopes': ['admin:users', "
            "'admin:servers'], 'services': ['rs-bench']}]",
            "c.JupyterHub.cleanup_servers = True",
            "c.JupyterHub.cleanup_proxy = True",
        ]
        if users:
            # JupyterHub 3.0 has no allow_all: an empty allowed_users admits
            # every PAM user, a non-empty one only those.
            lines.append("c.Authenticator.allowed_users = %r" % set(users))
        path = os.path.join(d, "jupyterhub_config.py")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, users=None):
        """Starts the hub (and through it the proxy); returns once /hub/api
        answers through the proxy. users: the only ones allowed to sign in
        (None: any PAM user). Cleans up after itself if it fails."""
        try:
            self._start(users)
        except BaseException:
            self.stop()
            raise

    def _start(self, users):
        if self.proc is not None or self.stopped:
            raise RuntimeError("a Hub starts once")
        self.dir = tempfile.mkdtemp(prefix="jhub-", dir=self.parent)
        os.chmod(self.dir, 0o700)
        self.token = secrets.token_hex(32)
        self.pam_service = "rs-jhub-%d-%s" % (os.getpid(), secrets.token_hex(3))
        pam_file = "/etc/pam.d/" + self.pam_service
        fd = os.open(pam_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.pam_file = pam_file  # ours from here on (O_EXCL): stop() removes it
        with os.fdopen(fd, "w") as f:
            f.write("# rserver bench: JupyterHub's sign-in, removed when the bench ends\n"
                    "auth required pam_unix.so\naccount required pam_unix.so\n")
        config = self._config(users)
        self.log_path = os.path.join(self.dir, "jupyterhub.log")
        # A clean environment: not the bench's (pyenv's PATH and PYTHON*
        # would leak into the hub and, through it, into the users' servers).
        env = {"PATH": ENV_PATH, "NODE_PATH": NODE_PATH, "LANG": "C.UTF-8", "HOME": self.dir,
               "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "jupyterhub", "-f", config], cwd=self.dir, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self._record(self.proc.pid)
        deadline = time.monotonic() + WAIT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("jupyterhub exited with %d:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                st, body = self.api("GET", "/hub/api", timeout=5)
                if st == 200 and b"version" in body:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyterhub not up in %d s:\n%s" % (WAIT, self.log_tail()))
            time.sleep(0.1)
        self.proxy_pid()  # recorded now, while the pid file is surely its

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def _record(self, pid):
        st = _starttime(pid)
        if st is not None:
            self.started.add((pid, st))

    def _record_user(self, uid):
        for pids in _user_procs(uid).values():
            for pid in pids:
                self._record(pid)

    def stop(self):
        """Stops every single-user server, then the hub (which stops the
        proxy), then kills by pid what is left, and removes the PAM file and
        the private directory. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        for s in self.sessions.values():
            s["browser"].close()
        self.sessions.clear()
        for uid in self.uids:
            self._record_user(uid)
        if self.proc is not None and self.proc.poll() is None:
            try:
                st, body = self.api("GET", "/hub/api/users")
                for u in json.loads(body) if st == 200 else []:
                    if u.get("server") or u.get("pending"):
                        self.api("DELETE", "/hub/api/users/%s/server" % urllib.parse.quote(u["name"]))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and any(_user_procs(uid)["server"] for uid in self.uids):
                    time.sleep(0.1)
            except (OSError, ValueError):
                pass  # the hub is not answering: the kills below do it
            proxy = self.proxy_pid()
            # SIGTERM: the hub's own shutdown stops the proxy it started.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if proxy:
                self._record(proxy)
        elif self.proc is not None:
            self.proc.wait()
        self._kill_leftovers()
        if self.pam_file:
            try:
                os.unlink(self.pam_file)
            except FileNotFoundError:
                pass
            self.pam_file = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _kill_leftovers(self):
        """SIGTERM, then SIGKILL, to every recorded process still alive as
        itself, and to any server or kernel still running as our users."""
        for uid in self.uids:
            self._record_user(uid)
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            alive = [(pid, st) for pid, st in self.started if _starttime(pid) == st]
            if not alive:
                return
            for pid, _ in alive:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_starttime(p) == s for p, s in alive):
                time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- the admin's REST API ----

    def api(self, method, path, body=None, timeout=WAIT):
        """A request with the bench's admin token; (status, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = {"Authorization": "token " + self.token}
            if body is not None:
                body = json.dumps(body)
                h["Content-Type"] = "application/json"
            conn.request(method, path, body, h)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def proxy_pid(self):
        """configurable-http-proxy's pid (the hub's child), or None."""
        try:
            with open(os.path.join(self.dir, "proxy.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError, TypeError):
            return None
        st = _status(pid)
        if not st or int(st.get("PPid", 0)) != self.proc.pid \
                or not any("configurable-http-proxy" in a for a in _cmdline(pid)):
            return None
        self._record(pid)
        return pid

    def _user_model(self, user):
        """The hub's model of user, or None if it does not know them."""
        st, body = self.api("GET", "/hub/api/users/" + urllib.parse.quote(user))
        if st == 404:
            return None
        if st != 200:
            raise RuntimeError("GET user %s: %d %s" % (user, st, body[:300]))
        return json.loads(body)

    def stop_user(self, user):
        """Stops user's server and waits until the hub says so and its
        processes (server and kernel) are gone: the next spawn is cold."""
        s = self.sessions.pop(user, None)
        if s:
            s["browser"].close()
        uid = pwd.getpwnam(user).pw_uid
        self._record_user(uid)
        # JupyterHub 3.0 answers a DELETE for a user it does not know (never
        # signed in) with a 500: ask first.
        m = self._user_model(user)
        if m and (m.get("server") or m.get("pending")):
            st, body = self.api("DELETE", "/hub/api/users/%s/server" % urllib.parse.quote(user))
            if st not in (202, 204, 400):  # 400: it stopped meanwhile
                raise RuntimeError("stopping %s's server: %d %s" % (user, st, body[:300]))
        deadline = time.monotonic() + WAIT
        while True:
            m = self._user_model(user) or {}
            procs = _user_procs(uid)
            if not m.get("server") and not m.get("pending") and not procs["server"] and not procs["kernel"]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("%s's server still there after %d s: %s, %s" % (user, WAIT, m, procs))
            time.sleep(0.05)

    # ---- measurements ----

    def sign_in_spawn_1plus1(self, user, password):
        """A browser's sign-in, cold spawn and first computation, timed in ms
        from the sign-in POST: "signin" its response, "spawned" the
        notebook's page served by the user's new server (after the spawn
        page, its progress events and the OAuth redirects to the server),
        "kernel" the POST creating an `ir` kernel answered, "connected" its
        channels WebSocket open (the notebook server completes the handshake
        only once the kernel answers kernel_info, i.e. R is up), "answer" the
        output `[1] 2` of `1+1` received (IRkernel's display_data). "total"
        is the same flow from the GET of the login page. Leaves the server
        and kernel running for memory() and the round trips."""
        uid = pwd.getpwnam(user).pw_uid
        self.uids.add(uid)
        old = self.sessions.pop(user, None)
        if old:
            old["browser"].close()
        b = _Browser(self.port)
        q = urllib.parse.quote(user)
        t_page = time.perf_counter()
        page = b.follow("/hub/login")
        if page.status != 200:
            raise RuntimeError("GET /hub/login: %d" % page.status)
        form = {"username": user, "password": password}
        xsrf = b.cookie("_xsrf", "/hub/login")
        if xsrf:  # JupyterHub 3.0's form has none; later ones do
            form["_xsrf"] = xsrf
        t0 = time.perf_counter()

        def ms():
            return (time.perf_counter() - t0) * 1000.0

        r = b.send("POST", "/hub/login", urllib.parse.urlencode(form),
                   {"Content-Type": "application/x-www-form-urlencoded",
                    "Origin": b.origin, "Referer": b.origin + "/hub/login"})
        t = {"signin": ms()}
        if r.status != 302:
            raise RuntimeError("sign-in of %s refused (%d): wrong password, or not allowed" % (user, r.status))

        # The hub's /hub/spawn holds the request while the spawn is quicker
        # than slow_spawn_timeout (10 s), then redirects to the server;
        # otherwise it sends the browser to spawn-pending, whose page waits
        # for the progress event stream to report the server ready.
        r = b.follow(b.local(r.headers["Location"], "/hub/login"))
        if r.status == 200 and r.path.startswith("/hub/spawn-pending/"):
            url = self._wait_progress(b, user, r.path)
            r = b.follow(b.local(url, r.path))
        if r.status != 200 or not r.path.startswith("/user/%s/" % q):
            raise RuntimeError("spawn of %s ended at %s with %d:\n%s"
                               % (user, r.path, r.status, self.log_tail()))
        t["spawned"] = ms()

        base = "/user/%s" % q
        kpath = base + "/api/kernels"
        r = b.send("POST", kpath, json.dumps({"name": KERNEL}),
                   {"Content-Type": "application/json", "X-XSRFToken": b.cookie("_xsrf", kpath) or "",
                    "Origin": b.origin, "Referer": b.origin + base + "/tree"})
        if r.status != 201:
            raise RuntimeError("POST %s: %d %s" % (kpath, r.status, r.body[:300]))
        kernel = json.loads(r.body)["id"]
        t["kernel"] = ms()
        self._record_user(uid)

        ws, session = self._channels(b, user, kernel)
        t["connected"] = ms()
        try:
            ws.send_json(_execute_request("1+1", "bench-signin", session))
            while True:
                msg = ws.recv_json(timeout=WAIT)
                if msg is None:
                    raise RuntimeError("no answer to 1+1 in %d s" % WAIT)
                if msg.get("parent_header", {}).get("msg_id") != "bench-signin":
                    continue
                kind = msg.get("msg_type") or msg["header"]["msg_type"]
                # IRkernel sends a visible value as display_data, not execute_result.
                if kind in ("execute_result", "display_data") \
                        and "[1] 2" in msg["content"]["data"].get("text/plain", ""):
                    break
                if kind == "error" or (kind == "execute_reply" and msg["content"].get("status") != "ok"):
                    raise RuntimeError("1+1 failed: %s" % json.dumps(msg["content"])[:500])
            t["answer"] = ms()
            t["total"] = (time.perf_counter() - t_page) * 1000.0
        finally:
            ws.close()
        self._record_user(uid)
        self.sessions[user] = {"browser": b, "kernel": kernel}
        return t

    def _wait_progress(self, b, user, pending):
        """Reads the spawn's progress event stream, as spawn-pending's page
        does, until the server is ready; returns its URL."""
        path = "/hub/api/users/%s/server/progress" % urllib.parse.quote(user)
        # The hub admits cookie-authenticated API calls only with a Referer
        # of its own (its cross-site check).
        r = b.send("GET", path, headers={"Accept": "text/event-stream", "Referer": b.origin + pending},
                   stream=True)
        try:
            if r.status != 200:
                raise RuntimeError("GET %s: %d %s" % (path, r.status, r.read()[:300]))
            while True:
                line = r.readline()
                if not line:
                    raise RuntimeError("progress of %s's spawn ended without ready:\n%s"
                                       % (user, self.log_tail()))
                if not line.startswith(b"data:"):
                    continue
                ev = json.loads(line[5:])
                if ev.get("failed"):
                    raise RuntimeError("spawn of %s failed: %s\n%s" % (user, ev.get("message"), self.log_tail()))
                if ev.get("ready"):
                    return ev["url"]
        finally:
            r.close()

    def _channels(self, b, user, kernel, session=None):
        """Opens the kernel's channels WebSocket as the notebook page does."""
        ep = self._endpoint(b, user, kernel, session)
        ws = wsclient.WebSocket()
        st = ws.connect(ep["url"], ep["headers"], timeout=WAIT)
        if st != 101:
            raise RuntimeError("channels of kernel %s: %d %s" % (kernel, st, ws.body[:300]))
        return ws, ep["session"]

    def _endpoint(self, b, user, kernel, session=None):
        session = session or secrets.token_hex(16)
        path = "/user/%s/api/kernels/%s/channels" % (urllib.parse.quote(user), kernel)
        return {
            "url": "ws://127.0.0.1:%d%s?session_id=%s" % (self.port, path, session),
            "headers": {"Cookie": b.cookie_header(path), "Origin": b.origin},
            "session": session,
        }

    def _session(self, user):
        s = self.sessions.get(user)
        if not s:
            raise RuntimeError("%s has no kernel: sign_in_spawn_1plus1() first" % user)
        return s

    def memory(self, user):
        """RSS in KiB of the hub, the proxy, user's single-user server and R
        kernel (each summed over its processes), and their total."""
        uid = pwd.getpwnam(user).pw_uid
        procs = _user_procs(uid)
        for pids in procs.values():
            for pid in pids:
                self._record(pid)
        proxy = self.proxy_pid()
        m = {
            "hub": _rss_kib(self.proc.pid),
            "proxy": _rss_kib(proxy) if proxy else 0,
            "server": sum(_rss_kib(p) for p in procs["server"]),
            "kernel": sum(_rss_kib(p) for p in procs["kernel"]),
        }
        m["total"] = sum(m.values())
        return m

    def rtt_endpoint(self, user):
        """What a closed-loop WebSocket client needs for round trips of `1`
        on user's kernel (see the module's self-check for its use): the URL
        (a fresh session_id each call: the notebook server drops an older
        connection with the same one), the headers, the execute_request to
        send with %n for the run's number, and the strings that all appear
        in the message ending a run: the kernel's `idle` status for that
        request, which IRkernel sends after the output (display_data) and
        the execute_reply (it is the one the notebook's busy indicator waits
        for)."""
        s = self._session(user)
        ep = self._endpoint(s["browser"], user, s["kernel"])
        # JSON as the notebook server writes it (json.dumps' default
        # separators, ", " and ": "), so the substrings match its frames.
        return {
            "url": ep["url"],
            "headers": ep["headers"],
            "send": json.dumps(_execute_request("1", "bench-%n", ep["session"])),
            "until": ['"msg_type": "status"', '"execution_state": "idle"', '"msg_id": "bench-%n"'],
        }

    def rtt_python(self, user, n):
        """n round trips through rtt_endpoint()'s description, by wsclient;
        ms each. Checks that the result `[1] 1` of every run came in before
        the message ending it, so the description measures what it says."""
        ep = self.rtt_endpoint(user)
        ws = wsclient.WebSocket()
        st = ws.connect(ep["url"], ep["headers"], timeout=WAIT)
        if st != 101:
            raise RuntimeError("channels: %d %s" % (st, ws.body[:300]))
        out = []
        try:
            for i in range(1, n + 1):
                num = str(i)
                until = [u.replace("%n", num) for u in ep["until"]]
                parent = '"msg_id": "bench-%s"' % num
                got_result = False
                t0 = time.perf_counter()
                ws.send_text(ep["send"].replace("%n", num))
                while True:
                    m = ws.recv_message(timeout=WAIT)
                    if m is None:
                        raise RuntimeError("round trip %d: nothing in %d s" % (i, WAIT))
                    text = m[1].decode("utf-8")
                    if all(u in text for u in until):
                        break
                    if parent in text and '"display_data"' in text and "[1] 1" in text:
                        got_result = True
                out.append((time.perf_counter() - t0) * 1000.0)
                if not got_result:
                    raise RuntimeError("round trip %d ended before its result" % i)
        finally:
            ws.close()
        return out


def main():
    import argparse

    ap = argparse.ArgumentParser(description="Self-check: a private JupyterHub, 3 cold sign-ins "
                                 "with 1+1, memory, 50 round trips, then everything stopped.")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rtt", type=int, default=50)
    ap.add_argument("--rsload", default=os.path.join(REPO, "build", "bench", "rsload"),
                    help="the C load client, run on rtt_endpoint() too if it exists "
                    "(default: build/bench/rsload)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the hub spawns servers as their users")
    tmp = tempfile.mkdtemp(prefix="jhub-check-")
    hub = Hub(tmp)
    try:
        t = time.perf_counter()
        hub.start(users=[a.user])
        print("hub up on %s in %.0f ms (pid %d)" % (hub.origin, (time.perf_counter() - t) * 1000, hub.proc.pid))
        for run in range(1, a.runs + 1):
            if run > 1:
                hub.stop_user(a.user)
            r = hub.sign_in_spawn_1plus1(a.user, a.password)
            print("run %d: " % run + ", ".join("%s %.0f ms" % kv for kv in r.items()))
        print("memory (KiB):", json.dumps(hub.memory(a.user)))
        ms = hub.rtt_python(a.user, a.rtt)
        print("%d round trips of `1`: median %.2f ms, min %.2f, max %.2f"
              % (len(ms), statistics.median(ms), min(ms), max(ms)))
        ep = hub.rtt_endpoint(a.user)
        print("rtt_endpoint:", json.dumps(ep, indent=1))
        if os.access(a.rsload, os.X_OK):
            argv = [a.rsload, "rtt", "--ws", ep["url"], "--send", ep["send"], "--count", str(a.rtt)]
            for k, v in ep["headers"].items():
                argv += ["-H", "%s: %s" % (k, v)]
            for u in ep["until"]:
                argv += ["--until", u]
            p = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=WAIT * 2)
            if p.returncode != 0:
                raise RuntimeError("%s: exit %d" % (a.rsload, p.returncode))
            r = json.loads(p.stdout)["ms"]
            print("%d round trips by %s: p50 %.2f ms, min %.2f, max %.2f"
                  % (r["runs"], a.rsload, r["p50"], r["min"], r["max"]))
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
