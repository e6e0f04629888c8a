#!/usr/bin/env python3
"""Draw scripts/bench's JSON results as PNG plots, with gnuplot.

Usage: python3 bench/plot.py [--keep-scripts] RESULTS_DIR OUT_DIR

It reads these files in RESULTS_DIR; a plot whose file is missing, or holds
none of the data it draws, is skipped with a note on stderr:

  machine.json     nproc, cpu, memory, kernel, r: the subtitle of every plot
  launch.json      samples_ms.{ours, post_to_prompt, rsession_standalone,
                   plain_r}: lists of milliseconds            -> launch.png
  scale.json       sessions.curve[].{running, rserver_kb, monitor_kb,
                   launchers_kb, rsessions_kb, launchers, rsessions, t}
                   websockets.curve[].{connections, rserver_kb} -> scale.png
  suspend.json     sizes.<N>MB.{mb, suspend_ms, save_fsync_ms, save_ms,
                   resume_ms, start_load_ms}: lists of ms     -> suspend.png
  throughput.json  sizes.<N>MB.{ours_mb_s, direct_mb_s, nginx_mb_s}: lists
                   of MB/s                                    -> throughput.png

It writes OUT_DIR/<name>.png (and the gnuplot script OUT_DIR/<name>.gp with
--keep-scripts) and prints the paths of the PNGs it wrote.  Exit status: 0 if
at least one plot was made, 1 if none was or gnuplot failed, 2 on a usage
error.  Standard library only; needs gnuplot (pngcairo, else png).
"""

import json
import math
import os
import re
import statistics
import subprocess
import sys

WIDTH, HEIGHT = 900, 540
TOP = 0.86  # top of the plot area, in screen units: the title and subtitle sit above it
SUBTITLE_MAX = 140  # characters of the machine line that fit across the image

BLUE, LIGHT_BLUE, ORANGE, GREEN = "#1f4e9c", "#5b9bd5", "#e07b1a", "#3d8b3d"
PURPLE, GREY = "#8e44ad", "#555555"


class Skip(Exception):
    """A plot can't be drawn from these results; the message says why."""


def note(message):
    sys.stderr.write("plot: %s\n" % message)


def fail(message):
    note(message)
    sys.exit(1)


# ---- reading the results ----


def load(results, name):
    """The parsed RESULTS_DIR/<name>.json, or None if it is absent."""
    path = os.path.join(results, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Skip("%s: unreadable (%s)" % (path, e))


def load_or_skip(results, name):
    """Like load, but a missing file skips the plot."""
    data = load(results, name)
    if data is None:
        raise Skip("%s.json: not in %s" % (name, results))
    return data


def dig(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing or not a dict."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def number(v):
    """v as a finite float, or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def numbers(v):
    """The finite numbers of list v (anything else counts as empty)."""
    if not isinstance(v, list):
        return []
    return [x for x in map(number, v) if x is not None]


def spread(values):
    """(median, min, max) of a non-empty list."""
    return statistics.median(values), min(values), max(values)


def runs_text(counts):
    """How many runs a plot's numbers come from: "15", or "3–5" when it varies."""
    lo, hi = min(counts), max(counts)
    return "%d" % lo if lo == hi else "%d–%d" % (lo, hi)


def size_mb(key, entry):
    """A workspace or output size in MB: entry["mb"], else parsed from a key like "500MB" or "2GB"."""
    mb = number(dig(entry, "mb"))
    if mb:
        return mb
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MG]i?B)?\s*", key, re.I)
    if not m:
        return None
    return float(m.group(1)) * (1024 if (m.group(2) or "").upper().startswith("G") else 1)


def sized(data):
    """[(MB, entry)] of data["sizes"], smallest first, leaving out keys that give no size."""
    sizes = dig(data, "sizes")
    if not isinstance(sizes, dict):
        return []
    out = [(size_mb(k, e), e) for k, e in sizes.items() if isinstance(e, dict)]
    return sorted(((mb, e) for mb, e in out if mb and mb > 0), key=lambda s: s[0])


def machine_line(results):
    """One line describing the machine, from machine.json ("" if there is none)."""
    try:
        m = load(results, "machine")
    except Skip as e:
        note(str(e))
        return ""
    if not isinstance(m, dict):
        note("machine.json: missing or not an object, so the plots have no machine line")
        return ""
    parts = []
    if m.get("nproc") is not None:
        parts.append("%s CPU%s" % (m["nproc"], "" if m["nproc"] == 1 else "s"))
    for key in ("cpu", "memory"):
        if m.get(key):
            parts.append(str(m[key]))
    if m.get("kernel"):
        parts.append("Linux %s" % m["kernel"])
    if m.get("r"):
        parts.append(str(m["r"]).split(" -- ")[0])  # without the release's nickname
    line = "Machine: " + ", ".join(parts)
    return line if len(line) <= SUBTITLE_MAX else line[:SUBTITLE_MAX - 1] + "…"


# ---- writing gnuplot ----


def q(text):
    """text as a gnuplot single-quoted string (no escapes but '')."""
    return "'" + str(text).replace("'", "''") + "'"


def fmt(v):
    return "NaN" if v is None else "%.10g" % v


def datablock(name, rows):
    """An inline gnuplot data block $name, one row of numbers per line."""
    lines = [" ".join(fmt(v) for v in row) for row in rows]
    return "$%s << EOD\n%s\nEOD\n" % (name, "\n".join(lines))


def header(title, subtitle):
    """Title and machine line above the plot area, centred on the image."""
    out = ["set label 901 %s at screen 0.5, screen 0.955 center font ',14'" % q(title)]
    if subtitle:
        out.append("set label 902 %s at screen 0.5, screen 0.905 center font ',9' textcolor rgb %s"
                   % (q(subtitle), q(GREY)))
    return "\n".join(out) + "\n"


def terminal():
    """The best PNG terminal this gnuplot has, with its size and font."""
    try:
        p = subprocess.run(["gnuplot", "-e", "set terminal"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail("gnuplot: %s" % e)
    if re.search(r"^\s*pngcairo\s", p.stdout, re.M):
        return "pngcairo size %d,%d noenhanced font 'DejaVu Sans,10'" % (WIDTH, HEIGHT)
    if re.search(r"^\s*png\s", p.stdout, re.M):
        return "png size %d,%d noenhanced font ',10'" % (WIDTH, HEIGHT)
    fail("gnuplot has neither the pngcairo nor the png terminal")


def preamble(term, png):
    return ("set terminal %s\nset output %s\nset encoding utf8\n"
            "set border lw 1 lc rgb '#444444'\nset grid lc rgb '#dddddd' lt 1\n"
            "set tmargin at screen %g\n" % (term, q(os.path.abspath(png)), TOP))


def render(term, out_dir, name, body, keep):
    """Run gnuplot on body, writing OUT_DIR/<name>.png; exit 1 if gnuplot fails."""
    png = os.path.join(out_dir, name + ".png")
    script = preamble(term, png) + body + "unset output\n"
    if keep:
        with open(os.path.join(out_dir, name + ".gp"), "w") as f:
            f.write(script)
    try:
        p = subprocess.run(["gnuplot"], input=script, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail("gnuplot on %s: %s" % (name, e))
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        if os.path.exists(png):
            os.remove(png)
        fail("gnuplot failed on %s (exit %d)" % (name, p.returncode))
    if p.stderr.strip():
        sys.stderr.write("%s: gnuplot says:\n%s" % (name, p.stderr))
    return png


# ---- 1. launch latency ----

LAUNCH_SERIES = [  # key in samples_ms, legend, colour
    ("ours", "rserver: sign-in POST → first prompt", BLUE),
    ("post_to_prompt", "rserver: POST /api/sessions → first prompt", LIGHT_BLUE),
    ("rsession_standalone", "rsession standalone: exec → first prompt", ORANGE),
    ("plain_r", "plain R --vanilla: exec → first prompt", GREEN),
]
TARGET = 1.25  # rserver's launch may take this times the standalone rsession's median


def ecdf(values):
    """Rows (x, fraction of runs <= x) for a step plot that starts at 0."""
    xs = sorted(values)
    return [(xs[0], 0.0)] + [(x, (i + 1) / len(xs)) for i, x in enumerate(xs)]


def plot_launch(results, subtitle):
    samples = dig(load_or_skip(results, "launch"), "samples_ms")
    series = [(key, title, colour, numbers(dig(samples, key))) for key, title, colour in LAUNCH_SERIES]
    series = [s for s in series if s[3]]
    if not series:
        raise Skip("launch.json: no samples_ms for ours, post_to_prompt, rsession_standalone or plain_r")
    body, plots = "", []
    everything = [v for s in series for v in s[3]]
    for key, title, colour, values in series:
        body += datablock(key, ecdf(values))
        plots.append("$%s using 1:2 with steps lw 2 lc rgb %s title %s"
                     % (key, q(colour), q("%s (median %.0f ms)" % (title, statistics.median(values)))))
    direct = numbers(dig(samples, "rsession_standalone"))
    if direct:
        target = TARGET * statistics.median(direct)
        everything.append(target)
        body += datablock("target", [(target, 0), (target, 1)])
        plots.append("$target using 1:2 with lines dt 2 lw 1.5 lc rgb 'black' title %s"
                     % q("target: %.2f × rsession standalone's median = %.0f ms" % (TARGET, target)))
    lo, hi = min(everything), max(everything)
    pad = max(5.0, (hi - lo) * 0.05)
    runs = runs_text([len(s[3]) for s in series])
    body += header("Session launch latency (%s runs each)" % runs, subtitle)
    body += ("set xlabel 'time to the first prompt (ms)'\nset ylabel 'fraction of runs'\n"
             "set xrange [%g:%g]\nset yrange [0:1.02]\nset ytics 0.2\n"
             "set key below center Left reverse\n" % (math.floor(lo - pad), math.ceil(hi + pad)))
    return body + "plot " + ", \\\n     ".join(plots) + "\n"


# ---- 2. memory vs sessions and connections ----

SCALE_SERIES = [  # key in sessions.curve[], count key, legend, colour
    ("rserver_kb", None, "rserver (network process)", BLUE),
    ("monitor_kb", None, "monitor", GREEN),
    ("launchers_kb", "launchers", "all rsession-launchers together", PURPLE),
    ("rsessions_kb", "rsessions", "all rsessions together", ORANGE),
]
LOG_ABOVE = 100  # a log y axis when the largest value is more than this times the smallest


def curve(data, part):
    """The points of data[part]["curve"] that are dicts, in time order if they all have a time."""
    points = dig(data, part, "curve")
    points = [p for p in points if isinstance(p, dict)] if isinstance(points, list) else []
    if all(number(p.get("t")) is not None for p in points):
        points.sort(key=lambda p: p["t"])
    return points


def mib(point, key):
    kb = number(point.get(key))
    return None if kb is None else kb / 1024


def sessions_panel(points):
    """The left panel, memory of each kind of process against running sessions: (script, key lines)."""
    rows = [[number(p.get("running"))] + [mib(p, key) for key, *_ in SCALE_SERIES] for p in points]
    rows = [r for r in rows if r[0] is not None]
    shown = [i for i in range(len(SCALE_SERIES)) if any((r[i + 1] or 0) > 0 for r in rows)]
    if not shown:
        return None, 0
    positive = [r[i + 1] for r in rows for i in shown if (r[i + 1] or 0) > 0]
    log = max(positive) > LOG_ABOVE * min(positive)
    if log:  # a log axis can't show zeros
        rows = [[r[0]] + [v if (v or 0) > 0 else None for v in r[1:]] for r in rows]
    body = datablock("sessions", rows)
    plots = []
    for i in shown:
        key, count_key, title, colour = SCALE_SERIES[i]
        counts = [c for c in (number(p.get(count_key)) for p in points) if c is not None] if count_key else []
        if counts:
            title += " (%d at the end)" % counts[-1]
        plots.append("$sessions using 1:%d with linespoints lw 2 pt 7 ps 0.5 lc rgb %s title %s"
                     % (i + 2, q(colour), q(title)))
    body += "set title 'Sessions starting together' font ',11'\n"
    body += "set xlabel 'running sessions'\n"
    if log:
        body += "set logscale y\nset ylabel 'resident memory, RSS (MiB, log scale)'\nset yrange [*:*]\n"
    else:
        body += "unset logscale y\nset ylabel 'resident memory, RSS (MiB)'\nset yrange [0:*]\n"
    body += "set xrange [0:*]\n"
    return body + "plot " + ", \\\n     ".join(plots) + "\n", len(plots)


def websockets_panel(points):
    """The right panel, rserver's memory against open WebSocket connections: (script, key lines)."""
    rows = [(number(p.get("connections")), mib(p, "rserver_kb")) for p in points]
    rows = [r for r in rows if r[0] is not None and r[1] is not None]
    if not rows:
        return None, 0
    return (datablock("websockets", rows)
            + "set title 'Idle console WebSockets held open' font ',11'\n"
            "unset logscale y\nset xlabel 'open WebSocket connections'\n"
            "set ylabel 'rserver resident memory, RSS (MiB)'\nset xrange [0:*]\nset yrange [0:*]\n"
            "plot $websockets using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb %s "
            "title 'rserver (network process)'\n" % q(BLUE)), 1


PANELS = [(0.09, 0.475), (0.585, 0.975)]  # left and right edges of the two plot areas, in screen units
KEY_LINE = 0.032  # height of one line of a key, in screen units


def place(left, right, key_lines):
    """Plot area from left to right, with room under it for a key this many lines long;
    the x axes of side-by-side panels line up when they get the same key_lines."""
    bottom = 0.11 + KEY_LINE * key_lines
    return ("set lmargin at screen %g\nset rmargin at screen %g\nset tmargin at screen 0.81\n"
            "set bmargin at screen %g\nset key at screen %g, screen %g left top Left reverse\n"
            % (left, right, bottom, left, bottom - 0.095))


def plot_scale(results, subtitle):
    data = load_or_skip(results, "scale")
    panels = [p for p in (sessions_panel(curve(data, "sessions")), websockets_panel(curve(data, "websockets")))
              if p[0]]
    if not panels:
        raise Skip("scale.json: neither sessions.curve nor websockets.curve has points")
    lines = max(n for _, n in panels)
    body = "set multiplot\n" + header("Memory against load", subtitle)
    if len(panels) == 1:
        return body + place(PANELS[0][0], PANELS[1][1], lines) + panels[0][0] + "unset multiplot\n"
    body += place(*PANELS[0], lines) + panels[0][0]
    body += "unset label 901\nunset label 902\n"  # drawn once, with the first panel
    return body + place(*PANELS[1], lines) + panels[1][0] + "unset multiplot\n"


# ---- 3. suspend and resume ----

SUSPEND_SERIES = [  # key in sizes.<N>MB, legend, colour, dash type, point type (open where dashes may not show)
    ("suspend_ms", "rserver suspend", BLUE, 1, 7),
    ("save_fsync_ms", "R save(compress=FALSE) + fsync", ORANGE, 1, 7),
    ("save_ms", "R save(compress=FALSE), no fsync", ORANGE, 2, 6),
    ("resume_ms", "rserver resume (to prompt)", LIGHT_BLUE, 1, 7),
    ("start_load_ms", "R start + load()", GREEN, 1, 7),
]
NUDGE = 1.025  # series sit this factor apart along the log x axis, so their error bars don't overlap


def plot_suspend(results, subtitle):
    sizes = sized(load_or_skip(results, "suspend"))
    body, plots, runs = "", [], []
    present = [s for s in SUSPEND_SERIES if any(numbers(e.get(s[0])) for _, e in sizes)]
    for n, (key, title, colour, dash, point) in enumerate(present):
        rows = []
        for mb, entry in sizes:
            values = numbers(entry.get(key))
            if values:
                runs.append(len(values))
                x = mb * NUDGE ** (n - (len(present) - 1) / 2)
                rows.append((x,) + tuple(v / 1000 for v in spread(values)))
        body += datablock(key, rows)
        plots.append("$%s using 1:2:3:4 with yerrorlines lw 2 dt %d pt %d ps 0.7 lc rgb %s title %s"
                     % (key, dash, point, q(colour), q(title)))
    if not plots:
        raise Skip("suspend.json: no sizes with suspend_ms, save_fsync_ms, save_ms, resume_ms or start_load_ms")
    mbs = sorted({mb for mb, e in sizes if any(numbers(e.get(s[0])) for s in present)})
    tics = ", ".join("%s %g" % (q("%g" % mb), mb) for mb in mbs)
    body += header("Suspend and resume time against workspace size", subtitle)
    body += ("set logscale x\nset xtics (%s)\nunset mxtics\nset xrange [%g:%g]\nset yrange [0:*]\n"
             "set xlabel 'workspace size (MB, log scale)'\n"
             "set ylabel %s\nset key top left Left reverse box lc rgb '#bbbbbb'\n"
             % (tics, mbs[0] / 1.5, mbs[-1] * 1.5,
                q("time (s; median of %s runs, bars: min to max)" % runs_text(runs))))
    return body + "plot " + ", \\\n     ".join(plots) + "\n"


# ---- 4. console output throughput ----

THROUGHPUT_SERIES = [  # key in sizes.<N>MB, legend, colour
    ("ours_mb_s", "rserver: console WebSocket", BLUE),
    ("direct_mb_s", "rsession's socket, read directly", ORANGE),
    ("nginx_mb_s", "nginx stream proxy in front of that socket", GREEN),
]
CLUSTER = 0.8  # width of one size's group of bars, in x units (one per size)


def plot_throughput(results, subtitle):
    sizes = sized(load_or_skip(results, "throughput"))
    present = [s for s in THROUGHPUT_SERIES if any(numbers(e.get(s[0])) for _, e in sizes)]
    sizes = [(mb, e) for mb, e in sizes if any(numbers(e.get(s[0])) for s in present)]
    if not sizes:
        raise Skip("throughput.json: no sizes with ours_mb_s, direct_mb_s or nginx_mb_s")
    width = CLUSTER / len(present)
    body, plots, tops, runs = "", [], [], []
    for n, (key, title, colour) in enumerate(present):
        rows = []
        for i, (mb, entry) in enumerate(sizes):
            values = numbers(entry.get(key))
            if values:
                runs.append(len(values))
                rows.append((i + (n - (len(present) - 1) / 2) * width,) + spread(values))
                tops.append(rows[-1][3])
        body += datablock(key, rows)
        plots += ["$%s using 1:2 with boxes lc rgb %s title %s" % (key, q(colour), q(title)),
                  "'' using 1:3:(0):($4-$3) with vectors heads size screen 0.006,90 lc rgb 'black' lw 1.5 notitle",
                  "'' using 1:4:(sprintf('%.0f', $2)) with labels offset 0,1 notitle"]
    tics = ", ".join("%s %d" % (q("%g MB" % mb), i) for i, (mb, _) in enumerate(sizes))
    body += header("Console output throughput", subtitle)
    body += ("set style fill solid 0.85 noborder\nset boxwidth %g absolute\n"
             "set xtics (%s) scale 0\nset xrange [-0.6:%g]\nset yrange [0:%g]\nset grid noxtics\n"
             "set xlabel 'console output printed per run'\nset ylabel %s\n"
             "set key top left Left reverse\n"
             % (width * 0.9, tics, len(sizes) - 0.4, max(tops) * 1.3,
                q("throughput (MB/s; median of %s runs, bars: min to max)" % runs_text(runs))))
    return body + "plot " + ", \\\n     ".join(plots) + "\n"


# ---- main ----

PLOTS = [("launch", plot_launch), ("scale", plot_scale), ("suspend", plot_suspend),
         ("throughput", plot_throughput)]
USAGE = "usage: python3 bench/plot.py [--keep-scripts] RESULTS_DIR OUT_DIR\n"


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    keep = "--keep-scripts" in argv
    args = [a for a in argv if a != "--keep-scripts"]
    if len(args) != 2 or any(a.startswith("-") for a in args):
        sys.stderr.write(USAGE)
        return 2
    results, out_dir = args
    if not os.path.isdir(results):
        sys.stderr.write("plot: %s is not a directory\n%s" % (results, USAGE))
        return 2
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        fail("%s: %s" % (out_dir, e))
    term = terminal()
    subtitle = machine_line(results)
    written = []
    for name, build in PLOTS:
        try:
            body = build(results, subtitle)
        except Skip as e:
            note("skipping %s.png: %s" % (name, e))
            continue
        written.append(render(term, out_dir, name, body, keep))
    for png in written:
        print(png)
    if not written:
        note("no plots made")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
