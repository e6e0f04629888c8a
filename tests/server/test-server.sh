#!/usr/bin/env bash
# Drives the real rserver as root: start-up refusals, the privilege split
# (network process as server-user, monitor as root), /health-check and
# /__ping__, malformed requests answered with 4xx and no crash, and a clean
# SIGTERM. Creates a throwaway server user and removes it (and everything
# else it made) on exit, even on failure. Skips when not root.
set -uo pipefail
: "${RSERVER:?}"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP test-server: needs root (throwaway users, privilege drop)"
	echo "0 passed, 0 failed"
	exit 0
fi

passed=0 failed=0
tmp=$(mktemp -d /tmp/rs-srv-XXXXXX)
chmod 755 "$tmp" # the server user reaches its state directory in it
srv_user="rs_srv_$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	userdel "$srv_user" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# Writing to a connection the server refused must fail, not kill the test.
trap "" PIPE

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '     %s\n' "$@"; }
check() { # NAME WANT GOT
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$3', want '$2'"; fi
}

useradd -r -M -s /usr/sbin/nologin "$srv_user" || exit 1
srv_uid=$(id -u "$srv_user")

# A free port on loopback.
port=$((20000 + $$ % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

conf="$tmp/conf"
mkdir -p "$conf"
cat >"$conf/rserver.conf" <<CONF
www-address=127.0.0.1
www-port=$port
server-user=$srv_user
server-data-dir=$tmp/data
CONF
echo "secure-cookie-key-file=$tmp/keys/secure-cookie-key" >>"$conf/rserver.conf"
printf 'directory=%s/db\n' "$tmp" >"$conf/database.conf"
url="http://127.0.0.1:$port"

# Starts rserver in the background, waits until it answers; sets $pid.
curl_opts=()
start() {
	"$RSERVER" --config-dir "$conf" "$@" >>"$tmp/log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do
		curl -s "${curl_opts[@]}" -o /dev/null "$url/health-check" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# 1. Refusals before anything is served.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$RSERVER" --config-dir "$conf" 2>&1)
check "refuses to start as non-root: exit" 1 "$?"
case "$out" in *"must start as root"*) ok "non-root message" ;; *) fail "non-root message" "$out" ;; esac
out=$("$RSERVER" --config-dir "$conf" --server-user=rs_no_such_user_$$ 2>&1)
check "missing server-user: exit" 1 "$?"
case "$out" in *"does not exist; create it with: useradd"*) ok "missing server-user says how to create it" ;;
*) fail "missing server-user says how to create it" "$out" ;; esac
out=$("$RSERVER" --config-dir "$conf" --www-port=99999 2>&1)
check "bad value: exit" 1 "$?"
case "$out" in *"www-port: 99999 is out of range"*) ok "bad value refuses with the reason" ;;
*) fail "bad value refuses with the reason" "$out" ;; esac

# 2. Serving, as server-user, with a root monitor.
if start; then ok "starts and answers"; else fail "starts and answers" "$(cat "$tmp/log")"; fi
check "health-check" "200 ok" "$(curl -s -w '%{http_code} ' -o "$tmp/body" "$url/health-check"; cat "$tmp/body" | tr -d '\n')"
check "__ping__" "200 {}" "$(curl -s -w '%{http_code} ' -o "$tmp/body" "$url/__ping__"; cat "$tmp/body")"
check "unknown route" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$url/no/such/route")"
check "network process runs as server-user" "$srv_uid $srv_uid $srv_uid $srv_uid" \
	"$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")"
monitor=$(pgrep -P "$pid" | head -1)
check "monitor runs as root" "0 0 0 0" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$monitor/status" 2>/dev/null)"
# A non-dumpable process's /proc files belong to root, not to its uid: the
# server user's other processes cannot read its memory or environment.
check "network process is not dumpable" "0" "$(stat -c %u "/proc/$pid/environ")"
check "database directory belongs to server-user, 0711 (searchable for session-tmp)" "$srv_uid 711" "$(stat -c '%u %a' "$tmp/db")"
check "database file belongs to server-user, 0600" "$srv_uid 600" "$(stat -c '%u %a' "$tmp/db/rstudio.sqlite")"
check "cookie key created 0600, root's, 32 bytes" "0 600 32" "$(stat -c '%u %a %s' "$tmp/keys/secure-cookie-key")"
headers=$(curl -s -D - -o /dev/null "$url/__ping__")
case "$headers" in *"x-content-type-options: nosniff"*) ok "security headers" ;; *) fail "security headers" "$headers" ;; esac

# 3. Malformed requests get 4xx (or a closed connection), never a crash.
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$url/health-check")
case "$code" in 4*|000) ok "oversized headers refused ($code)" ;; *) fail "oversized headers refused" "got $code" ;; esac
reply=$( (printf 'GARBAGE / HTTP/9.9\r\n\r\n'; sleep 0.3) | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3 & head -c 12 <&3" 2>/dev/null)
case "$reply" in "" | "HTTP/1.1 4"*) ok "garbage request line refused (${reply:-closed})" ;; *) fail "garbage request line" "$reply" ;; esac
# At most 64 open connections from one address: the 65th is closed at
# once, and a slot frees when a connection closes.
fds=()
for i in $(seq 64); do exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds+=("$fd"); done
check "64 connections from one address accepted" 64 "${#fds[@]}"
sleep 0.3
exec {extra}<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /__ping__ HTTP/1.1\r\nHost: x\r\n\r\n' >&"$extra" 2>/dev/null
reply=$(timeout 3 head -c 12 <&"$extra" 2>/dev/null)
exec {extra}>&-
check "the 65th is closed" "" "$reply"
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 0.3
check "closed connections free their slots" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/__ping__")"
# Offline mode: an offline file in the state directory (the database
# directory) turns user routes into 503 with its message; health checks stay.
printf 'Back at 14:00 <b>sharp</b>\n' >"$tmp/db/offline"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$url/auth-sign-in")
check "offline: sign-in page is 503" 503 "$code"
grep -q 'Back at 14:00 &lt;b&gt;sharp&lt;/b&gt;' "$tmp/body" && ok "offline page shows the escaped message" ||
	fail "offline page shows the escaped message" "$(cat "$tmp/body")"
check "offline: health-check still 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/health-check")"
check "offline: sign-in POST is 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' --data 'a=b' "$url/auth-do-sign-in")"
rm "$tmp/db/offline"
check "back online without a restart" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/auth-sign-in")"
check "still serving after malformed requests" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/health-check")"
check "network process survived" 0 "$(kill -0 "$pid" 2>/dev/null; echo $?)"

# 4. SIGTERM stops rserver (and its monitor) promptly.
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then fail "SIGTERM stops rserver" "still running"; else ok "SIGTERM stops rserver"; fi
wait "$pid"
check "rserver exits 0 after SIGTERM" 0 "$?"
for _ in $(seq 100); do kill -0 "$monitor" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$monitor" 2>/dev/null; then fail "monitor exits with it" "pid $monitor still running"; else ok "monitor exits with it"; fi
grep -q "stopping; sessions keep running" "$tmp/log" && ok "stop is logged" || fail "stop is logged" "$(cat "$tmp/log")"
# In the sanitizer build, any report lands in the log.
if grep -q "Sanitizer" "$tmp/log"; then fail "no sanitizer reports" "$(cat "$tmp/log")"; else ok "no sanitizer reports"; fi

# 5. TLS with a throwaway self-signed certificate: TLS 1.2+, Secure cookies,
# no plain HTTP on the TLS port.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" \
	-days 1 -subj /CN=localhost >/dev/null 2>&1
chmod 600 "$tmp/tls.key"
url_plain=$url
url="https://localhost:$port"
curl_opts=(--cacert "$tmp/tls.crt")
if start --ssl-enabled=1 --ssl-certificate="$tmp/tls.crt" --ssl-certificate-key="$tmp/tls.key"; then
	ok "starts with TLS"
else
	fail "starts with TLS" "$(tail -5 "$tmp/log")"
fi
check "health-check over TLS" 200 "$(curl -s --cacert "$tmp/tls.crt" -o /dev/null -w '%{http_code}' "$url/health-check")"
check "TLS 1.1 refused" 000 "$(curl -s -k --tls-max 1.1 -o /dev/null -w '%{http_code}' "$url/health-check")"
check "plain HTTP on the TLS port refused" 000 "$(curl -s -o /dev/null -w '%{http_code}' "$url_plain/health-check")"
cookie=$(curl -s --cacert "$tmp/tls.crt" -D - -o /dev/null "$url/auth-sign-in" | grep -i '^set-cookie: rs-csrf-token')
case "$cookie" in *"; Secure"*) ok "cookies are Secure under TLS" ;; *) fail "cookies are Secure under TLS" "$cookie" ;; esac
kill -TERM "$pid"
wait "$pid"
check "TLS rserver exits 0" 0 "$?"
url=$url_plain
curl_opts=()

# 6. logging.conf applies to rserver and to its monitor: with JSON output
# every line either writes is one JSON object.
printf '[*]\nlog-message-format=json\nlog-level=info\n' >"$conf/logging.conf"
before=$(wc -l <"$tmp/log")
if start; then ok "starts with JSON logging"; else fail "starts with JSON logging" "$(tail -5 "$tmp/log")"; fi
kill -TERM "$pid"
wait "$pid"
sleep 0.2
tail -n +"$((before + 1))" "$tmp/log" >"$tmp/json.log"
bad=$(grep -v '^{"time":"[0-9T:.-]*Z","program":"rserver\(-monitor\)\{0,1\}","pid":[0-9]*,"level":"[A-Z]*","message":".*","file":"[^"]*","line":[0-9]*,"function":"[^"]*"}$' "$tmp/json.log")
if [ -s "$tmp/json.log" ] && [ -z "$bad" ]; then ok "every log line is a JSON object"; else
	fail "every log line is a JSON object" "$bad"; fi
grep -q '"program":"rserver-monitor"' "$tmp/json.log" && ok "the monitor follows logging.conf" ||
	fail "the monitor follows logging.conf" "$(cat "$tmp/json.log")"
rm "$conf/logging.conf"

# 7. A cookie key others can read refuses start-up, naming the file.
chmod 644 "$tmp/keys/secure-cookie-key"
out=$(timeout 20 "$RSERVER" --config-dir "$conf" 2>&1)
check "readable cookie key: exit" 1 "$?"
case "$out" in *"secure-cookie-key-file: "*"mode 0644"*) ok "readable cookie key is named" ;;
*) fail "readable cookie key is named" "$out" ;; esac
chmod 600 "$tmp/keys/secure-cookie-key"

# 8. A database that is not sqlite refuses start-up, naming the problem.
rm -f "$tmp/db/rstudio.sqlite-wal" "$tmp/db/rstudio.sqlite-shm"
head -c 8192 /dev/urandom >"$tmp/db/rstudio.sqlite"
out=$(timeout 20 "$RSERVER" --config-dir "$conf" 2>&1)
check "corrupt database: exit" 1 "$?"
case "$out" in *"Database: "*) ok "corrupt database is named" ;; *) fail "corrupt database is named" "$out" ;; esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
