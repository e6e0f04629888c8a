#!/usr/bin/env bash
# Drives rserver --test-config, --print-config and --print-profile through
# the real binary: the sample files in etc/, a directory with one error of
# every kind, the admin guide's example profile, and the --print-config
# round trip. Needs RSERVER, DATA and ETC in the environment (set by ctest).
set -uo pipefail
: "${RSERVER:?}" "${DATA:?}" "${ETC:?}"

passed=0 failed=0
tmp=$(mktemp -d /tmp/rs-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '     %s\n' "$@"; }

# expect_line NAME FILE TEXT: FILE has a line equal to TEXT.
expect_line() {
	if grep -qxF -- "$3" "$2"; then ok "$1"; else fail "$1" "missing line: $3" "--- got:" "$(cat "$2")"; fi
}
# expect_status NAME WANT GOT
expect_status() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "exit status $3, want $2"; fi
}

# 1. The shipped samples are valid and document every key with its default.
"$RSERVER" --config-dir "$ETC" --test-config >"$tmp/out" 2>&1
expect_status "etc/ passes --test-config" 0 $?
expect_line "etc/ reports OK" "$tmp/out" "$ETC: configuration OK (0 warnings)"

"$RSERVER" --config-dir "$ETC" --print-config >"$tmp/etc.print" 2>"$tmp/err"
expect_status "etc/ --print-config" 0 $?
missing=""
file=""
while IFS= read -r line; do
	case "$line" in
	"# file: "*) file=${line#\# file: } ;;
	"" | "["*) ;;
	# The one computed default (UID_MIN of this host's login.defs).
	auth-minimum-user-id=*) grep -q '^#auth-minimum-user-id=' "$ETC/$file" || missing="$missing $line" ;;
	*=*) grep -qxF -- "#${line}" "$ETC/$file" || missing="$missing $file:#$line" ;;
	esac
done <"$tmp/etc.print"
if [ -z "$missing" ]; then ok "etc/ samples list every key as '#key=default'"; else
	fail "etc/ samples list every key as '#key=default'" "missing:$missing"; fi

"$RSERVER" --config-dir "$ETC" --print-profile=root >"$tmp/out" 2>&1
expect_status "etc/ --print-profile=root" 0 $?

# 2. Every problem, with file:line, in one run; exit 1.
"$RSERVER" --config-dir "$DATA/broken" --test-config >"$tmp/out" 2>&1
expect_status "broken/ fails --test-config" 1 $?
b="$DATA/broken"
expect_line "port out of range" "$tmp/out" \
	"$b/rserver.conf:2: error: www-port: 70000 is out of range (allowed 1..65535)"
expect_line "did you mean" "$tmp/out" \
	"$b/rserver.conf:3: error: unknown key 'www-prot' (did you mean 'www-port'?)"
expect_line "bad bool" "$tmp/out" \
	"$b/rserver.conf:4: error: ssl-enabled: 'yes' is not a boolean (expected 0 or 1)"
expect_line "relative path" "$tmp/out" \
	"$b/rserver.conf:5: error: server-data-dir: 'run/rstudio' is not an absolute path"
expect_line "given twice" "$tmp/out" \
	"$b/rserver.conf:7: warning: 'www-address' is also set on line 6; this later value wins"
expect_line "rsession.conf range" "$tmp/out" \
	"$b/rsession.conf:1: error: session-timeout-minutes: -5 is out of range (allowed 0..525600)"
expect_line "rsession.conf enum" "$tmp/out" \
	"$b/rsession.conf:2: error: session-save-action-default: 'maybe' is not one of ask|yes|no"
expect_line "database provider" "$tmp/out" \
	"$b/database.conf:1: error: provider: 'postgresql' is not one of sqlite"
expect_line "logging level" "$tmp/out" \
	"$b/logging.conf:2: error: log-level: 'loud' is not one of debug|info|warn|error"
if grep -q "^$b/profiles:2: error: .*cpu-affinity" "$tmp/out" &&
	grep -q "^$b/profiles:3: error: .*nice" "$tmp/out"; then ok "profiles errors with file:line"; else
	fail "profiles errors with file:line" "$(cat "$tmp/out")"; fi
if grep -q "^$b/notifications.conf:2: warning: .*month 13" "$tmp/out"; then
	ok "notification warning with file:line"; else
	fail "notification warning with file:line" "$(cat "$tmp/out")"; fi
expect_line "summary" "$tmp/out" "$b: configuration has 10 errors and 2 warnings"

# A broken config refuses --print-config and --print-profile.
"$RSERVER" --config-dir "$b" --print-config >/dev/null 2>&1
expect_status "broken/ refuses --print-config" 1 $?
"$RSERVER" --config-dir "$b" --print-profile=root >/dev/null 2>&1
expect_status "broken/ refuses --print-profile" 1 $?

# 3. Command-line overrides win over files and are checked like them.
mkdir -p "$tmp/over"
echo "www-port=9000" >"$tmp/over/rserver.conf"
"$RSERVER" --config-dir "$tmp/over" --www-port=9100 --session-timeout-minutes=0.05 \
	--print-config >"$tmp/out" 2>&1
expect_line "override www-port" "$tmp/out" "www-port=9100"
expect_line "override decimal timeout" "$tmp/out" "session-timeout-minutes=0.05"
"$RSERVER" --config-dir "$tmp/over" --www-prot=1 --test-config >"$tmp/out" 2>&1
expect_status "unknown override refused" 1 $?
expect_line "unknown override suggests" "$tmp/out" \
	"command line: error: unknown option '--www-prot' (did you mean '--www-port'?)"
"$RSERVER" --config-dir "$tmp/over" --ssl-enabled=1 --test-config >"$tmp/out" 2>&1
expect_line "ssl needs a certificate" "$tmp/out" \
	"command line: error: ssl-enabled=1 needs ssl-certificate to be set"
RSTUDIO_CONFIG_DIR="$tmp/over" "$RSERVER" --print-config >"$tmp/out" 2>&1
expect_line "RSTUDIO_CONFIG_DIR" "$tmp/out" "www-port=9000"
"$RSERVER" --bogus >/dev/null 2>&1
expect_status "usage error exits 2" 2 $?

# 4. --print-config re-parses to identical settings.
mkdir -p "$tmp/a" "$tmp/b"
cat >"$tmp/a/rserver.conf" <<'CONF'
www-port=8080
www-address=127.0.0.1
auth-timeout-minutes=0.5
rsession-exec-command=/usr/bin/nice -n 10
auth-required-user-group=rusers
CONF
printf 'session-timeout-minutes=0.05\nsession-timeout-kill-hours=2.5\n' >"$tmp/a/rsession.conf"
printf '[*]\nlog-level=debug\n[@rserver]\nlog-message-format=json\n' >"$tmp/a/logging.conf"
"$RSERVER" --config-dir "$tmp/a" --print-config >"$tmp/a.print"
awk -v dir="$tmp/b" '/^# file: /{f=dir "/" $3; next} {print > f}' "$tmp/a.print"
"$RSERVER" --config-dir "$tmp/b" --test-config >"$tmp/out" 2>&1
expect_status "printed config is valid" 0 $?
expect_line "printed config has no warnings" "$tmp/out" "$tmp/b: configuration OK (0 warnings)"
"$RSERVER" --config-dir "$tmp/b" --print-config >"$tmp/b.print"
if cmp -s "$tmp/a.print" "$tmp/b.print"; then ok "--print-config round trip"; else
	fail "--print-config round trip" "$(diff "$tmp/a.print" "$tmp/b.print")"; fi

# 5. --print-profile explains where each value comes from.
user=$(id -un)
group=$(id -gn)
mkdir -p "$tmp/p"
cp "$DATA/guide/profiles" "$DATA/guide/notifications.conf" "$DATA/guide/rsession.conf" "$tmp/p/"
cat >>"$tmp/p/profiles" <<PROF

[@$group]
nice = 5
max-open-files = 4096
session-timeout-minutes = 0.05
PROF
"$RSERVER" --config-dir "$tmp/p" --test-config >"$tmp/out" 2>&1
expect_status "guide example passes --test-config" 0 $?
"$RSERVER" --config-dir "$tmp/p" --print-profile="$user" >"$tmp/out" 2>&1
expect_status "--print-profile=$user" 0 $?
expect_line "profile header" "$tmp/out" "[$user]"
expect_line "affinity from [*]" "$tmp/out" "cpu-affinity=1-4"
expect_line "affinity origin" "$tmp/out" "# $tmp/p/profiles:3 [*]"
expect_line "nice from group" "$tmp/out" "nice=5"
expect_line "nice origin" "$tmp/out" "# $tmp/p/profiles:16 [@$group]"
expect_line "max-processes from [*]" "$tmp/out" "max-processes=800"
expect_line "timeout from group" "$tmp/out" "session-timeout-minutes=0.05"
expect_line "kill timeout from rsession.conf" "$tmp/out" "session-timeout-kill-hours=0"
expect_line "unset r-version" "$tmp/out" \
	"# r-version: not set: the default R (rsession-which-r, else R on PATH)"
"$RSERVER" --config-dir "$tmp/p" --print-profile=no-such-user-rs >"$tmp/out" 2>&1
expect_status "--print-profile unknown user" 1 $?
expect_line "unknown user message" "$tmp/out" "rserver: no such user 'no-such-user-rs'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
