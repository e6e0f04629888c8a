#!/usr/bin/env bash
# Drives rserver's sign-in flow as root, through its HTTP port and the real
# PAM stack (pam_unix with a service file written for the run): the sign-in
# page and its CSRF cookie, POST /auth-do-sign-in (CSRF, success, wrong
# password, unknown, root and system users, lockout, throttle), the signed
# user-id cookie (attributes, tampering, expiry), open-redirect defence,
# oversized forms, sign-out and revocation that survives a restart.
#
# Creates, and removes on exit even on failure: a throwaway server user, two
# throwaway users with passwords (uid >= 1000), one throwaway system user with
# a password (uid < 1000: refused for its uid, not its password), the PAM
# service /etc/pam.d/rs-si-<pid> (pam_exec logs each authentication, so
# that refusals which must not reach PAM can be told), and a temporary root
# holding the config, data, database and key. Skips when not root.
# KEEP_TMP=1 keeps the temporary root (with rserver's log) for a look.
set -uo pipefail
: "${RSERVER:?}"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP test-signin: needs root (throwaway users, PAM, privilege drop)"
	echo "0 passed, 0 failed"
	exit 0
fi

passed=0 failed=0
tmp=$(mktemp -d /tmp/rs-si-XXXXXX)
# Traversable like /var/lib: the server user reaches its own database dir.
chmod 711 "$tmp"
srv_user="rs_si_srv_$$"
user_a="rs_si_a_$$" user_b="rs_si_b_$$" user_sys="rs_si_sys_$$"
# Characters that must survive form encoding and decoding.
pass_a="Si a&b=c+d%25;$$!" pass_b="Si-b-$$-pw" pass_sys="Si-sys-$$-pw"
no_user="rs_si_none_$$"
pam_svc="rs-si-$$"
pam_file="/etc/pam.d/$pam_svc"
pids=()
users=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for u in "${users[@]}"; do userdel "$u" 2>/dev/null; done
	rm -f "$pam_file"
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap "" PIPE

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '     %s\n' "$@"; }
check() { # NAME WANT GOT [EVIDENCE...]
	local name=$1 want=$2 got=$3
	shift 3
	if [ "$want" = "$got" ]; then ok "$name"; else fail "$name" "got '$got', want '$want'" "$@"; fi
}
# check_cond NAME EVIDENCE COMMAND...: passes when the command succeeds.
check_cond() {
	local name=$1 evidence=$2
	shift 2
	if "$@"; then ok "$name"; else fail "$name" "$evidence"; fi
}

# ---- HTTP helpers ----

# Header NAME's first value in a header block (case-insensitive name).
hdr() { printf '%s\n' "$1" | tr -d '\r' | sed -n "s/^$2:[[:space:]]*//Ip" | head -1; }
# The whole Set-Cookie value for cookie NAME ("" if none).
setcookie() {
	printf '%s\n' "$1" | tr -d '\r' | sed -n 's/^set-cookie:[[:space:]]*//Ip' | grep -- "^$2=" | head -1
}
# The value of a Set-Cookie line (up to the first ';').
sc_value() { local v=${1#*=}; printf '%s' "${v%%;*}"; }
# Whether Set-Cookie line $1 has attribute $2 (exact, case-insensitive: "HttpOnly", "Path=/").
sc_has() { printf '%s\n' "$1" | tr ';' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -qix -- "$2"; }
# The value of attribute $2 of Set-Cookie line $1 ("" if absent).
sc_attr() {
	printf '%s\n' "$1" | tr ';' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' |
		sed -n "s/^$2=//Ip" | head -1
}
# The status of the last response in a header block.
status() { printf '%s\n' "$1" | tr -d '\r' | grep '^HTTP/' | tail -1 | awk '{print $2}'; }
# Query parameter NAME of URL, decoded.
qparam() {
	local q v
	case "$1" in *\?*) q=${1#*\?} ;; *) return 0 ;; esac
	v=$(printf '%s\n' "$q" | tr '&' '\n' | sed -n "s/^$2=//p" | head -1)
	v=${v//+/ }
	printf '%b' "${v//%/\\x}"
}
# The path of a URL, without its query.
qpath() { printf '%s' "${1%%\?*}"; }

# req CURL-ARGS...: one request; sets $code, $headers, $loc and the body
# in $tmp/body. Every Set-Cookie seen is kept in $tmp/set-cookies.
req() {
	headers=$(curl -s -D - -o "$tmp/body" -H 'Expect:' "$@")
	code=$(status "$headers")
	code=${code:-000}
	loc=$(hdr "$headers" location)
	printf '%s\n' "$headers" | tr -d '\r' | grep -i '^set-cookie:' >>"$tmp/set-cookies"
}
# home USER-ID-VALUE: GET / with that cookie (sent by hand; "" for none).
home() {
	if [ -n "$1" ]; then req -H "Cookie: user-id=$1" "$url/"; else req "$url/"; fi
}

# In the page in $tmp/body: the <form>...</form> text on one line.
form_html() { tr '\n\r' '  ' <"$tmp/body" | grep -oiE '<form[^>]*>.*</form>' | head -1; }
# The <input> tag named $1 in text $2.
input_tag() {
	printf '%s\n' "$2" | grep -oiE '<input[^>]*>' | grep -iE "name=[\"']?$1([\"'[:space:]/>]|$)" | head -1
}
# Attribute $2 of tag $1 (unquoted, not HTML-decoded).
tag_attr() {
	printf '%s\n' "$1" | grep -oiE "[[:space:]]$2=(\"[^\"]*\"|'[^']*'|[^[:space:]>\"']+)" | head -1 |
		sed -E "s/^[[:space:]]*[^=]*=//; s/^[\"']//; s/[\"']\$//"
}
# Whether the page in $tmp/body says text $1 (tags dropped, spaces collapsed).
says() { sed 's/<[^>]*>//g' "$tmp/body" | tr -s ' \t\r\n' ' ' | grep -qF -- "$1"; }
# Percent-encodes $1 for a form (every byte but [A-Za-z0-9._~-]).
urlencode() {
	local LC_ALL=C i c out=
	for ((i = 0; i < ${#1}; i++)); do
		c=${1:i:1}
		case "$c" in [A-Za-z0-9._~-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
	done
	printf '%s' "$out"
}
lower() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }

# csrf_of JAR: the rs-csrf-token value in a curl cookie jar (HttpOnly lines
# start with "#HttpOnly_", which awk does not skip).
csrf_of() { awk '$6 == "rs-csrf-token" {print $7}' "$1" | tail -1; }

# signin USER PASS [STAY] [APPURI]: GET /auth-sign-in with a fresh cookie
# jar, then POST /auth-do-sign-in with its token. Sets si_code, si_loc,
# si_uid (user-id value, "" when not set), si_sc (its Set-Cookie line) and
# si_hdrs. appUri is sent only when given.
signin() {
	local jar token
	jar=$(mktemp "$tmp/jar-XXXXXX")
	curl -s -c "$jar" -o /dev/null "$url/auth-sign-in"
	token=$(csrf_of "$jar")
	local args=(--data-urlencode "username=$1" --data-urlencode "password=$2"
		--data-urlencode "rs-csrf-token=$token")
	[ "${3:-}" = 1 ] && args+=(--data-urlencode "staySignedIn=1")
	[ $# -ge 4 ] && args+=(--data-urlencode "appUri=$4")
	si_hdrs=$(curl -s -b "$jar" -D - -o /dev/null -H 'Expect:' "${args[@]}" "$url/auth-do-sign-in")
	printf '%s\n' "$si_hdrs" | tr -d '\r' | grep -i '^set-cookie:' >>"$tmp/set-cookies"
	si_code=$(status "$si_hdrs")
	si_code=${si_code:-000}
	si_loc=$(hdr "$si_hdrs" location)
	si_sc=$(setcookie "$si_hdrs" user-id)
	si_uid=$(sc_value "$si_sc")
	rm -f "$jar"
}
# A one-line summary of the last signin, for failure messages.
si_said() { printf 'status %s, Location: %s, Set-Cookie user-id: %s' "$si_code" "${si_loc:-(none)}" "${si_sc:-(none)}"; }

# expect_refused NAME WANT-ERROR APPURI: the last signin was a 302 to
# /auth-sign-in?error=WANT&appUri=<APPURI encoded> without a user-id cookie.
expect_refused() {
	local name=$1 want=$2 app=$3
	if [ "$si_code" = 302 ] && [ "$(qpath "$si_loc")" = /auth-sign-in ] &&
		[ "$(qparam "$si_loc" error)" = "$want" ] && [ "$(qparam "$si_loc" appUri)" = "$app" ] &&
		[ -z "$si_uid" ]; then
		ok "$name"
	else
		fail "$name" "want 302 to /auth-sign-in?error=$want&appUri=<$app encoded>, no user-id" "$(si_said)"
	fi
}
# expect_signed_in NAME APPURI: the last signin was a 302 to APPURI with a user-id.
expect_signed_in() {
	if [ "$si_code" = 302 ] && [ "$si_loc" = "$2" ] && [ -n "$si_uid" ]; then
		ok "$1"
	else
		fail "$1" "want 302 to '$2' with a user-id cookie" "$(si_said)"
	fi
}
# expect_home_refused NAME: the last home was a 302 to /auth-sign-in?appUri=%2F.
expect_home_refused() {
	check "$1" "302 /auth-sign-in?appUri=%2F" "$code $loc"
}

# ---- setup ----

useradd -r -M -s /usr/sbin/nologin "$srv_user" || exit 1
users+=("$srv_user")
for u in "$user_a" "$user_b"; do
	useradd -M -N -s /bin/bash "$u" || exit 1
	users+=("$u")
	[ "$(id -u "$u")" -ge 1000 ] || { echo "setup: $u got uid $(id -u "$u"), below 1000"; exit 1; }
done
useradd -r -M -N -s /bin/bash "$user_sys" || exit 1
users+=("$user_sys")
[ "$(id -u "$user_sys")" -lt 1000 ] || { echo "setup: system user $user_sys got uid >= 1000"; exit 1; }
printf '%s:%s\n' "$user_a" "$pass_a" "$user_b" "$pass_b" "$user_sys" "$pass_sys" | chpasswd || exit 1
id "$no_user" >/dev/null 2>&1 && { echo "setup: $no_user exists"; exit 1; }
# pam_exec first records every authentication PAM is asked for, so that the
# test can tell refusals that never reached PAM.
printf '#!/bin/sh\necho "$PAM_USER" >>%s/pam-calls\n' "$tmp" >"$tmp/pam-log.sh"
chmod 755 "$tmp/pam-log.sh"
: >"$tmp/pam-calls"
printf 'auth     optional   pam_exec.so quiet %s\nauth     required   pam_unix.so nodelay\naccount  required   pam_unix.so\n' \
	"$tmp/pam-log.sh" >"$pam_file" || exit 1
chmod 644 "$pam_file"
# How many times PAM was asked to authenticate USER so far.
pam_calls() { grep -cxF -- "$1" "$tmp/pam-calls"; }

port=$((20000 + ($$ * 7 + 13) % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

stay_days=2
conf="$tmp/conf"
mkdir -p "$conf"
cat >"$conf/rserver.conf" <<CONF
www-address=127.0.0.1
www-port=$port
server-user=$srv_user
server-data-dir=$tmp/data
secure-cookie-key-file=$tmp/keys/secure-cookie-key
session-temp-dir=$tmp/session-tmp
auth-pam-service=$pam_svc
auth-sign-in-throttle-seconds=0
auth-stay-signed-in-days=$stay_days
CONF
printf 'directory=%s/db\n' "$tmp" >"$conf/database.conf"
url="http://127.0.0.1:$port"
: >"$tmp/set-cookies"

# start [FLAGS...]: starts rserver in the background and waits until it
# serves pages (/health-check answers while it is still starting, with the
# user routes at 503); sets $pid and $monitor.
start() {
	echo "---- start $* ----" >>"$tmp/log"
	"$RSERVER" --config-dir "$conf" "$@" >>"$tmp/log" 2>&1 &
	pid=$!
	pids+=("$pid")
	monitor=
	for _ in $(seq 200); do
		if [ -z "$monitor" ] && curl -s -o /dev/null "$url/health-check"; then
			monitor=$(pgrep -P "$pid" | head -1)
			[ -n "$monitor" ] && pids+=("$monitor")
		fi
		if [ -n "$monitor" ] &&
			[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/auth-sign-in")" != 503 ]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# stop NAME: SIGTERM, then checks that rserver exits 0 within 10 s.
stop() {
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$1: SIGTERM stops rserver" "still running after 10 s"
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		return
	fi
	wait "$pid"
	check "$1: rserver exits 0 after SIGTERM" 0 "$?" "log: $(tail -5 "$tmp/log")"
	for _ in $(seq 100); do kill -0 "$monitor" 2>/dev/null || break; sleep 0.05; done
	if [ -n "$monitor" ] && kill -0 "$monitor" 2>/dev/null; then
		fail "$1: monitor exits with rserver" "pid $monitor still running"
	else
		pids=() # both gone: nothing left to kill, and no reused pid to hit
	fi
}

# ==== 1. First run: lockout after 3 failures, lasting 0.1 min (6 s): wide
# enough that the locked attempt, 2 s after the failures, is well inside it. ====
if start --auth-lockout-attempts=3 --auth-lockout-minutes=0.1; then
	ok "rserver starts"
else
	fail "rserver starts" "$(cat "$tmp/log")"
	echo "$passed passed, $failed failed"
	exit 1
fi

# -- 1a. The sign-in page.
jar="$tmp/jar-page"
req -c "$jar" "$url/auth-sign-in"
check "GET /auth-sign-in: 200" 200 "$code"
ctype=$(hdr "$headers" content-type)
case "$(lower "$ctype")" in text/html*) ok "sign-in page is text/html" ;; *) fail "sign-in page is text/html" "Content-Type: $ctype" ;; esac
form=$(form_html)
ftag=$(printf '%s\n' "$form" | grep -oiE '<form[^>]*>' | head -1)
check "form method is post" post "$(lower "$(tag_attr "$ftag" method)")" "form tag: ${ftag:-(no <form>...</form>)}"
check "form action is /auth-do-sign-in" /auth-do-sign-in "$(tag_attr "$ftag" action)" "form tag: $ftag"
for f in username password staySignedIn appUri rs-csrf-token; do
	[ -n "$(input_tag "$f" "$form")" ] && ok "form has input '$f'" || fail "form has input '$f'" "form: ${form:0:2000}"
done
t=$(input_tag password "$form")
check "password input is type=password" password "$(lower "$(tag_attr "$t" type)")" "$t"
t=$(input_tag staySignedIn "$form")
check "staySignedIn is a checkbox with value 1" "checkbox 1" "$(lower "$(tag_attr "$t" type)") $(tag_attr "$t" value)" "$t"
t=$(input_tag appUri "$form")
check "appUri is hidden" hidden "$(lower "$(tag_attr "$t" type)")" "$t"
t=$(input_tag rs-csrf-token "$form")
check "rs-csrf-token is hidden" hidden "$(lower "$(tag_attr "$t" type)")" "$t"
field_token=$(tag_attr "$t" value)
sc=$(setcookie "$headers" rs-csrf-token)
cookie_token=$(sc_value "$sc")
jar_token=$(csrf_of "$jar")
if [ -n "$cookie_token" ] && [ "$cookie_token" = "$field_token" ] && [ "$cookie_token" = "$jar_token" ]; then
	ok "rs-csrf-token cookie and form field match"
else
	fail "rs-csrf-token cookie and form field match" "Set-Cookie: ${sc:-(none)}" "field: $t" "jar: $jar_token"
fi
check "CSRF token is 43 base64url characters" 1 "$(printf '%s' "$cookie_token" | grep -cE '^[A-Za-z0-9_-]{43}$')" "token: $cookie_token"
check_cond "rs-csrf-token cookie is HttpOnly" "Set-Cookie: $sc" sc_has "$sc" HttpOnly
check_cond "rs-csrf-token cookie is SameSite=Lax" "Set-Cookie: $sc" sc_has "$sc" SameSite=Lax
check_cond "rs-csrf-token cookie has Path=/" "Set-Cookie: $sc" sc_has "$sc" Path=/
! sc_has "$sc" Secure && ok "rs-csrf-token cookie not Secure over plain HTTP" ||
	fail "rs-csrf-token cookie not Secure over plain HTTP" "Set-Cookie: $sc"

# A second visit gets a different token; one carrying a token keeps it.
req "$url/auth-sign-in"
other_token=$(sc_value "$(setcookie "$headers" rs-csrf-token)")
[ -n "$other_token" ] && [ "$other_token" != "$cookie_token" ] && ok "each new visitor gets a new token" ||
	fail "each new visitor gets a new token" "first '$cookie_token', second '$other_token'"
req -H "Cookie: rs-csrf-token=$cookie_token" "$url/auth-sign-in"
t=$(input_tag rs-csrf-token "$(form_html)")
sc=$(setcookie "$headers" rs-csrf-token)
if [ "$(tag_attr "$t" value)" = "$cookie_token" ] && { [ -z "$sc" ] || [ "$(sc_value "$sc")" = "$cookie_token" ]; }; then
	ok "a request carrying rs-csrf-token reuses it"
else
	fail "a request carrying rs-csrf-token reuses it" "sent $cookie_token" "field: $t" "Set-Cookie: ${sc:-(none)}"
fi

# appUri and error are reflected, escaped.
req -G --data-urlencode "appUri=/s/abc/" "$url/auth-sign-in"
t=$(input_tag appUri "$(form_html)")
check "?appUri=/s/abc/ fills the hidden appUri" /s/abc/ "$(tag_attr "$t" value)" "$t"
for e in 1 2 3; do
	case $e in 1) want="Incorrect username or password" ;; 2) want="locked" ;; 3) want="Too many sign-in attempts" ;; esac
	req "$url/auth-sign-in?appUri=%2F&error=$e"
	if [ "$code" = 200 ] && grep -qiF "$want" "$tmp/body"; then ok "error=$e page says '$want'"; else
		fail "error=$e page says '$want'" "status $code" "body: $(head -c 1500 "$tmp/body")"
	fi
done
req "$url/auth-sign-in"
if grep -qiE "Incorrect username|Too many sign-in" "$tmp/body"; then
	fail "no error message without error=" "$(head -c 1500 "$tmp/body")"
else ok "no error message without error="; fi
req -G --data-urlencode 'appUri=/x"><script>alert(1)</script>' --data-urlencode 'error=<script>alert(2)</script>' "$url/auth-sign-in"
if [ "$code" = 200 ] && ! grep -qiE '<script>alert|"><script' "$tmp/body"; then
	ok "appUri and error are HTML-escaped on the page (no reflected script)"
else
	fail "appUri and error are HTML-escaped on the page (no reflected script)" "status $code" \
		"$(grep -oiE '.{0,60}alert.{0,30}' "$tmp/body" | head -3)"
fi

# -- 1b. CSRF: POSTs with the right password but a missing or wrong token.
calls=$(pam_calls "$user_a")
form_ok=(--data-urlencode "username=$user_a" --data-urlencode "password=$pass_a" --data-urlencode "appUri=/")
req "${form_ok[@]}" --data-urlencode "rs-csrf-token=$cookie_token" "$url/auth-do-sign-in"
check "POST without the rs-csrf-token cookie: 403" 403 "$code" "Location: $loc"
req -H "Cookie: rs-csrf-token=$cookie_token" "${form_ok[@]}" "$url/auth-do-sign-in"
check "POST without the rs-csrf-token field: 403" 403 "$code" "Location: $loc"
req -H "Cookie: rs-csrf-token=$cookie_token" "${form_ok[@]}" --data-urlencode "rs-csrf-token=$other_token" "$url/auth-do-sign-in"
check "POST with a mismatched rs-csrf-token: 403" 403 "$code" "Location: $loc"
req -H "Cookie: rs-csrf-token=" "${form_ok[@]}" --data-urlencode "rs-csrf-token=" "$url/auth-do-sign-in"
check "POST with empty cookie and field: 403" 403 "$code" "Location: $loc"
if grep -qi '^set-cookie: *user-id=[^;]' "$tmp/set-cookies"; then
	fail "no user-id cookie from any refused POST" "$(grep -i 'user-id' "$tmp/set-cookies")"
else ok "no user-id cookie from any refused POST"; fi
check "CSRF refusals never reach PAM" "$calls" "$(pam_calls "$user_a")"
signin "$user_a" "$pass_a" "" /
check "PAM is asked once per sign-in" $((calls + 1)) "$(pam_calls "$user_a")"

# -- 1c. Success.
signin "$user_a" "$pass_a" 1 "/s/abc/?x=1"
expect_signed_in "sign-in with staySignedIn: 302 to appUri with user-id" "/s/abc/?x=1"
stay_a=$si_uid
check_cond "user-id is HttpOnly" "Set-Cookie: $si_sc" sc_has "$si_sc" HttpOnly
check_cond "user-id is SameSite=Lax" "Set-Cookie: $si_sc" sc_has "$si_sc" SameSite=Lax
check_cond "user-id has Path=/" "Set-Cookie: $si_sc" sc_has "$si_sc" Path=/
! sc_has "$si_sc" Secure && ok "user-id not Secure over plain HTTP" || fail "user-id not Secure over plain HTTP" "Set-Cookie: $si_sc"
check "staySignedIn: Max-Age = auth-stay-signed-in-days * 86400" $((stay_days * 86400)) "$(sc_attr "$si_sc" Max-Age)" "Set-Cookie: $si_sc"

signin "$user_a" "$pass_a" "" "/"
expect_signed_in "sign-in without staySignedIn: 302 to / with user-id" /
sess_a=$si_uid
check "without staySignedIn: a session cookie (no Max-Age, no Expires)" "" \
	"$(sc_attr "$si_sc" Max-Age)$(sc_attr "$si_sc" Expires)" "Set-Cookie: $si_sc"
signin "$user_a" "$pass_a"
expect_signed_in "sign-in without appUri: 302 to /" /

# -- 1d. GET / with and without a valid cookie.
home "$sess_a"
check "GET / signed in: 200" 200 "$code" "Location: $loc"
ctype=$(hdr "$headers" content-type)
case "$(lower "$ctype")" in text/html*) ok "GET / is text/html" ;; *) fail "GET / is text/html" "Content-Type: $ctype" ;; esac
says "Signed in as $user_a" && ok "GET / says 'Signed in as $user_a'" ||
	fail "GET / says 'Signed in as $user_a'" "$(head -c 1500 "$tmp/body")"
grep -qE "href=[\"']?/auth-sign-out" "$tmp/body" && ok "GET / links to /auth-sign-out" ||
	fail "GET / links to /auth-sign-out" "$(head -c 1500 "$tmp/body")"
home "$stay_a"
check "GET / with the staySignedIn cookie: 200" 200 "$code"
home ""
expect_home_refused "GET / without a cookie: 302 to sign-in"

# Tampering: one character of the MAC, the expiry, the persistence flag;
# another user's name with A's MAC; garbage.
IFS=. read -r f_user f_exp f_flag f_mac <<<"$stay_a"
if [ -n "$f_mac" ]; then
	i=20
	c=${f_mac:i:1}
	[ "$c" = A ] && r=B || r=A
	home "$f_user.$f_exp.$f_flag.${f_mac:0:i}$r${f_mac:i+1}"
	expect_home_refused "tampered MAC (one character): 302 to sign-in"
	last=${f_exp: -1}
	home "$f_user.${f_exp:0:${#f_exp}-1}$(((last + 1) % 10)).$f_flag.$f_mac"
	expect_home_refused "tampered expiry (one digit): 302 to sign-in"
	home "$f_user.$f_exp.$([ "$f_flag" = 1 ] && echo 0 || echo 1).$f_mac"
	expect_home_refused "tampered persistence flag: 302 to sign-in"
	b64b=$(printf '%s' "$user_b" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	home "$b64b.$f_exp.$f_flag.$f_mac"
	expect_home_refused "another user's name with A's MAC: 302 to sign-in"
else
	fail "user-id value has the documented four fields" "value: '$stay_a'"
fi
c=${sess_a:5:1}
[ "$c" = A ] && r=B || r=A
home "${sess_a:0:5}$r${sess_a:6}"
expect_home_refused "tampered user name (one character): 302 to sign-in"
home "garbage"
expect_home_refused "garbage user-id: 302 to sign-in"

# -- 1e. appUri: local paths only.
for bad in "//evil.example/x" "http://evil.example" '/\evil.example' 'evil.example/x' '/\\evil'; do
	signin "$user_a" "$pass_a" "" "$bad"
	expect_signed_in "appUri '$bad' redirects to /" /
done
signin "$user_a" "$pass_a" "" $'/x\r\nSet-Cookie: evil=1'
if printf '%s\n' "$si_hdrs" | tr -d '\r' | grep -qi '^set-cookie: *evil='; then
	fail "CR/LF in appUri cannot inject a header" "$si_hdrs"
elif [ "$si_code" = 302 ] && [ -n "$si_uid" ]; then
	ok "CR/LF in appUri cannot inject a header (Location: $si_loc)"
else
	fail "CR/LF in appUri cannot inject a header" "$(si_said)"
fi

# -- 1f. Refusals: ~2 s each (equalised by the monitor); timing not asserted.
signin "$user_a" "wrong-$pass_a" "" "/s/x/"
expect_refused "wrong password: 302 to sign-in with error=1 and appUri" 1 /s/x/
signin "$no_user" "whatever" "" "/s/x/"
expect_refused "unknown user: error=1" 1 /s/x/
signin root "whatever" "" /
expect_refused "root: error=1" 1 /
signin "$user_sys" "$pass_sys" "" /
expect_refused "system user (uid $(id -u "$user_sys")) with its right password: error=1" 1 /
signin "$user_a" "$pass_a" "" /
expect_signed_in "right password after one failure still signs in" /

# -- 1g. Form bodies: exactly 64 KiB is read, one byte more is refused.
jar="$tmp/jar-big"
curl -s -c "$jar" -o /dev/null "$url/auth-sign-in"
token=$(csrf_of "$jar")
# form_of_size N: A's valid sign-in form padded to exactly N bytes.
form_of_size() {
	local head
	head="rs-csrf-token=$token&username=$user_a&password=$(urlencode "$pass_a")&appUri=%2Fbig%2F&pad="
	printf '%s' "$head"
	head -c $(($1 - ${#head})) /dev/zero | tr '\0' 'a'
}
form_of_size 65536 >"$tmp/form64k"
req -b "$jar" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$tmp/form64k" "$url/auth-do-sign-in"
if [ "$code" = 302 ] && [ "$loc" = /big/ ] && [ -n "$(sc_value "$(setcookie "$headers" user-id)")" ]; then
	ok "a form of exactly 64 KiB is read (signs in)"
else
	fail "a form of exactly 64 KiB is read (signs in)" "status $code, Location: ${loc:-(none)}, Set-Cookie: $(setcookie "$headers" user-id)"
fi
form_of_size 65537 >"$tmp/form64k1"
req -b "$jar" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$tmp/form64k1" "$url/auth-do-sign-in"
case "$code" in 413 | 400) ok "a form of 64 KiB + 1 byte: $code" ;; *) fail "a form of 64 KiB + 1 byte: 413 (or 400)" "status $code, Location: ${loc:-(none)}" ;; esac
{
	printf 'rs-csrf-token=%s&username=%s&password=x&appUri=%%2F&pad=' "$token" "$no_user"
	head -c 70000 /dev/zero | tr '\0' 'a'
} >"$tmp/bigform"
req -b "$jar" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$tmp/bigform" "$url/auth-do-sign-in"
case "$code" in 413 | 400) ok "form body over 64 KiB: $code" ;; *) fail "form body over 64 KiB: 413 (or 400)" "status $code, Location: $loc" ;; esac
check "still serving after the oversized form" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/health-check")"
req -b "$jar" -H 'Content-Type: application/x-www-form-urlencoded' -H 'Transfer-Encoding: chunked' \
	--data-binary @"$tmp/bigform" "$url/auth-do-sign-in"
case "$code" in 4* | 000) ok "chunked form body over 64 KiB refused ($code)" ;; *) fail "chunked form body over 64 KiB refused" "status $code, Location: $loc" ;; esac
check "still serving after the chunked oversized form" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/health-check")"

# -- 1h. Lockout: 3 failures (at once, so that they fall within 3 s whatever
# the refusal delay), then even the right password gets error=2 until the
# 3 s have passed.
lock_pids=()
for i in 1 2 3; do
	(
		signin "$user_b" "wrong-$i" "" /
		printf '%s %s %s\n' "$si_code" "$(qparam "$si_loc" error)" "${si_uid:-none}" >"$tmp/lock$i"
	) &
	lock_pids+=($!)
done
for j in "${lock_pids[@]}"; do wait "$j"; done
got=$(cat "$tmp/lock1" "$tmp/lock2" "$tmp/lock3" 2>/dev/null | sort | tr '\n' ',')
case "$got" in
"302 1 none,302 1 none,302 1 none," | "302 1 none,302 1 none,302 2 none,") ok "3 wrong passwords refused ($got)" ;;
*) fail "3 wrong passwords refused (302 error=1, no user-id)" "got: $got" ;;
esac
signin "$user_b" "$pass_b" "" /s/y/
expect_refused "locked out: the right password gets error=2" 2 /s/y/
signin "$user_a" "$pass_a" "" /
expect_signed_in "another user is not locked out" /
sleep 7
signin "$user_b" "$pass_b" 1 /s/y/
expect_signed_in "after the lockout window the right password works" /s/y/
stay_b=$si_uid

# -- 1i. Sign-out revokes the cookie.
signin "$user_a" "$pass_a" "" /
out_a=$si_uid
home "$out_a"
check "the cookie to sign out works before" 200 "$code"
req -H "Cookie: user-id=$out_a" "$url/auth-sign-out"
check "GET /auth-sign-out: 302 to /auth-sign-in" "302 /auth-sign-in" "$code $(qpath "$loc")" "Location: $loc"
sc=$(setcookie "$headers" user-id)
if [ -n "$sc" ] && [ -z "$(sc_value "$sc")" ] && [ "$(sc_attr "$sc" Max-Age)" = 0 ] && sc_has "$sc" Path=/; then
	ok "sign-out deletes user-id (empty, Max-Age=0, Path=/)"
else
	fail "sign-out deletes user-id (empty, Max-Age=0, Path=/)" "Set-Cookie: ${sc:-(none)}"
fi
home "$out_a"
expect_home_refused "the signed-out cookie is refused (revoked)"
home "$stay_b"
check "another user's cookie still works after a sign-out" 200 "$code"
req "$url/auth-sign-out"
check "GET /auth-sign-out without a cookie: 302 to /auth-sign-in" "302 /auth-sign-in" "$code $(qpath "$loc")"

check "network process survived" 0 "$(kill -0 "$pid" 2>/dev/null; echo $?)"
stop "first run"

# ==== 2. Restarted: revocation and other cookies persist. ====
if start; then ok "restarts"; else fail "restarts" "$(tail -20 "$tmp/log")"; fi
home "$out_a"
expect_home_refused "after a restart the signed-out cookie is still refused"
home "$stay_b"
check "after a restart an unrevoked cookie still works" 200 "$code" "Location: $loc"
says "Signed in as $user_b" && ok "... as $user_b" || fail "... as $user_b" "$(head -c 1000 "$tmp/body")"
stop "second run"

# ==== 3. Throttle 2 s; sign-ins expire after 0.05 min (3 s). ====
if start --auth-sign-in-throttle-seconds=2 --auth-timeout-minutes=0.05; then ok "starts with throttle and short timeout"; else
	fail "starts with throttle and short timeout" "$(tail -20 "$tmp/log")"
fi
signin "$user_a" "$pass_a" "" /
expect_signed_in "throttle: first attempt signs in" /
calls=$(pam_calls "$user_a")
signin "$user_a" "$pass_a" "" /s/z/
expect_refused "throttle: a second attempt within 2 s gets error=3" 3 /s/z/
check "a throttled attempt never reaches PAM" "$calls" "$(pam_calls "$user_a")"
signin "$user_b" "$pass_b" "" /
expect_signed_in "throttle is per user: another user signs in at once" /
sleep 2.5
signin "$user_a" "$pass_a" "" /
expect_signed_in "throttle: after 2 s the right password works" /
exp_a=$si_uid
home "$exp_a"
check "a session cookie works before auth-timeout-minutes" 200 "$code"
sleep 4
home "$exp_a"
expect_home_refused "the session cookie is refused after auth-timeout-minutes"

check "network process survived" 0 "$(kill -0 "$pid" 2>/dev/null; echo $?)"
stop "third run"

# ---- everywhere ----
if grep -i '; *secure' "$tmp/set-cookies" >/dev/null; then
	fail "no Secure cookie over plain HTTP" "$(grep -i '; *secure' "$tmp/set-cookies" | head -3)"
else ok "no Secure cookie over plain HTTP ($(wc -l <"$tmp/set-cookies") Set-Cookie headers)"; fi
if grep -q "Sanitizer" "$tmp/log"; then fail "no sanitizer reports" "$(grep -A20 Sanitizer "$tmp/log" | head -40)"; else ok "no sanitizer reports"; fi

if [ "$failed" -gt 0 ]; then
	echo "---- rserver log (last 40 lines) ----"
	tail -40 "$tmp/log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
