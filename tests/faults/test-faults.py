#!/usr/bin/env python3
"""Fault injection against a real rserver, as root: what happens to
sessions and state when processes die, input is malformed, the database is
broken or a home file system is full.

1. kill -9 of rserver with 20 running sessions (two users), five times:
   every session is found again with the same pid, and its R state
   (a counter bumped each round) answers on its console.
2. kill -9 of the monitor: rserver logs it and exits non-zero, stops
   serving, and the sessions keep running (a start finds them).
3. 1,000 malformed HTTP requests and WebSocket frames (truncated, oversized
   headers and URLs, bad UTF-8, unmasked frames, reserved opcodes and bits,
   huge lengths, broken JSON): each answered with a 4xx or a close, rserver
   and the session behind the WebSockets survive, rserver's RSS before and
   after is reported and must stay flat (not asserted under ASan, whose
   quarantine keeps freed memory). What libwebsockets' parser tolerates
   and then serves like a normal request (a lower-case method, an odd
   version, a missing or doubled Host, an unmasked frame) is listed in the
   output, not failed: rserver cannot see it.
4. The sqlite file corrupt (pages overwritten, truncated), a directory, or
   on a read-only file system at start: exit 1 and an error naming the
   file. (A file of random bytes is tests/server/test-server.sh's.)
5. A home on a small full file system (a tmpfs mounted as the user's home):
   a suspend through the API answers 409 with the reason, the session keeps
   running with the same pid and its console is told why; with space again
   the same session suspends and resumes.
6. kill -9 of rsession at random moments while it writes its suspended
   state, 50 times, alternately with and without an older complete state
   in place: afterwards the state on disk is the older one, the new one or
   (without an older one) none, never a mix, and the session resumes from
   it (or starts afresh) on the next open; no half-written temporary
   directory is left.
7. No sanitizer reports in the sessions' own logs (ASan build).

Uses tests/server/harness.py (users, PAM, config, rserver, cleanup).
Environment: RSERVER, LAUNCHER, RSESSION; RS_TEST_ONLY=1,3 runs only those;
RS_FAULTS_SEED=N repeats a run's random choices (tests 3 and 6 print the
seed they used); RS_FAULTS_DUMP=1 lists every case of test 3 with its
outcome.
"""

import hashlib
import http.client
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import harness as H  # noqa: E402
import wsclient  # noqa: E402
from harness import (  # noqa: E402
    Console, browser, check, check_eq, create_session, fail, ok, open_console, quit_all, require, server,
    uids, wait_pid_gone, wait_running, wait_state,
)

H.configure("test-faults", "fa", users=("A", "B"))

SANITIZED = False  # rserver built with ASan (set in main)
mounts = []  # mount points to undo, newest last


def say(msg):
    print("     %s" % msg, flush=True)


def monitor_pid():
    """rserver's monitor: its child with this run's config dir in its
    command line."""
    if server.proc is None:
        return None
    for pid in H.leftover_pids():
        info = H.proc_info(pid)
        if info and H.Server._is_child(pid, server.proc.pid) and H.CONF.encode() in info[4]:
            return pid
    return None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mount_tmpfs(path, opts):
    """Mounts a tmpfs on path; True, or False with a note when this host
    does not allow it (then the test is skipped)."""
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        say("SKIP: cannot mount a tmpfs on %s: %s" % (path, p.stdout.strip()))
        return False
    mounts.append(path)
    return True


def umount(path):
    if path not in mounts:
        return
    p = subprocess.run(["umount", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mounts.remove(path)


def kill_user(uid, timeout=10):
    """SIGKILL every process of uid, by pid, until none is left."""
    return not H.kill_until_gone(
        lambda: [int(d) for d in os.listdir("/proc") if d.isdigit() and H.pid_alive(int(d), uid)], timeout)


def console_value(b, sid, label, expr, timeout=H.RUN_WAIT):
    """Opens a console on sid, prints expr between markers and returns the
    text (None if it did not answer)."""
    c = Console(b, sid)
    st = c.connect()
    if st != 101:
        fail("%s: console upgrades" % label, "status %s %s" % (st, c.ws.error))
        return None, c
    if c.wait_prompt(timeout) is None:
        fail("%s: console gives a prompt" % label, *c.evidence())
        c.close()
        return None, c
    text, good = c.run('cat("V<", %s, ">V\\n", sep = "")\n' % expr, ">V")
    if not good:
        fail("%s: %s answers" % (label, expr), "output %r" % H.short(text), *c.evidence())
        return None, c
    return text.split("V<", 1)[1].split(">V", 1)[0], c


# ==== 1. kill -9 of rserver, 20 sessions, five times ====

shared = {}


def t1_kill_rserver():
    server.ensure()
    L = "1 kill -9 rserver"
    a, b = browser("A"), browser("B")
    quit_all(a)
    quit_all(b)
    sids = []
    for i in range(20):
        who = a if i % 2 == 0 else b
        sids.append((who, create_session(who, "%s #%d" % (L, i + 1))))
    pids = {}
    for i, (who, sid) in enumerate(sids):
        pids[sid] = wait_running(who, sid, "%s #%d" % (L, i + 1), H.RUN_WAIT * 2)["pid"]
    ok("%s: 20 sessions running (10 of A, 10 of B)" % L)
    for who, sid in sids:
        c = open_console(who, sid, "%s %s" % (L, sid))
        good = c.run("fault_n <- 0L; cat('set\\n')\n", "set")[1]
        c.close()
        if not good:
            fail("%s: %s: counter set" % (L, sid), *c.evidence())
    for rnd in range(1, 6):
        # Bump the counter; every third session is left busy across the kill.
        for i, (who, sid) in enumerate(sids):
            c = Console(who, sid)
            if c.connect() != 101 or c.wait_prompt(H.RUN_WAIT) is None:
                fail("%s round %d: console of %s before the kill" % (L, rnd, sid), *c.evidence())
                continue
            code = "fault_n <- fault_n + 1L\n" + ("Sys.sleep(2)\n" if i % 3 == 0 else "")
            c.ws.send_json({"type": "input", "text": code})
            c.read_until(lambda m: m.get("type") == "busy", 10)
            if i % 3:
                c.wait_prompt(H.EVAL_WAIT)
            c.close()
        t = time.monotonic()
        rc = server.stop(signal.SIGKILL)
        check_eq("%s round %d: rserver died of SIGKILL" % (L, rnd), rc, -signal.SIGKILL)
        alive = [s for _, s in sids if H.pid_alive(pids[s])]
        check_eq("%s round %d: all 20 rsessions still run" % (L, rnd), len(alive), 20)
        server.ensure()
        deadline = time.monotonic() + 30
        while True:
            got = {}
            for who in (a, b):
                _, lst = who.sessions()
                for s in lst or []:
                    if s.get("id") in pids:
                        got[s["id"]] = (s.get("state"), s.get("pid"))
            want = {s: ("running", pids[s]) for _, s in sids}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check("%s round %d: all 20 found again, running, same pids (%.1f s after the kill)"
              % (L, rnd, time.monotonic() - t), got == want,
              *["%s: got %s want %s" % (s, got.get(s), want[s]) for s in want if got.get(s) != want[s]])
        answers = {}
        for who, sid in sids:
            v, c = console_value(who, sid, "%s round %d %s" % (L, rnd, sid), "fault_n")
            c.close()
            answers[sid] = v
        bad = {s: v for s, v in answers.items() if v != str(rnd)}
        check("%s round %d: every console answers, fault_n == %d in all 20" % (L, rnd, rnd), not bad,
              *["%s: %r" % kv for kv in bad.items()])
    shared["sids"] = sids
    shared["pids"] = pids


# ==== 2. the monitor dies ====


def t2_monitor_dies():
    server.ensure()
    L = "2 monitor dies"
    mon = monitor_pid()
    require("%s: rserver's monitor found" % L, mon, "rserver pid %d" % server.proc.pid)
    sids = shared.get("sids", [])
    pids = shared.get("pids", {})
    mark = H.log_size()
    os.kill(mon, signal.SIGKILL)
    try:
        rc = server.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    check("%s: rserver exits by itself with a non-zero status (got %s)" % (L, rc), rc is not None and rc > 0,
          *H.log_since(mark)[-10:])
    lines = H.log_since(mark)
    check("%s: rserver logs that the monitor has gone" % L, any("monitor" in ln.lower() for ln in lines), *lines[-10:])
    try:
        r = H.http_request("http", "GET", "/health-check", timeout=3)
        serving = "HTTP %d" % r.status
    except (OSError, http.client.HTTPException) as e:
        serving = None
        why = str(e)
    check("%s: nothing serves on the port any more" % L, serving is None, serving or why)
    if rc is None:
        server.stop(signal.SIGKILL)
    server.proc = None
    server.config = None
    if sids:
        alive = [s for _, s in sids if H.pid_alive(pids[s])]
        check_eq("%s: the 20 rsessions keep running" % L, len(alive), 20)
        server.ensure()
        deadline = time.monotonic() + 30
        while True:
            got = {}
            for who in {id(w): w for w, _ in sids}.values():
                _, lst = who.sessions()
                got.update({s["id"]: (s.get("state"), s.get("pid")) for s in lst or [] if s.get("id") in pids})
            want = {s: ("running", pids[s]) for _, s in sids}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check("%s: a new rserver finds all 20, same pids" % L, got == want)
        who, sid = sids[0]
        v, c = console_value(who, sid, L, "fault_n")
        c.close()
        check_eq("%s: and a console answers" % L, v, "5")
        for who, sid in sids:
            who.api("POST", "/api/sessions/%s/quit" % sid)
        gone = [s for _, s in sids if wait_pid_gone(pids[s], None, 30)]
        check_eq("%s: all 20 quit" % L, len(gone), 20)


# ==== 3. malformed HTTP and WebSocket input ====


def raw_exchange(data, shut=True, wait=5.0, chunks=None):
    """Sends data (or the list chunks) on a fresh connection, optionally
    half-closes, and reads until the server closes or wait passes.
    Returns (status or None, closed_by_server, bytes read)."""
    s = socket.create_connection(("127.0.0.1", H.PORT), timeout=5)
    got = b""
    closed = False
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for part in (chunks or [data]):
                s.sendall(part)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            closed = True  # the server closed while we were sending: a close
        deadline = time.monotonic() + wait
        while not closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not d:
                closed = True
                break
            got += d
            if len(got) > 1 << 20:
                break
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return (int(m.group(1)) if m else None), closed, got


def http_cases(rng, n):
    """n malformed HTTP requests: (name, bytes, allowed statuses)."""
    host = ("Host: 127.0.0.1:%d\r\n" % H.PORT).encode()
    valid = b"GET /auth-sign-in HTTP/1.1\r\n" + host + b"User-Agent: faults\r\nAccept: */*\r\n\r\n"
    post = (b"POST /auth-do-sign-in HTTP/1.1\r\n" + host +
            b"Content-Type: application/x-www-form-urlencoded\r\n")
    four = set(range(400, 500))
    # A malformed sign-in form is answered as the contract says: 302 back
    # to the sign-in page with an error (or a 4xx).
    form = four | {302}
    # What libwebsockets' parser tolerates and then serves like the request
    # it resembles (a redirect to the sign-in page, the page itself): not
    # a crash and nothing gained; listed in the output, not failed.
    lenient = set(range(200, 500))
    fixed = [
        ("bad method", b"G\x00T / HTTP/1.1\r\n" + host + b"\r\n", four),
        ("lower-case method", b"get / HTTP/1.1\r\n" + host + b"\r\n", lenient),
        ("unknown method", b"BREW /pot HTTP/1.1\r\n" + host + b"\r\n", four),
        ("HTTP/9.9", b"GET / HTTP/9.9\r\n" + host + b"\r\n", lenient),
        ("HTTX/1.1", b"GET / HTTX/1.1\r\n" + host + b"\r\n", lenient),
        ("HTTP/1.1.1", b"GET / HTTP/1.1.1\r\n" + host + b"\r\n", lenient),
        ("no version", b"GET /\r\n" + host + b"\r\n", lenient),
        ("no path", b"GET HTTP/1.1\r\n" + host + b"\r\n", four),
        ("absolute URI", b"GET http://evil.example/ HTTP/1.1\r\n" + host + b"\r\n", four),
        ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\n" + host + b"\r\n", four),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n", four),
        ("TRACE", b"TRACE / HTTP/1.1\r\n" + host + b"\r\n", four),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", four),
        ("TLS ClientHello", bytes.fromhex("16030100a5010000a10303") + os.urandom(160), four),
        ("NUL in header", b"GET / HTTP/1.1\r\n" + host + b"X-A: a\x00b\r\n\r\n", four),
        ("header without colon", b"GET / HTTP/1.1\r\n" + host + b"NoColonHere\r\n\r\n", four),
        ("obs-fold", b"GET / HTTP/1.1\r\n" + host + b"X-A: a\r\n  folded\r\n\r\n", lenient),
        ("space before colon", b"GET / HTTP/1.1\r\n" + host + b"X-A : a\r\n\r\n", lenient),
        ("no Host", b"GET /auth-sign-in HTTP/1.1\r\n\r\n", lenient),
        ("two Hosts", b"GET / HTTP/1.1\r\n" + host + b"Host: evil\r\n\r\n", lenient),
        ("bad UTF-8 path", b"GET /s/\xff\xfe\xc0\x80/ HTTP/1.1\r\n" + host + b"\r\n", four),
        ("bad UTF-8 cookie", b"GET / HTTP/1.1\r\n" + host + b"Cookie: user-id=\xff\xfe\xed\xa0\x80\r\n\r\n", lenient),
        ("percent garbage", b"GET /%zz%%%00%ff HTTP/1.1\r\n" + host + b"\r\n", four),
        ("traversal", b"GET /static/../../../../etc/passwd HTTP/1.1\r\n" + host + b"\r\n", four),
        ("encoded traversal", b"GET /static/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n" + host + b"\r\n", four),
        ("CL negative", post + b"Content-Length: -1\r\n\r\nx", four),
        ("CL huge", post + b"Content-Length: 99999999999999999999999\r\n\r\nx", four),
        ("CL 2^63", post + b"Content-Length: 9223372036854775808\r\n\r\nx", four),
        ("CL text", post + b"Content-Length: ten\r\n\r\nx", four),
        ("CL twice", post + b"Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc", four),
        ("CL and TE", post + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", four),
        ("chunk size zz", post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", four),
        ("chunk size huge", post + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n", four),
        ("chunk size negative", post + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n", four),
        ("TE unknown", post + b"Transfer-Encoding: gzip, identity\r\n\r\nabc", four),
        ("form bad percent", post + b"Content-Length: 40\r\n\r\nusername=%zz&password=%&rs-csrf-token=%f", form),
        ("form bad UTF-8", post + b"Content-Length: 30\r\n\r\nusername=\xff\xfe\xfd&password=\xc0\x80x", form),
        ("form no fields", post + b"Content-Length: 5\r\n\r\n&&&&&", form),
        ("ws no key", b"GET /s/0000000000000000/console HTTP/1.1\r\n" + host +
         b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", four),
        ("ws version 12", b"GET /s/0000000000000000/console HTTP/1.1\r\n" + host +
         b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         b"Sec-WebSocket-Version: 12\r\n\r\n", four),
        ("ws key garbage", b"GET /s/0000000000000000/console HTTP/1.1\r\n" + host +
         b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \xff\xfe!!\r\n"
         b"Sec-WebSocket-Version: 13\r\n\r\n", four),
        ("ws on a page", b"GET /auth-sign-in HTTP/1.1\r\n" + host +
         b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         b"Sec-WebSocket-Version: 13\r\n\r\n", four | {200}),
        ("bare LF", b"GET /auth-sign-in HTTP/1.1\n" + host.replace(b"\r\n", b"\n") + b"\n", lenient),
        ("bare CR", b"GET /auth-sign-in HTTP/1.1\r" + host.replace(b"\r\n", b"\r") + b"\r", four),
    ]
    out = list(fixed)
    while len(out) < n:
        k = rng.randrange(9)
        if k == 0:
            cut = rng.randrange(1, len(valid) - 1)
            out.append(("truncated at %d" % cut, valid[:cut], four))
        elif k == 1:
            out.append(("random %d bytes" % (m := rng.choice([1, 7, 100, 1000, 9000])), os.urandom(m), four))
        elif k == 2:
            size = rng.choice([8 << 10, 64 << 10, 512 << 10])
            out.append(("header of %d bytes" % size,
                        b"GET / HTTP/1.1\r\n" + host + b"X-Big: " + b"a" * size + b"\r\n\r\n", four))
        elif k == 3:
            count = rng.choice([200, 2000, 10000])
            out.append(("%d headers" % count,
                        b"GET / HTTP/1.1\r\n" + host + b"".join(b"X-%d: v\r\n" % i for i in range(count)) + b"\r\n",
                        lenient))
        elif k == 4:
            size = rng.choice([4 << 10, 64 << 10, 1 << 20])
            out.append(("URL of %d bytes" % size, b"GET /" + b"a" * size + b" HTTP/1.1\r\n" + host + b"\r\n", four))
        elif k == 5:
            junk = bytes(rng.choice(b"\x00\x7f\x80\xbf\xc0\xc1\xf5\xff\r\n:% ") for _ in range(rng.randrange(1, 40)))
            out.append(("junk in header", b"GET / HTTP/1.1\r\n" + host + b"X-J: " + junk + b"\r\n\r\n", lenient))
        elif k == 6:
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
            out.append(("junk request line", junk + b" / HTTP/1.1\r\n" + host + b"\r\n", four))
        elif k == 7:
            cut = rng.randrange(1, 200)
            body = b"username=" + b"u" * 100 + b"&password=" + b"p" * 100
            out.append(("body shorter than CL", post + b"Content-Length: 5000\r\n\r\n" + body[:cut], four))
        else:
            name, data, allowed = fixed[rng.randrange(len(fixed))]
            out.append((name + " (again)", data, allowed))
    return [(name, data, allowed, allowed is lenient) for name, data, allowed in out[:n]]


def ws_frame(opcode, payload, fin=True, mask=True, rsv=0, length=None, key=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + wsclient._mask(key, payload)


def ws_cases(rng, n):
    """n malformed frame sequences: (name, bytes, kind). kind "close": the
    server has to close (or send a close frame) by itself; "wait": it may
    wait for more bytes (a truncated frame), and the client closes;
    "lenient": RFC 6455 says close, but libwebsockets 4.1 has no way to
    (unmasked frames): any outcome but a crash, reported."""
    text = 0x1
    over = (1 << 20) + (8 << 10)  # past rserver's 1 MiB (+4 KiB) message cap
    out = [
        ("unmasked text", ws_frame(text, b'{"type":"interrupt"}', mask=False), "lenient"),
        ("unmasked close", ws_frame(0x8, struct.pack("!H", 1000), mask=False), "close"),
        ("control frame of 126 bytes", ws_frame(0x9, b"p" * 126), "close"),
        ("fragmented ping", ws_frame(0x9, b"p", fin=False), "close"),
        ("continuation first", ws_frame(0x0, b"x"), "close"),
        ("text inside a fragmented text", ws_frame(text, b"{", fin=False) + ws_frame(text, b"}"), "close"),
        ("close with 1 byte", ws_frame(0x8, b"\x03"), "close"),
        ("length 2^63 (MSB set)", b"\x81\xff" + struct.pack("!Q", 1 << 63) + os.urandom(4), "close"),
        ("message over 1 MiB", ws_frame(text, b'{"type":"input","text":"' + b"x" * over + b'"}'), "close"),
        ("fragments over 1 MiB", b"".join(ws_frame(0x0 if i else text, b"y" * 65536, fin=False) for i in range(20)),
         "close"),
    ]
    # Huge declared lengths, then more data than the cap: the cap must
    # close it (a length alone, without data, is a truncated frame).
    for ln in ((1 << 63) - 1, 1 << 40, (1 << 32) + 5, over + 1):
        key = os.urandom(4)
        out.append(("length %d, then %d bytes" % (ln, over),
                    b"\x81\xff" + struct.pack("!Q", ln) + key + wsclient._mask(key, b"z" * over), "close"))
    for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF):
        out.append(("reserved opcode 0x%x" % op, ws_frame(op, b"x"), "close"))
    for rsv in range(1, 8):
        out.append(("RSV bits %d" % rsv, ws_frame(text, b'{"type":"interrupt"}', rsv=rsv), "close"))
    for code in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535):
        out.append(("close code %d" % code, ws_frame(0x8, struct.pack("!H", code)), "close"))
    out.append(("close reason bad UTF-8", ws_frame(0x8, struct.pack("!H", 1000) + b"\xff\xfe"), "close"))
    bad_utf8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf5\x80\x80\x80", b"\xe2\x82", b"\x80", b"\xf0\x28\x8c\x28"]
    for seq in bad_utf8:
        out.append(("bad UTF-8 %s in text" % seq.hex(),
                    ws_frame(text, b'{"type":"input","text":"' + seq + b'\\n"}'), "close"))
    # Well-formed frames whose JSON is not a browser message: dropped or
    # closed, never relayed (the session is checked afterwards).
    for j in (b"{", b"[]", b"null", b"1", b'{"type":1}', b'{"type":"input"}', b'{"type":"input","text":5}',
              b'{"type":"status"}', b'{"type":"suspend","force":true}', b'{"type":"quit"}',
              b'{"type":"input","text":"x","text":"y"}', b'{"type":"input","text":"\\ud800\\n"}',
              b'{"type":"input","text":"a\\u0000b\\n"}', b"[" * 100000 + b"]" * 100000,
              b'{"type":"ack","notification":' + b"9" * 5000 + b"}"):
        out.append(("JSON %s" % H.short(j, 40), ws_frame(text, j), "wait"))
    while len(out) < n:
        k = rng.randrange(6)
        if k == 0:
            f = ws_frame(text, b'{"type":"interrupt"}')
            cut = rng.randrange(1, len(f))
            out.append(("truncated frame at %d" % cut, f[:cut], "wait"))
        elif k == 1:
            out.append(("random %d bytes" % (m := rng.choice([1, 2, 14, 200, 5000])), os.urandom(m), "wait"))
        elif k == 2:
            seq = bytes(rng.choice(b"\x80\xbf\xc0\xc1\xe0\xed\xf0\xf4\xf5\xff") for _ in range(rng.randrange(1, 8)))
            # Some draws are valid UTF-8 ("\xe0\xbf\x80" is U+0FC0), which
            # the server rightly accepts: 0xff never is, so every one is bad.
            seq += b"\xff"
            out.append(("random bad UTF-8", ws_frame(text, b'{"type":"input","text":"' + seq + b'"}'), "close"))
        elif k == 3:
            out.append(("declared %d, sent 10" % (m := rng.choice([200, 70000, 1 << 20])),
                        ws_frame(text, b"x" * 10, length=m), "wait"))
        elif k == 4:
            out.append(("ping flood", b"".join(ws_frame(0x9, b"p") for _ in range(rng.choice([10, 500]))), "wait"))
        else:
            name, data, kind = out[rng.randrange(len(out))]
            out.append((name + " (again)", data, kind))
    return out[:n]


def ws_exchange(a, sid, data, kind, wait):
    """Upgrades to sid's console, sends data, and reads until the server
    closes. Returns (upgrade status, outcome, detail): outcome "close"
    (close frame or end of stream), "open" (still open after wait)."""
    ws = wsclient.WebSocket()
    st = ws.connect(a.ws_url(sid), {"Origin": a.origin, "Cookie": a.cookie_header()}, timeout=10)
    if st != 101:
        return st, "refused", ws.error
    sock = ws.sock
    try:
        try:
            sock.sendall(data)
        except OSError as e:
            return st, "close", "while sending: %s" % e
        deadline = time.monotonic() + (0.3 if kind == "wait" else wait)
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return st, "open", ""
            sock.settimeout(left)
            try:
                d = sock.recv(65536)
            except socket.timeout:
                return st, "open", ""
            except OSError as e:
                return st, "close", str(e)
            if not d:
                return st, "close", "end of stream"
            buf += d
            # A close frame from the server (opcode 8, unmasked).
            i = 0
            while i + 2 <= len(buf):
                b0, b1 = buf[i], buf[i + 1]
                ln, off = b1 & 0x7F, 2
                if ln == 126:
                    if i + 4 > len(buf):
                        break
                    ln, off = struct.unpack_from("!H", buf, i + 2)[0], 4
                elif ln == 127:
                    if i + 10 > len(buf):
                        break
                    ln, off = struct.unpack_from("!Q", buf, i + 2)[0], 10
                if i + off + ln > len(buf):
                    break
                if b0 & 0x0F == 0x8:
                    payload = buf[i + off:i + off + ln]
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    return st, "close", "close frame %s" % code
                i += off + ln
    finally:
        try:
            sock.close()
        except OSError:
            pass


def run_cases(cases, fn, threads=16):
    """Runs fn(case) for every case on a pool of threads; returns the
    results in order."""
    results = [None] * len(cases)
    nxt = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(cases):
                return
            try:
                results[i] = fn(cases[i])
            except Exception as e:  # a client-side failure is evidence, not a crash
                results[i] = ("error", repr(e))

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def t3_malformed():
    server.ensure()
    L = "3 malformed input"
    a = browser("A")
    quit_all(a)
    sid = create_session(a, L)
    spid = wait_running(a, sid, L)["pid"]
    c = open_console(a, sid, L)
    H.check_eval(c, L, "1+1\n", "[1] 2")
    c.close()
    seed = int(os.environ.get("RS_FAULTS_SEED", "0")) or H.PID
    rng = random.Random(seed)
    say("RS_FAULTS_SEED=%d" % seed)
    pid = server.proc.pid

    def http_one(case):
        name, data, allowed, tolerated = case
        st, closed, got = raw_exchange(data)
        good = st in allowed if st is not None else closed
        note = tolerated and st is not None and st < 400
        return good, "%s: status %s, %s, %d bytes back" % (name, st, "closed" if closed else "NOT closed",
                                                           len(got)), note

    def ws_one(case):
        name, data, kind = case
        st, outcome, detail = ws_exchange(a, sid, data, kind, 3.0)
        good = st == 101 and (outcome == "close" or kind != "close")
        note = kind == "lenient" and outcome != "close"
        return good, "%s: upgrade %s, %s %s" % (name, st, outcome, detail), note

    # Warm-up, every fixed case at least once: lws and malloc settle their
    # buffers and pools (the biggest at 16 connections at once).
    run_cases(http_cases(rng, 150), http_one)
    run_cases(ws_cases(rng, 150), ws_one)
    rss0 = rss_kib(pid)
    t = time.monotonic()
    hc = http_cases(rng, 500)
    wc = ws_cases(rng, 500)
    hr = run_cases(hc, http_one)
    wr = run_cases(wc, ws_one)
    dt = time.monotonic() - t
    time.sleep(0.5)
    rss1 = rss_kib(pid)
    def failures(results):
        return [r[1] for r in results if not (isinstance(r, tuple) and r[0] is True)]

    if os.environ.get("RS_FAULTS_DUMP"):
        for r in hr + wr:
            print("DUMP %s %s" % ("ok " if r[0] is True else "BAD", r[1]))
    check("%s: 500 HTTP requests each answered 4xx (302 for a broken sign-in form) or closed" % L,
          not failures(hr), *failures(hr)[:15])
    check("%s: 500 WebSocket frame sequences each closed (or, truncated, waited on)" % L,
          not failures(wr), *failures(wr)[:15])
    statuses = {}
    for r in hr:
        m = re.search(r"status (\S+)", r[1] or "")
        k = m.group(1) if m else "?"
        statuses[k] = statuses.get(k, 0) + 1
    say("1,000 cases in %.1f s; HTTP answers: %s" % (dt, ", ".join("%s x%d" % kv for kv in sorted(statuses.items()))))
    tolerated = sorted({r[1].split(":")[0].replace(" (again)", "") for r in hr + wr if isinstance(r, tuple) and len(r) > 2 and r[2]})
    if tolerated:
        say("tolerated by libwebsockets' parser and served like a normal request or frame: %s" % "; ".join(tolerated))
    check("%s: rserver (pid %d) is still running, same process" % (L, pid),
          server.running() and server.proc.pid == pid, H.server_status())
    r = H.http_request("http", "GET", "/health-check")
    check_eq("%s: /health-check 200" % L, r.status, 200, r.said())
    info = a.session(sid)
    check("%s: the session behind the WebSockets still runs, same pid" % L,
          info and info.get("state") == "running" and info.get("pid") == spid, json.dumps(info))
    c = open_console(a, sid, L + " after")
    H.check_eval(c, L + " after", "1+1\n", "[1] 2")
    c.close()
    grow = (rss1 or 0) - (rss0 or 0)
    say("rserver RSS: %s KiB before, %s KiB after 1,000 cases (%+d KiB)" % (rss0, rss1, grow))
    if SANITIZED:
        say("RSS not judged: rserver is built with AddressSanitizer (freed memory stays in quarantine)")
    elif grow <= 4096:
        check("%s: rserver's RSS flat (%s -> %s KiB, at most +4 MiB)" % (L, rss0, rss1), rss0 and rss1)
    else:
        # Grown: a leak keeps growing, a pool that found its size does not.
        run_cases(http_cases(rng, 500), http_one)
        run_cases(ws_cases(rng, 500), ws_one)
        time.sleep(0.5)
        rss2 = rss_kib(pid)
        check("%s: rserver's RSS flat: +%d KiB over 1,000 cases, then %+d KiB over 1,000 more (at most +1 MiB)"
              % (L, grow, (rss2 or 0) - rss1), rss2 and rss2 - rss1 <= 1024)
    a.api("POST", "/api/sessions/%s/quit" % sid)
    wait_state(a, sid, "exited", 30)


# ==== 4. the database at start ====


def t4_database():
    server.ensure()
    L = "4 database"
    db = H.DB_DIR + "/rstudio.sqlite"
    server.stop()
    require("%s: %s exists after a start" % (L, db), os.path.isfile(db))
    good = H.TMP + "/good.sqlite"
    shutil.copy2(db, good)
    st = os.stat(db)

    def restore():
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = db + suffix
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
        shutil.copy2(good, db)
        os.chown(db, st.st_uid, st.st_gid)
        os.chmod(db, 0o600)

    def start_fails(what, names=(db,), reason=None):
        """rserver refuses to start, naming one of names (and reason)."""
        with open(H.CONF + "/rserver.conf", "w") as f:
            f.write("".join("%s=%s\n" % kv for kv in server._merged_rserver(None).items()))
        p = subprocess.run([H.RSERVER, "--config-dir", H.CONF], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        out = p.stdout.strip()
        errs = [ln for ln in out.splitlines() if any(n in ln for n in names) and (not reason or reason in ln)]
        check("%s: %s: rserver exits 1 naming %s%s" % (L, what, " or ".join(names),
                                                     " and saying %r" % reason if reason else ""),
              p.returncode == 1 and errs, "exit %d" % p.returncode, *out.splitlines()[-6:])
        if errs:
            say("%s: %s" % (what, errs[-1][errs[-1].find("ERROR"):] if "ERROR" in errs[-1] else errs[-1]))

    # Every page after the first overwritten: the schema or the tables
    # are garbage, while the file still starts like sqlite.
    restore()
    with open(db, "r+b") as f:
        data = bytearray(f.read())
        page = struct.unpack(">H", data[16:18])[0] or 65536
        rnd = random.Random(7)
        for i in range(page, len(data)):
            data[i] = rnd.randrange(256)
        f.seek(0)
        f.write(data)
    start_fails("pages overwritten")
    restore()
    with open(db, "r+b") as f:
        f.truncate(100)
    start_fails("truncated to its 100-byte header")
    restore()
    with open(db, "r+b") as f:
        data = bytearray(f.read())
        # The header's page size: 3 is never valid (a power of two 512..65536).
        data[16:18] = b"\x00\x03"
        f.seek(0)
        f.write(data)
    start_fails("a bad page size in the header")
    restore()
    os.unlink(db)
    os.mkdir(db)
    start_fails("a directory in its place")
    restore()

    # A read-only file system: a tmpfs remounted ro holding the database.
    if mount_tmpfs(H.DB_DIR, "size=8m,mode=0700"):
        try:
            shutil.copy2(good, db)
            os.chown(db, st.st_uid, st.st_gid)
            os.chown(H.DB_DIR, st.st_uid, st.st_gid)
            subprocess.run(["mount", "-o", "remount,ro", H.DB_DIR], check=True)
            # rserver first hands the directory to server-user: that is
            # what fails, and the error names it.
            start_fails("on a read-only file system", (db, H.DB_DIR), "Read-only file system")
        finally:
            umount(H.DB_DIR)
    restore()
    server.config = None
    server.ensure()
    ok("%s: with the good file back rserver starts" % L)


# ==== 5. a full home ====


def t5_full_home():
    L = "5 full home"
    who = "B"
    user = H.USERS[who]
    home = "%s/home/%s" % (H.TMP, user)
    uid = uids[who]
    gid = pwd.getpwnam(user).pw_gid
    server.ensure()
    b = browser(who)
    quit_all(b)
    kill_user(uid)
    if not mount_tmpfs(home, "size=6m,mode=0700,uid=%d,gid=%d" % (uid, gid)):
        return
    filler = home + "/filler"
    try:
        sid = create_session(b, L)
        pid = wait_running(b, sid, L)["pid"]
        c = open_console(b, sid, L)
        H.check_eval(c, L, "keep <- seq_len(1e5); cat('kept\\n')\n", "kept")
        # Fill what is left, as the user would (the tmpfs limit binds root too).
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                try:
                    while os.write(fd, b"\0" * size) > 0:
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        try:
            os.chown(filler, uid, gid)
        except OSError:
            pass
        sv = os.statvfs(home)
        say("home %s: %d KiB free" % (home, sv.f_bavail * sv.f_frsize // 1024))
        c.mark = len(c.msgs)
        r = b.api("POST", "/api/sessions/%s/suspend" % sid)
        j = r.json() if isinstance(r.json(), dict) else {}
        check("%s: POST suspend: 409 with the reason (No space left on device)" % L,
              r.status == 409 and "space" in str(j.get("error", "")).lower(), r.said())
        msg = c.read_until(lambda m: m.get("type") == "output" and "could not suspend" in m.get("text", "").lower(),
                           10)
        check("%s: the console is told why (\"Could not suspend the session: ... space ...\")" % L,
              msg is not None and "space" in msg.get("text", "").lower(), *c.evidence())
        states = [(m.get("state"), m.get("detail")) for m in c.msgs[c.mark:] if m.get("type") == "state"]
        check("%s: the console's state goes back to running" % L, states and states[-1][0] == "running",
              "states: %s" % states, *c.evidence(20))
        info = b.session(sid)
        check("%s: the session still runs with the same pid" % L,
              info and info.get("state") == "running" and info.get("pid") == pid and H.pid_alive(pid, uid),
              json.dumps(info))
        H.check_eval(c, L + " still", "cat(length(keep), '\\n')\n", "100000")
        sdir = home + "/.local/share/rstudio/sessions"
        left = [n for n in (os.listdir(sdir) if os.path.isdir(sdir) else []) if n.startswith(".")]
        check_eq("%s: no partial state left behind" % L, left, [])
        os.unlink(filler)
        r = b.api("POST", "/api/sessions/%s/suspend" % sid)
        check_eq("%s: with space again, POST suspend: 200" % L, r.status, 200, r.said())
        info, good, seen = wait_state(b, sid, "suspended", H.STATE_WAIT, stop_on=("exited",))
        check("%s: suspended" % L, good, "states seen: %s" % seen)
        c.close()
        v, c = console_value(b, sid, L + " resumed", "length(keep)")
        c.close()
        check_eq("%s: resumed with its data" % L, v, "100000")
        H.quit_session(b, sid)
    finally:
        kill_user(uid)
        try:
            os.unlink(filler)
        except OSError:
            pass
        umount(home)


# ==== 6. kill -9 of rsession while it writes its state ====


def tree_digest(path):
    """A digest of a directory tree's names and contents (None if absent)."""
    if not os.path.isdir(path):
        return None
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for n in sorted(files):
            p = os.path.join(root, n)
            h.update(os.path.relpath(p, path).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
            h.update(b"\0")
    return h.hexdigest()


def chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in files:
            os.chown(os.path.join(root, n), uid, gid)


def t6_kill_mid_suspend():
    server.ensure()
    L = "6 kill -9 mid-suspend"
    who = "A"
    a = browser(who)
    quit_all(a)
    uid = uids[who]
    pw = pwd.getpwnam(H.USERS[who])
    sdir = pw.pw_dir + "/.local/share/rstudio/sessions"
    sid = create_session(a, L)
    wait_running(a, sid, L)
    state = "%s/%s" % (sdir, sid)
    ref = H.TMP + "/ref-state"
    # ~1.6 MB of state: small, yet its write takes long enough to be hit.
    setup = ('if (!exists("payload")) payload <- runif(2e5); chk <- sum(payload); marker <- "%s"; '
             'cat("SET\\n")\n')
    c = open_console(a, sid, L)
    require("%s: reference state set" % L, c.run(setup % "ref", "SET")[1], *c.evidence())
    c.close()
    r = a.api("POST", "/api/sessions/%s/suspend" % sid)
    require("%s: reference suspend: 200" % L, r.status == 200, r.said())
    require("%s: suspended" % L, wait_state(a, sid, "suspended", H.STATE_WAIT, stop_on=("exited",))[1])
    shutil.copytree(state, ref, symlinks=True)
    ref_digest = tree_digest(ref)
    logf = "%s/.local/share/rstudio/log/rsession-%s.log" % (pw.pw_dir, sid)

    def suspend_ms():
        try:
            with open(logf) as f:
                ms = re.findall(r"suspended to \S+ in (\d+) ms", f.read())
            return int(ms[-1]) if ms else None
        except OSError:
            return None

    seed = int(os.environ.get("RS_FAULTS_SEED", "0")) or H.PID
    rng = random.Random(seed)
    say("RS_FAULTS_SEED=%d" % seed)
    outcomes = {"older": 0, "new": 0, "none": 0, "finished": 0}
    problems = []
    window = writing = None
    t0 = time.monotonic()
    for i in range(1, 51):
        label = "%s #%d" % (L, i)
        # Open (resume or start afresh) and set this round's marker.
        c = Console(a, sid)
        if c.connect() != 101 or c.wait_prompt(H.RUN_WAIT) is None:
            problems.append("%s: no prompt on open: %s" % (label, c.evidence()))
            c.close()
            break
        text, good = c.run(setup % ("it-%d" % i), "SET")
        c.close()
        if not good:
            problems.append("%s: setting the marker failed: %r" % (label, H.short(text)))
            break
        info = a.session(sid)
        pid = info.get("pid")
        planted = i % 2 == 0
        if os.path.lexists(state):
            shutil.rmtree(state)
        if planted:
            shutil.copytree(ref, state, symlinks=True)
            chown_tree(state, uid, pw.pw_gid)
        if window is None:
            # First round: a whole suspend, timed, to aim the others.
            t = time.monotonic()
            r = a.api("POST", "/api/sessions/%s/suspend" % sid)
            wait_state(a, sid, ("suspended", "exited"), H.STATE_WAIT)
            total = time.monotonic() - t
            window = max(total, 0.05)
            writing = max((suspend_ms() or 20) / 1000.0, 0.005)
            say("a suspend of this state: %.0f ms from the request to suspended, %.0f ms of it writing"
                % (total * 1000, writing * 1000))
            killed = False
        else:
            th = threading.Thread(target=lambda: a.api("POST", "/api/sessions/%s/suspend" % sid), daemon=True)
            th.start()
            if rng.random() < 0.8:
                # Aim at the write itself: from the moment rsession's
                # temporary directory appears, a random part of the time a
                # whole write takes (and a little past it).
                prefix = ".%s.tmp-" % sid
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not any(n.startswith(prefix) for n in os.listdir(sdir)):
                    pass
                time.sleep(rng.uniform(0, 1.3 * writing))
            else:
                time.sleep(rng.uniform(0, window))
            try:
                os.kill(pid, signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                killed = False
            th.join(30)
        info, _, _ = wait_state(a, sid, ("suspended", "exited"), H.STATE_WAIT)
        reason = str((info or {}).get("exit_reason"))
        d = tree_digest(state)
        if d is None:
            kind = "none"
        elif d == ref_digest:
            kind = "older"
        else:
            kind = "new"
        if reason.startswith("suspended"):
            outcomes["finished"] += 1
        else:
            outcomes[kind] += 1
        if kind == "none" and planted:
            problems.append("%s: the older state was planted and is gone, with no new one (%s)" % (label, reason))
        if kind == "older" and reason.startswith("suspended"):
            problems.append("%s: suspended, yet the state on disk is the older one" % label)
        # Resume (or start afresh) and see what R got back.
        v, c = console_value(a, sid, label, 'if (exists("marker")) paste(marker, isTRUE(all.equal(sum(payload), chk))) '
                             'else "none"')
        c.close()
        want = {"older": "ref TRUE", "new": "it-%d TRUE" % i, "none": "none"}[kind]
        if v != want:
            problems.append("%s: state on disk was %s (%s), R resumed with %r, want %r"
                            % (label, kind, "killed" if killed else "not killed", v, want))
        aside = [n for n in os.listdir(sdir) if ".suspended-unrestored" in n]
        if aside:
            problems.append("%s: a state could not be restored: %s" % (label, aside))
            for n in aside:
                shutil.rmtree(os.path.join(sdir, n), ignore_errors=True)
        if v is None:
            break
    dt = time.monotonic() - t0
    say("50 rounds in %.1f s: killed with the older state on disk %d, with the new one %d, with none %d; "
        "finished before the kill %d" % (dt, outcomes["older"], outcomes["new"], outcomes["none"],
                                          outcomes["finished"]))
    check("%s: after every kill the state is the older or the new complete one, and resumes" % L, not problems,
          *problems[:10])
    # How many of the 50 random kills land inside the write depends on the
    # machine's speed (9 to 20 seen); 5 proves the window was hit.
    check("%s: kills landed mid-suspend (older or new state after a kill) at least 5 times" % L,
          outcomes["older"] + outcomes["new"] >= 5, json.dumps(outcomes))
    temps = [n for n in os.listdir(sdir) if n.startswith(".%s.tmp-" % sid)]
    check_eq("%s: no half-written temporary directories left in %s" % (L, sdir), temps, [])
    H.quit_session(a, sid)




TESTS = [
    (1, "kill -9 of rserver with 20 sessions, 5 times", t1_kill_rserver),
    (2, "the monitor dies", t2_monitor_dies),
    (3, "1,000 malformed requests and frames", t3_malformed),
    (4, "a broken database at start", t4_database),
    (5, "a full home", t5_full_home),
    (6, "kill -9 of rsession while it writes its state, 50 times", t6_kill_mid_suspend),
    (7, "sanitizer reports in the sessions' logs", H.check_session_logs),
]


def main():
    global SANITIZED
    rs = os.environ.get("RSERVER")
    if rs and os.path.exists(rs):
        with open(rs, "rb") as f:
            SANITIZED = b"__asan_init" in f.read()
    try:
        return H.main(TESTS)
    finally:
        for m in reversed(list(mounts)):
            umount(m)


if __name__ == "__main__":
    sys.exit(main())
