#!/usr/bin/env python3
"""Drives rserver's notifications end to end as root: <config-dir>/
notifications.conf written, edited, broken, deleted and saved by rename
while three users have five consoles open (A: two on one session and one on
a second, B: one, C: one), acknowledgements on the console socket and over
HTTP, and their survival across an rserver restart. Real HTTP port, real
monitor, rsession-launcher, PAM and R.

Uses harness.py: throwaway server user rs_nt_srv_<pid>, users
rs_nt_{a,b,c}_<pid>, PAM services rs-nt-<pid>[-session], temporary root
/tmp/rs-nt-XXXXXX; all removed at the end, even on failure or interrupt
(KEEP_TMP=1 keeps the root, with rserver's log).

Environment: RSERVER, LAUNCHER (rsession-launcher), RSESSION (rsession);
RS_TEST_ONLY=1,4 runs only those tests (the five consoles are opened by
whichever test runs first; later tests do not need earlier ones).
Skips when not root.

Times in the file are written in UTC with an explicit "+00:00" zone, so
the test does not depend on the machine's time zone. Each entry's message
is unique to this run and step, so that an id acknowledged in one step
cannot hide an entry of another. "Does not arrive" is proved with a
barrier, not a sleep: the server sends a console's notifications before it
handles input sent later on that console, so once the output of a marker
`cat()` typed after the event is back, anything due has arrived.
"""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import (  # noqa: E402
    SID_RE, browser, check, check_eq, create_session, gather, http_request, log_since, log_size,
    open_console, quit_all, require, server, short, wait_running,
)

H.configure("test-notifications", "nt", users=("A", "B", "C"))

NOTE_WAIT = 15  # a change of the file to the message (30 ms debounce; generous for sanitizers)
BARRIER_WAIT = 60  # a marker cat() round trip
NONCE = "nt%d" % os.getpid()

# The five consoles: name, user, session key.
LAYOUT = [("a1", "A", "A1"), ("a1'", "A", "A1"), ("a2", "A", "A2"), ("b", "B", "B1"), ("c", "C", "C1")]
sessions = {}  # session key -> id
cons = {}  # console name -> Console
ids = {}  # step -> notification id
_marker = [0]


# ---- the file ----


def path():
    return H.CONF + "/notifications.conf"


def ts(t):
    """Epoch seconds as a notifications.conf time in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S +00:00", time.gmtime(t))


def entry(message, start=None, end=None):
    """One entry's text (no trailing blank line). end defaults to an hour
    from now; message may hold "\\n" (written as continuation lines)."""
    if end is None:
        end = time.time() + 3600
    lines = []
    if start is not None:
        lines.append("StartTime: %s" % ts(start))
    lines.append("EndTime: %s" % ts(end))
    first, *more = message.split("\n")
    lines.append("Message: %s" % first)
    lines += ["  " + m for m in more]
    return "\n".join(lines) + "\n"


def text_of(*entries):
    return "\n".join(entries)


def write_file(text):
    """A plain write (truncate and write in place)."""
    with open(path(), "w") as f:
        f.write(text)


def save_by_rename(text):
    """As editors save: a temporary file in the same directory renamed over
    the real one."""
    tmp = "%s/.notifications.conf.%d.tmp" % (H.CONF, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path())


def remove_file():
    try:
        os.unlink(path())
    except FileNotFoundError:
        pass


def msg(step, extra=""):
    return "%s %s: %s" % (NONCE, step, extra or "maintenance tonight")


# ---- consoles ----


def session_of(key, who, label):
    b = browser(who)
    sid = sessions.get(key)
    if sid:
        info = b.session(sid)
        if info and info.get("state") == "running":
            return sid
    sid = create_session(b, "%s: %s's session %s" % (label, who, key))
    sessions[key] = sid
    wait_running(b, sid, "%s: session %s" % (label, key))
    return sid


def new_console(name, who, key, label):
    c = open_console(browser(who), session_of(key, who, label), "%s: console %s" % (label, name))
    c.name = name
    c.mark = 0
    return c


def five(label):
    """The five consoles, opened (again) where needed."""
    for name, who, key in LAYOUT:
        c = cons.get(name)
        if c is not None:
            c.poll()
        if c is None or c.closed or not c.ws.open:
            cons[name] = new_console(name, who, key, label)
    return [cons[n] for n, _, _ in LAYOUT]


def users_consoles(who):
    return [cons[n] for n, w, _ in LAYOUT if w == who]


def mark(cs):
    for c in cs:
        c.poll()
        c.mark = len(c.msgs)


def is_note(message=None, nid=None):
    def pred(c, m):
        return (m.get("type") == "notification" and (message is None or m.get("message") == message)
                and (nid is None or m.get("id") == nid))
    return pred


def is_dismissed(nid):
    return lambda c, m: m.get("type") == "notification-dismissed" and m.get("id") == nid


def names(cs):
    return ", ".join(c.name for c in cs) or "none"


def expect_all(label, cs, pred, what, timeout=NOTE_WAIT):
    """Every console in cs gets a message matching pred (since its mark)
    within timeout. Returns {console: (message, arrival)}."""
    found = gather(cs, pred, timeout)
    missing = [c for c in cs if c not in found]
    ev = []
    for c in missing:
        ev.append("console %s:" % c.name)
        ev += c.evidence(8)
    where = "on all %d consoles (%s)" % (len(cs), names(cs)) if len(cs) > 1 else "on console %s" % names(cs)
    check("%s: %s %s within %d s" % (label, what, where, timeout),
          not missing, "missing on: %s" % names(missing), *ev)
    return found


def barrier(c, label):
    """Types a marker cat() on c and waits for its output: everything the
    server sent c before handling that input has then been read."""
    _marker[0] += 1
    word = "%s-mark-%d" % (NONCE, _marker[0])
    keep = c.mark
    text, good = c.run('cat("%s\\n")\n' % word, word, BARRIER_WAIT)
    c.mark = keep
    require("%s: marker round trip on console %s" % (label, c.name), good, "output: %r" % short(text, 200),
            *c.evidence())


def none_since_mark(label, cs, pred, what):
    """After a barrier on each console: no message matching pred since its
    mark."""
    bad = []
    for c in cs:
        barrier(c, label)
        got = [m for m in c.msgs[c.mark:] if pred(c, m)]
        if got:
            bad.append("console %s got %s" % (c.name, [short(str(m), 200) for m in got]))
    check("%s: %s (%s)" % (label, what, names(cs)), not bad, *bad)


def log_wait(pattern, mark_at, timeout=NOTE_WAIT):
    """Polls rserver's log (since mark_at) for a line matching pattern."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        lines = log_since(mark_at)
        hit = [ln for ln in lines if rx.search(ln)]
        if hit or time.monotonic() >= deadline:
            return hit, lines
        time.sleep(0.05)


def one_id(label, found):
    """The single 16-hex id all consoles got."""
    got = {m.get("id") for m, _ in found.values()}
    nid = next(iter(got)) if len(got) == 1 else None
    check("%s: one 16-hex id on every console" % label, nid is not None and SID_RE.match(str(nid)),
          "ids: %s" % sorted(map(str, got)))
    return nid


# ==== tests ====


def t1_deliver():
    server.ensure()
    L = "1 deliver"
    remove_file()
    cs = five(L)
    mark(cs)
    early = [(c.name, m) for c in cs for m in c.msgs if m.get("type") == "notification"]
    check("%s: no notification at connect while the file does not exist" % L, not early, *map(str, early))
    message = msg("1", "maintenance at 22:00\nsave your work")
    t0 = time.monotonic()
    write_file(entry(message))
    found = expect_all(L, cs, is_note(message), "the notification (a two-line message, continuation joined)")
    if found:
        print("     (delivered %.0f .. %.0f ms after the write)"
              % (min(t for _, t in found.values()) * 1000 - t0 * 1000,
                 max(t for _, t in found.values()) * 1000 - t0 * 1000))
    if len(found) == len(cs):
        ids["1"] = one_id(L, found)
        extra = [(c.name, m) for c in cs for m in c.msgs[c.mark:]
                 if m.get("type") == "notification" and m.get("id") == ids["1"]]
        check_eq("%s: exactly one notification message per console" % L, len(extra), len(cs),
                 *map(str, extra))


def need_n1(label):
    """The notification of test 1 (written again if RS_TEST_ONLY skipped it)."""
    if ids.get("1"):
        return ids["1"]
    t1_deliver()
    require("%s: test 1's notification is there" % label, ids.get("1"))
    return ids["1"]


def t2_console_ack():
    server.ensure()
    L = "2 console ack"
    cs = five(L)
    nid = need_n1(L)
    a_cs = users_consoles("A")
    others = users_consoles("B") + users_consoles("C")
    mark(cs)
    cons["a1"].ws.send_json({"type": "ack", "notification": nid})
    expect_all(L, a_cs, is_dismissed(nid), "A's ack: notification-dismissed")
    none_since_mark(L, others, is_dismissed(nid), "B and C: no notification-dismissed")
    none_since_mark(L, [cons["a1"]], lambda c, m: m.get("type") == "error", "the ack: no error message")

    c = new_console("a1 new", "A", "A1", L)
    none_since_mark(L, [c], is_note(nid=nid), "a new console of A (session A1): not delivered again")
    c.close()
    c = new_console("a2 new", "A", "A2", L)
    none_since_mark(L, [c], is_note(nid=nid), "a new console of A (session A2): not delivered again")
    c.close()
    c = new_console("b new", "B", "B1", L)
    expect_all(L, [c], is_note(nid=nid), "a new console of B: delivered at connect")
    c.close()

    mark([cons["a1"]])
    cons["a1"].ws.send_json({"type": "ack", "notification": "0" * 16})
    expect_all(L, [cons["a1"]], lambda c, m: m.get("type") == "error", "ack of an unknown id: an error message")


def t3_restart():
    server.ensure()
    L = "3 restart"
    five(L)
    nid = need_n1(L)
    if not ids.get("acked by A"):
        cons["a1"].ws.send_json({"type": "ack", "notification": nid})
        expect_all(L, users_consoles("A"), is_dismissed(nid), "A's ack: notification-dismissed")
    ids["acked by A"] = nid
    rc = server.stop(signal.SIGTERM)
    check_eq("%s: rserver exits 0 on SIGTERM" % L, rc, 0)
    for c in cons.values():
        c.close()
    cons.clear()
    server.ensure()
    for key, who in (("A1", "A"), ("A2", "A")):
        c = new_console("%s after restart" % key, who, key, L)
        none_since_mark(L, [c], is_note(nid=nid), "A's acknowledgement survived: not delivered on %s" % key)
        c.close()
    for who, key in (("B", "B1"), ("C", "C1")):
        c = new_console("%s after restart" % who, who, key, L)
        expect_all(L, [c], is_note(nid=nid), "%s reconnects and gets it" % who)
        c.close()


def t4_http_ack():
    server.ensure()
    L = "4 HTTP ack"
    cs = five(L)
    nid = need_n1(L)
    b, c_ = browser("B"), browser("C")
    mark(cs)
    r = c_.api("POST", "/api/notifications/%s/ack" % nid, csrf=False)
    check_eq("%s: C's POST without X-RS-CSRF-Token: 403" % L, r.status, 403, r.said())
    r = http_request(server.scheme, "POST", "/api/notifications/%s/ack" % nid, "", {})
    check_eq("%s: POST without a sign-in: 401" % L, r.status, 401, r.said())
    r = b.api("POST", "/api/notifications/%s/ack" % ("0" * 16))
    check_eq("%s: B's POST for an unknown id: 404" % L, r.status, 404, r.said())
    r = b.api("POST", "/api/notifications/%s/ack" % nid)
    check("%s: B's POST /api/notifications/<id>/ack: 200 {\"ok\": true}" % L,
          r.status == 200 and r.is_json() and r.json() == {"ok": True}, r.said())
    expect_all(L, users_consoles("B"), is_dismissed(nid), "B's console: notification-dismissed")
    none_since_mark(L, users_consoles("C"), is_dismissed(nid),
                    "C (whose POST was refused): no notification-dismissed")
    c = new_console("b new", "B", "B1", L)
    none_since_mark(L, [c], is_note(nid=nid), "a new console of B: not delivered again")
    c.close()
    c = new_console("c new", "C", "C1", L)
    expect_all(L, [c], is_note(nid=nid), "a new console of C: still delivered")
    c.close()


def t5_future():
    server.ensure()
    L = "5 future StartTime"
    cs = five(L)
    mark(cs)
    message = msg("5", "starts a few seconds from now")
    brief = msg("5", "over two seconds after it starts")
    start = int(time.time()) + 5  # 4..5 s ahead
    lm = log_size()
    wall0, mono0 = time.time(), time.monotonic()
    write_file(text_of(entry(message, start=start, end=start + 3600), entry(brief, start=start, end=start + 2)))
    hit, lines = log_wait(r"notifications\.conf: 2 notification", lm)
    read_at = time.time()
    check("%s: the file is read (logged) before the start (%.1f s ahead)" % (L, start - read_at),
          hit and read_at < start, *lines[-10:])
    early = gather(cs, is_note(message), max(0.0, start - time.time() - 0.5))
    check("%s: nothing until the start" % L, not early,
          *["console %s at %+.3f s" % (c.name, wall0 + (t - mono0) - start) for c, (_, t) in early.items()])
    found = expect_all(L, cs, is_note(message), "delivered", timeout=max(1.0, start - time.time()) + NOTE_WAIT)
    if found:
        rel = sorted(wall0 + (t - mono0) - start for _, t in found.values())
        print("     (arrivals relative to StartTime: %s s)" % ", ".join("%+.3f" % x for x in rel))
        check("%s: no console before the StartTime (first %+.3f s)" % (L, rel[0]), rel[0] >= -0.05)
        check("%s: every console within 2 s after the StartTime (last %+.3f s)" % (L, rel[-1]), rel[-1] <= 2.0)
    # The short one: delivered with it, dropped once its EndTime (a whole
    # second, inclusive) has passed.
    found = expect_all(L, cs, is_note(brief), "an entry ending 2 s after the start: delivered")
    bid = one_id(L, found) if len(found) == len(cs) else None
    require("%s: the short entry arrived" % L, bid)
    end = start + 2
    found = expect_all(L, cs, is_dismissed(bid), "the short entry: notification-dismissed after its EndTime",
                       timeout=max(1.0, end + 1 - time.time()) + NOTE_WAIT)
    if found:
        rel = sorted(wall0 + (t - mono0) - (end + 1) for _, t in found.values())
        check("%s: dismissed once EndTime has passed (first %+.3f s after EndTime + 1 s)" % (L, rel[0]),
              rel[0] >= -0.05)
        check("%s: dismissed within 2 s of that (last %+.3f s)" % (L, rel[-1]), rel[-1] <= 2.0)
    c = new_console("c new", "C", "C1", L)
    expect_all(L, [c], is_note(message), "a new console: the running entry")
    none_since_mark(L, [c], is_note(brief), "a new console: not the ended one")
    c.close()


def t6_expired():
    server.ensure()
    L = "6 expired"
    cs = five(L)
    mark(cs)
    now = time.time()
    gone = msg("6", "already over")
    live = msg("6", "the sentinel")
    write_file(text_of(entry(gone, start=now - 7200, end=now - 60), entry(live)))
    expect_all(L, cs, is_note(live), "the active entry written with it")
    none_since_mark(L, cs, is_note(gone), "the expired entry (EndTime a minute ago): never delivered")
    c = new_console("c new", "C", "C1", L)
    expect_all(L, [c], is_note(live), "a new console: the active entry")
    none_since_mark(L, [c], is_note(gone), "a new console: not the expired one")
    c.close()


def t7_edit():
    server.ensure()
    L = "7 edit"
    cs = five(L)
    end = time.time() + 3600
    v1, v2 = msg("7", "version one"), msg("7", "version two")
    mark(cs)
    write_file(entry(v1, end=end))
    found = expect_all(L, cs, is_note(v1), "the first version")
    id1 = one_id(L + " v1", found) if len(found) == len(cs) else None
    require("%s: the first version arrived" % L, id1)
    mark(cs)
    write_file(entry(v2, end=end))
    found = expect_all(L, cs, is_note(v2), "the edited message, delivered again")
    id2 = one_id(L + " v2", found) if len(found) == len(cs) else None
    check("%s: under a new id (%s, was %s)" % (L, id2, id1), id2 and id2 != id1)
    expect_all(L, cs, is_dismissed(id1), "the old id: notification-dismissed")


def t8_broken():
    server.ensure()
    L = "8 broken entry"
    cs = five(L)
    g1, g2 = msg("8", "good one"), msg("8", "good two")
    bad = msg("8", "the broken one")
    e1 = entry(g1)
    ebad = "EndTime: 2026-13-45 25:61\nMessage: %s\n" % bad
    text = text_of(e1, ebad, entry(g2))
    bad_line = e1.count("\n") + 2  # e1's lines, the blank line, then the bad one
    assert text.splitlines()[bad_line - 1].startswith("EndTime: 2026-13-45")
    mark(cs)
    lm = log_size()
    write_file(text)
    expect_all(L, cs, is_note(g1), "the good entry before the broken one")
    expect_all(L, cs, is_note(g2), "the good entry after the broken one")
    none_since_mark(L, cs, is_note(bad), "the broken entry: not delivered")
    hit, lines = log_wait(r"notifications\.conf:%d:" % bad_line, lm)
    check("%s: rserver logs notifications.conf:%d (the broken entry's line)" % (L, bad_line), hit,
          *(lines[-10:] or ["(nothing logged)"]))
    if hit:
        print("     (%s)" % hit[0].strip())


def t9_delete():
    server.ensure()
    L = "9 delete and recreate"
    cs = five(L)
    g = msg("9", "before the delete")
    mark(cs)
    write_file(entry(g))
    found = expect_all(L, cs, is_note(g), "an entry")
    gid = one_id(L, found) if len(found) == len(cs) else None
    require("%s: the entry arrived" % L, gid)
    mark(cs)
    os.unlink(path())
    expect_all(L, cs, is_dismissed(gid), "file deleted: notification-dismissed")
    r = msg("9", "after the re-create")
    mark(cs)
    write_file(text_of(entry(r)))
    expect_all(L, cs, is_note(r), "file created again: its entry delivered")


def t10_rename():
    server.ensure()
    L = "10 save by rename"
    cs = five(L)
    m1, m2 = msg("10", "saved by rename"), msg("10", "created by rename")
    require("%s: the file exists before the save" % L, os.path.exists(path()))
    mark(cs)
    t0 = time.monotonic()
    save_by_rename(entry(m1))
    found = expect_all(L, cs, is_note(m1), "temp file renamed over the file: delivered")
    if found:
        print("     (delivered %.0f .. %.0f ms after the rename)"
              % (min(t for _, t in found.values()) * 1000 - t0 * 1000,
                 max(t for _, t in found.values()) * 1000 - t0 * 1000))
    remove_file()
    mark(cs)
    save_by_rename(entry(m2))
    expect_all(L, cs, is_note(m2), "temp file renamed to a missing file: delivered")
    leftover = [f for f in os.listdir(H.CONF) if f.startswith(".notifications.conf.")]
    check_eq("%s: no temporary file left" % L, leftover, [])


def t11_quit():
    L = "11 quit"
    for c in list(cons.values()):
        c.close()
    cons.clear()
    server.ensure()
    for who in ("A", "B", "C"):
        quit_all(browser(who))
    left = []
    for who in ("A", "B", "C"):
        _, lst = browser(who).sessions()
        left += ["%s %s" % (s.get("id"), s.get("state")) for s in lst or [] if s.get("state") != "exited"]
    check("%s: every session quit" % L, not left, *left)


TESTS = [
    (1, "delivery to five consoles", t1_deliver),
    (2, "acknowledged on a console", t2_console_ack),
    (3, "acknowledgement survives a restart", t3_restart),
    (4, "acknowledged over HTTP", t4_http_ack),
    (5, "future StartTime", t5_future),
    (6, "expired entry", t6_expired),
    (7, "edited entry", t7_edit),
    (8, "broken entry between good ones", t8_broken),
    (9, "file deleted and created again", t9_delete),
    (10, "saved by rename", t10_rename),
    (11, "sessions quit", t11_quit),
]

if __name__ == "__main__":
    sys.exit(H.main(TESTS))
