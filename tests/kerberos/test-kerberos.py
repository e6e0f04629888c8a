#!/usr/bin/env python3
"""Kerberos end to end, as root: an MIT KDC on 127.0.0.1 and pam_krb5 for
sign-in and for the R sessions' PAM sessions, through the real rserver,
monitor, rsession-launcher and R.

Creates (and removes on exit, even on failure or interrupt) what the shared
harness does (tests/server/harness.py: a server user, user A, two PAM
services, a temporary root) plus, inside the temporary root, a realm
RSKR<pid>.TEST: krb5.conf, kdc.conf, the KDB, its stash and log, and the
directory the sessions' ticket caches go to. The KDC (krb5kdc -n on a free
loopback port) is stopped by its pid.

How the PAM modules find the realm: rserver runs with KRB5_CONFIG pointing
at the test's krb5.conf. The monitor is rserver's fork and runs the
launcher with execv, so the environment reaches both PAM stacks (sign-in in
the monitor's authentication child, the session in the launcher) unchanged;
libkrb5 honours KRB5_CONFIG there because neither is setuid. The R session
does not get KRB5_CONFIG (its environment is an allow-list): it needs only
KRB5CCNAME, which pam_krb5 puts in the PAM environment and the launcher
passes on. A production site has its realm in /etc/krb5.conf and needs none
of this.

User A's Kerberos password is PASSWORDS["A"]; the Unix password is set to
something else, so a sign-in that works proves pam_krb5 decided.

Environment: RSERVER, LAUNCHER, RSESSION; CLI (rstudio-server, the admin CLI)
when built: a forced suspend then goes through `rstudio-server
force-suspend-session`, else (and additionally) through SIGUSR2 to
rsession, the signal rsession takes as a forced suspend.
"""

import glob
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import harness as H  # noqa: E402
from harness import (  # noqa: E402
    Browser, browsers, check, check_eq, create_session, ok, open_console, require, server, uids, wait_pid_gone,
    wait_running, wait_state,
)

H.configure("test-kerberos", "kr", users=("A",))

REALM = "RSKR%d.TEST" % H.PID
UNIX_PW = {}  # A's Unix password: not the Kerberos one
PAM_FILES_BEFORE = {}


class KDC:
    """An MIT KDC in a directory of its own, on a free loopback port."""

    def __init__(self):
        self.dir = None
        self.proc = None
        self.port = 0
        self.log = None

    def start(self):
        self.dir = H.TMP + "/kdc"
        os.mkdir(self.dir, 0o700)
        self.port = H.free_port()
        self.log = self.dir + "/kdc.log"
        with open(self.dir + "/krb5.conf", "w") as f:
            f.write(
                "[libdefaults]\n"
                "\tdefault_realm = %(realm)s\n"
                "\tdns_lookup_kdc = false\n"
                "\tdns_lookup_realm = false\n"
                "\trdns = false\n"
                "\tudp_preference_limit = 1\n"
                "[realms]\n"
                "\t%(realm)s = {\n\t\tkdc = 127.0.0.1:%(port)d\n\t}\n"
                % {"realm": REALM, "port": self.port})
        # Readable by the session user too (klist in R reads it if set).
        os.chmod(self.dir, 0o711)
        os.chmod(self.dir + "/krb5.conf", 0o644)
        with open(self.dir + "/kdc.conf", "w") as f:
            f.write(
                "[kdcdefaults]\n"
                "\tkdc_listen = 127.0.0.1:%(port)d\n"
                "\tkdc_tcp_listen = 127.0.0.1:%(port)d\n"
                "[realms]\n"
                "\t%(realm)s = {\n"
                "\t\tdatabase_name = %(dir)s/principal\n"
                "\t\tkey_stash_file = %(dir)s/stash\n"
                "\t\tacl_file = %(dir)s/kadm5.acl\n"
                # As real realms do: without pre-authentication the KDC
                # hands out a reply for any password and never sees a
                # wrong one (the client just cannot decrypt it).
                "\t\tdefault_principal_flags = +preauth\n"
                "\t}\n"
                "[logging]\n"
                "\tkdc = FILE:%(log)s\n"
                % {"realm": REALM, "port": self.port, "dir": self.dir, "log": self.log})
        os.environ["KRB5_CONFIG"] = self.dir + "/krb5.conf"
        os.environ["KRB5_KDC_PROFILE"] = self.dir + "/kdc.conf"
        H.run(["kdb5_util", "-r", REALM, "create", "-s", "-P", "master-%d-%s" % (H.PID, os.urandom(8).hex())])
        out = open(self.dir + "/krb5kdc.out", "w")
        try:
            self.proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        finally:
            out.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited with %d: %s" % (self.proc.returncode, self.output()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("krb5kdc not listening on 127.0.0.1:%d after 10 s: %s" % (self.port, self.output()))

    def output(self):
        text = ""
        for p in (self.dir + "/krb5kdc.out", self.log):
            try:
                with open(p) as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def log_since(self, mark):
        try:
            with open(self.log, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def kadmin(self, query):
        return H.run(["kadmin.local", "-r", REALM, "-q", query])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


kdc = KDC()
CCDIR = None  # where pam_krb5 puts the sessions' ticket caches


def principal(who):
    return "%s@%s" % (H.USERS[who], REALM)


def caches(uid=None):
    """Ticket cache files in CCDIR (of uid when given)."""
    out = []
    for p in sorted(glob.glob(CCDIR + "/krb5cc_*")):
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if uid is None or st.st_uid == uid:
            out.append(p)
    return out


def sign_in_form(b, password):
    """The sign-in form with another password; returns the response."""
    b.request("GET", "/auth-sign-in")
    form = urllib.parse.urlencode({"username": b.user, "password": password,
                                   "rs-csrf-token": b.cookies.get("rs-csrf-token", ""), "appUri": "/"})
    return b.request("POST", "/auth-do-sign-in", form, {"Content-Type": "application/x-www-form-urlencoded"})


def user_processes(uid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and H.pid_alive(int(d), uid):
            out.append(int(d))
    return out


def krb_rserver():
    return {"auth-pam-sessions-use-password": "1"}


def ccname_of(c, label):
    """KRB5CCNAME as the R session sees it, through the console."""
    text, good = c.run('cat("CC<", Sys.getenv("KRB5CCNAME"), ">CC\\n", sep = "")\n', ">CC")
    require("%s: Sys.getenv(\"KRB5CCNAME\") answers" % label, good, "output: %r" % H.short(text), *c.evidence())
    return text.split("CC<", 1)[1].split(">CC", 1)[0]


def check_credentials(c, label):
    """KRB5CCNAME names a FILE cache in CCDIR owned by A (0600), and klist
    run from R lists A's principal. Returns the cache's path or None."""
    name = ccname_of(c, label)
    path = name[5:] if name.startswith("FILE:") else name
    try:
        st = os.lstat(path)
    except OSError as e:
        st = None
        why = str(e)
    check("%s: KRB5CCNAME=%r names a file cache in %s" % (label, name, CCDIR),
          name and os.path.dirname(path) == CCDIR and st is not None and stat.S_ISREG(st.st_mode),
          "lstat: %s" % (why if st is None else "ok"), "caches: %s" % caches())
    if st is None:
        return None
    check("%s: the cache belongs to A (uid %d), mode 0600" % (label, uids["A"]),
          st.st_uid == uids["A"] and stat.S_IMODE(st.st_mode) == 0o600,
          "uid %d mode %o" % (st.st_uid, stat.S_IMODE(st.st_mode)))
    text, good = c.run('system("klist"); cat("KLIST-DONE\\n")\n', "KLIST-DONE")
    check("%s: klist in R lists \"Default principal: %s\"" % (label, principal("A")),
          good and ("Default principal: %s" % principal("A")) in text and ("krbtgt/%s@%s" % (REALM, REALM)) in text,
          "output: %r" % H.short(text, 600))
    return path


def force_suspend_cli(sid):
    cli = os.environ.get("CLI")
    p = subprocess.run([cli, "--config-dir", H.CONF, "force-suspend-session", sid], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    return p.returncode, p.stdout.strip()


def wait_gone(path, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.lexists(path):
            return True
        time.sleep(0.1)
    return not os.path.lexists(path)


# ==== tests ====


def t1_realm():
    """The KDC answers, the PAM services use pam_krb5, A's Unix password
    is not the Kerberos one."""
    global CCDIR
    for p in sorted(glob.glob("/etc/pam.d/common-*")):
        with open(p, "rb") as f:
            PAM_FILES_BEFORE[p] = f.read()
    t = time.monotonic()
    kdc.start()
    ok("1: krb5kdc -n runs on 127.0.0.1:%d (realm %s, started in %.2f s)" % (kdc.port, REALM, time.monotonic() - t))
    kdc.kadmin("addprinc -pw %s %s" % (H.PASSWORDS["A"], principal("A")))
    cc = "FILE:%s/kinit-cc" % kdc.dir
    p = subprocess.run(["kinit", "-c", cc, principal("A")], input=H.PASSWORDS["A"] + "\n", text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    q = subprocess.run(["klist", "-c", cc], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    require("1: kinit %s with its password works against the KDC" % principal("A"),
            p.returncode == 0 and principal("A") in q.stdout, p.stdout, q.stdout, kdc.output()[-2000:])
    subprocess.run(["kdestroy", "-c", cc], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    UNIX_PW["A"] = "unix-%s" % os.urandom(12).hex()
    H.run(["chpasswd"], input="%s:%s\n" % (H.USERS["A"], UNIX_PW["A"]))
    CCDIR = H.TMP + "/krb5cc"
    os.mkdir(CCDIR, 0o755)
    opts = "minimum_uid=1000 ccache_dir=FILE:%s" % CCDIR
    with open(H.PAM_FILES[0], "w") as f:
        f.write("auth     required   pam_krb5.so %s no_ccache\n"
                "account  required   pam_krb5.so %s\n"
                "account  required   pam_unix.so\n" % (opts, opts))
    # No pam_rootok: the launcher is root, and rootok would let the
    # session's auth succeed without asking pam_krb5 for tickets.
    with open(H.PAM_FILES[1], "w") as f:
        f.write("auth     required   pam_krb5.so %s\n"
                "account  required   pam_krb5.so %s\n"
                "account  required   pam_unix.so\n"
                "session  required   pam_krb5.so %s\n"
                "session  required   pam_unix.so\n" % (opts, opts, opts))
    ok("1: PAM services %s (sign-in) and %s (sessions) use pam_krb5" % (H.PAM_SVC, H.PAM_SESSION_SVC))


def t2_wrong_password():
    server.ensure(rserver=krb_rserver())
    L = "2 wrong password"
    mark = kdc.log_size()
    for what, pw in (("a wrong password", H.PASSWORDS["A"] + "x"), ("A's Unix password", UNIX_PW["A"])):
        b = Browser("A")
        r = sign_in_form(b, pw)
        loc = r.header("Location")
        check("%s: sign-in with %s: 302 back to the sign-in page with an error, no user-id cookie" % (L, what),
              r.status == 302 and "error" in loc and not b.signed_in(), r.said(), "Location: %s" % loc,
              "cookies: %s" % b.cookies)
        r = b.api("GET", "/api/sessions")
        check_eq("%s: with %s, GET /api/sessions: 401" % (L, what), r.status, 401, r.said())
    lines = [ln for ln in kdc.log_since(mark) if H.USERS["A"] in ln]
    check("%s: the KDC saw the attempts for %s and refused them" % (L, principal("A")),
          any("PREAUTH_FAILED" in ln or "Preauthentication failed" in ln for ln in lines), *lines[-10:])
    check_eq("%s: no process runs as A" % L, user_processes(uids["A"]), [])
    check_eq("%s: no ticket cache was written" % L, caches(), [])


def t3_session():
    server.ensure(rserver=krb_rserver())
    L = "3 session credentials"
    b = Browser("A")
    r = b.sign_in()
    require("%s: sign-in with the Kerberos password: 302 with user-id" % L, r.status == 302 and b.signed_in(),
            r.said(), "Set-Cookie: %s" % r.set_cookies())
    browsers["A"] = b
    sid = create_session(b, L)
    info = wait_running(b, sid, L)
    c = open_console(b, sid, L)
    path = check_credentials(c, L)
    c.close()
    state["sid"], state["pid"], state["cache"] = sid, info["pid"], path


state = {}


def force_suspend(b, sid, how, label):
    """Forces a suspend by how ("cli" or "signal"); checks the state, the
    reason, the rsession's end and that the ticket cache is gone."""
    info = b.session(sid)
    pid = info.get("pid") if info else None
    cache = state.get("cache")
    if how == "cli":
        rc, out = force_suspend_cli(sid)
        check("%s: rstudio-server force-suspend-session %s: exit 0" % (label, sid), rc == 0, "exit %d: %s" % (rc, out))
    else:
        os.kill(pid, signal.SIGUSR2)
        ok("%s: SIGUSR2 sent to rsession %d" % (label, pid))
    info, good, seen = wait_state(b, sid, "suspended", H.STATE_WAIT, stop_on=("exited",))
    check("%s: suspended, exit_reason 'force-suspended'" % label,
          good and str(info.get("exit_reason")).startswith("force-suspended"), "states seen: %s" % seen,
          "last: %s" % info)
    check("%s: rsession %s is gone" % (label, pid), wait_pid_gone(pid, uids["A"]))
    if cache:
        check("%s: the PAM session is closed: the ticket cache %s is gone" % (label, cache), wait_gone(cache),
              "caches: %s" % caches())
    check("%s: no process runs as A" % label, wait_until(lambda: not user_processes(uids["A"])),
          "pids: %s" % user_processes(uids["A"]))


def wait_until(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def resume(b, sid, label):
    c = H.Console(b, sid)
    st = c.connect()
    require("%s: console of the suspended session upgrades" % label, st == 101, "status %s %s" % (st, c.ws.error))
    m = c.wait_prompt(H.RUN_WAIT)
    require("%s: it resumes to a prompt" % label, m is not None, *c.evidence())
    return c


def t4_force_cli():
    if not os.environ.get("CLI") or not os.access(os.environ["CLI"], os.X_OK):
        print("     note: CLI (rstudio-server, the admin CLI) not given: the signal path (5) stands in")
        return
    server.ensure(rserver=krb_rserver())
    b = browsers.get("A")
    require("4: a session from 3", b is not None and state.get("sid"))
    force_suspend(b, state["sid"], "cli", "4 force-suspend-session")
    c = resume(b, state["sid"], "4 resume")
    state["cache"] = check_credentials(c, "4 resumed")
    c.close()


def t5_force_signal():
    server.ensure(rserver=krb_rserver())
    b = browsers.get("A")
    require("5: a session from 3", b is not None and state.get("sid"))
    force_suspend(b, state["sid"], "signal", "5 SIGUSR2")


def t6_cooperative():
    """With auth-pam-sessions-close=0 (the default) an ordinary suspend
    leaves the PAM session, and so the cache, alone: only force closes."""
    server.ensure(rserver=krb_rserver())
    b = browsers.get("A")
    L = "6 ordinary suspend"
    require("6: a session from 3", b is not None and state.get("sid"))
    sid = state["sid"]
    c = resume(b, sid, L)
    cache = check_credentials(c, L + " resumed")
    c.close()
    r = b.api("POST", "/api/sessions/%s/suspend" % sid)
    check_eq("%s: POST suspend: 200" % L, r.status, 200, r.said())
    info, good, seen = wait_state(b, sid, "suspended", H.STATE_WAIT, stop_on=("exited",))
    check("%s: suspended" % L, good, "states seen: %s" % seen)
    check("%s: the cache %s stays (auth-pam-sessions-close=0)" % (L, cache), cache and os.path.exists(cache),
          "caches: %s" % caches())
    if cache:
        os.unlink(cache)


def t7_password_changed():
    """After the Kerberos password changed, the password the monitor kept
    from the sign-in no longer opens a PAM session: no R session starts."""
    server.ensure(rserver=krb_rserver())
    b = browsers.get("A")
    L = "7 password changed"
    require("7: signed in (3)", b is not None)
    kdc.kadmin("cpw -pw %s %s" % ("changed-" + os.urandom(8).hex(), principal("A")))
    before = set(caches())
    sid = create_session(b, L)
    info, good, seen = wait_state(b, sid, "exited", H.STATE_WAIT, stop_on=("running",))
    check("%s: the new session never runs: exited, with a reason naming PAM" % L,
          good and "pam" in str(info.get("exit_reason")).lower(), "states seen: %s" % seen, "last: %s" % info)
    check_eq("%s: no process runs as A" % L, user_processes(uids["A"]), [])
    check_eq("%s: no new ticket cache" % L, sorted(set(caches()) - before), [])
    kdc.kadmin("cpw -pw %s %s" % (H.PASSWORDS["A"], principal("A")))


def t8_host_pam():
    now = {}
    for p in sorted(glob.glob("/etc/pam.d/common-*")):
        with open(p, "rb") as f:
            now[p] = f.read()
    check("8: /etc/pam.d/common-* unchanged by the test%s" % (
        "" if any(b"pam_krb5" in v for v in now.values()) else " and free of pam_krb5"),
        now == PAM_FILES_BEFORE and not any(b"pam_krb5" in v for v in now.values()),
        *["%s has pam_krb5" % p for p, v in now.items() if b"pam_krb5" in v])




TESTS = [
    (1, "realm and PAM services", t1_realm),
    (2, "a wrong password never reaches a session", t2_wrong_password),
    (3, "a session has the user's tickets", t3_session),
    (4, "force-suspend-session closes the PAM session", t4_force_cli),
    (5, "SIGUSR2 force-suspend closes the PAM session", t5_force_signal),
    (6, "an ordinary suspend keeps it", t6_cooperative),
    (7, "a changed password stops new sessions", t7_password_changed),
    (8, "the host's PAM stack", t8_host_pam),
    (9, "sanitizer reports in the sessions' logs", H.check_session_logs),
]


def main():
    for tool in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(":")):
            print("test-kerberos: %s not found; run scripts/install-deps" % tool)
            return 1
    if not glob.glob("/usr/lib/*/security/pam_krb5.so") + glob.glob("/lib/*/security/pam_krb5.so"):
        print("test-kerberos: pam_krb5.so not found; run scripts/install-deps (libpam-krb5)")
        return 1
    try:
        return H.main(TESTS)
    finally:
        kdc.stop()


if __name__ == "__main__":
    sys.exit(main())
