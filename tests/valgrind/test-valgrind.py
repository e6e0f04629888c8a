#!/usr/bin/env python3
"""rserver's network process and its monitor under valgrind memcheck,
through a whole cycle: sign-in, launch, console, suspend, resume, quit,
and a clean stop. Passes when memcheck reports no invalid reads or writes,
no uses of uninitialised values and no "definitely lost" blocks in either
process. (The launcher and rsession are exec'd programs that valgrind does
not follow: they have their own tests, and run under ASan in the sanitizer
build.)

Uses harness.py (throwaway users, PAM, config; everything removed at the
end). Environment: RSERVER, LAUNCHER, RSESSION. Skips when not root, when
valgrind is missing, or for a sanitizer build (RSERVER_SANITIZED=1).
"""

import glob
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import harness as H  # noqa: E402
from harness import browser, check, create_session, open_console, require, server, wait_state  # noqa: E402

H.configure("test-valgrind", "vg", users=("A",))

VG_WAIT = 300  # everything is 20-50 times slower under memcheck


def wrap_rserver():
    """Points the harness at a script that runs rserver under memcheck,
    one log per process (the monitor is a fork: same log pattern)."""
    real = H.RSERVER
    wrapper = H.TMP + "/rserver-vg"
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=memcheck --leak-check=full "
                "--errors-for-leak-kinds=definite --show-leak-kinds=definite "
                "--track-origins=no --child-silent-after-fork=no --trace-children=no "
                "--log-file=%s/vg.%%p.log %s \"$@\"\n" % (H.TMP, real))
    os.chmod(wrapper, 0o755)
    H.RSERVER = wrapper


def t1_cycle():
    H.START_WAIT = VG_WAIT
    wrap_rserver()
    server.ensure()
    a = browser("A")
    sid = create_session(a, "1")
    info, good, seen = wait_state(a, sid, "running", VG_WAIT)
    require("1: the session runs", good, "states: %s" % seen)
    c = open_console(a, sid, "1", VG_WAIT)
    out, good = c.run("x_vg <- 6 * 7\n", "", VG_WAIT)
    require("1: the console answers", good, out)
    r = a.api("POST", "/api/sessions/%s/suspend" % sid)
    check("1: suspend: 200", r.status == 200, r.said())
    info, good, seen = wait_state(a, sid, "suspended", VG_WAIT)
    check("1: suspended", good, "states: %s" % seen)
    c.close()
    c = open_console(a, sid, "1 resumed", VG_WAIT)
    out, good = c.run("x_vg\n", "[1] 42", VG_WAIT)
    check("1: resumed: x_vg is [1] 42", good, out)
    r = a.api("POST", "/api/sessions/%s/quit" % sid)
    check("1: quit: 200", r.status == 200, r.said())
    info, good, seen = wait_state(a, sid, "exited", VG_WAIT)
    check("1: exited", good, "states: %s" % seen)
    c.close()
    a.request("GET", "/auth-sign-out")
    rc = server.stop(timeout=120)
    check("1: rserver stops cleanly under valgrind (exit 0)", rc == 0, "exit status %s" % rc)

    # Which log is which: the network process is this test's child, the
    # monitor is the network process's child; the rest are the monitor's
    # workers (PAM sign-in forks that _exit, launcher forks that exec).
    # Workers are checked for memory errors only: what a forked child
    # leaves allocated when it _exits or execs is not a leak.
    logs = {}
    for log in glob.glob(H.TMP + "/vg.*.log"):
        text = open(log, errors="replace").read()
        pid = int(re.search(r"vg\.(\d+)\.log$", log).group(1))
        parent = re.search(r"Parent PID: (\d+)", text)
        logs[pid] = (int(parent.group(1)) if parent else 0, text)
    net = [p for p, (pp, _) in logs.items() if pp == os.getpid()]
    mon = [p for p, (pp, _) in logs.items() if net and pp == net[0]]
    check("1: memcheck logs for rserver and its monitor", len(net) == 1 and len(mon) == 1,
          "logs (pid: parent): %s" % {p: pp for p, (pp, _) in logs.items()})
    bad_re = re.compile(r"Invalid (read|write|free)|uninitialised|Mismatched free|overlap")
    for pid, (parent, text) in sorted(logs.items()):
        role = "network process" if pid in net else "monitor" if pid in mon else "worker"
        name = "%s (pid %d)" % (role, pid)
        bad = [ln for ln in text.splitlines() if bad_re.search(ln)]
        check("1: %s: no invalid reads, writes or uninitialised values" % name, not bad, *bad[:10])
        if role == "worker":
            continue
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
        check("1: %s: memcheck finished with 0 errors" % name, m is not None and m.group(1) == "0",
              text[-3000:])
        check("1: %s: nothing definitely lost" % name, lost is None or lost.group(1) == "0",
              lost.group(0) if lost else "")


TESTS = [(1, "sign-in, launch, console, suspend, resume, quit under memcheck", t1_cycle)]

if __name__ == "__main__":
    if os.environ.get("RSERVER_SANITIZED") == "1":
        print("SKIP test-valgrind: a sanitizer build (ASan and valgrind do not mix)")
        print("0 passed, 0 failed")
        sys.exit(0)
    if not shutil.which("valgrind"):
        print("SKIP test-valgrind: valgrind is not installed")
        print("0 passed, 0 failed")
        sys.exit(0)
    sys.exit(H.main(TESTS))
