#!/usr/bin/env bash
# Builds the Debian package from this build tree (cpack -G DEB) and checks
# it without installing it on the host: no debootstrap offline, so the
# package is unpacked with dpkg-deb -x into a throwaway root and its
# programs run from there.
#
#  1. the control file: Depends covers every shared library the binaries
#     load (ldd -> dpkg -S), plus the lws libuv plugin and R; the conffiles
#     are /etc/rstudio/*, /etc/pam.d/rstudio{,-session} and the logrotate
#     file; the maintainer scripts parse (sh -n) and create and remove the
#     rstudio-server user;
#  2. the files: programs in /usr/sbin, helpers in /usr/lib/rserver, all
#     root's and 0755, nothing outside /etc and /usr; rsession's RUNPATH
#     finds libR; the unit, PAM files (every module and include exists on
#     this host) and man pages (render without warnings) check out;
#  3. as root, the unpacked programs for real: rserver --test-config on the
#     shipped /etc/rstudio; rserver started on a free loopback port with a
#     throwaway config, the shipped PAM files installed under throwaway
#     names; sign-in through the shipped /etc/pam.d/rstudio;
#     "rstudio-server verify-installation --user U" finds the helpers in
#     <root>/usr/lib/rserver and runs 1+1 in a real session started through
#     the shipped rstudio-session PAM file.
#
# The package is left in <build>/package/. Creates, and removes on exit
# even on failure: users rs_pkg_srv_<pid> and rs_pkg_u_<pid>, the PAM
# services /etc/pam.d/rs-pkg-<pid>{,-session}, a temporary root
# /tmp/rs-pkg-XXXXXX. KEEP_TMP=1 keeps the root.
#
# Environment: BUILD (the build tree), SANITIZE (ON: skip, exit 77).
set -uo pipefail
: "${BUILD:?}"

if [ "${SANITIZE:-OFF}" = ON ]; then
	echo "SKIP test-package: a sanitizer build is not what gets packaged"
	exit 77
fi
for tool in cpack dpkg-deb dpkg readelf ldd curl; do
	command -v "$tool" >/dev/null || { echo "SKIP test-package: $tool not found"; exit 77; }
done

passed=0 failed=0
tmp=$(mktemp -d /tmp/rs-pkg-XXXXXX)
# Traversable: the session user runs rsession from the unpacked root, the
# server user reaches its database directory.
chmod 711 "$tmp"
root="$tmp/root"
srv_user="rs_pkg_srv_$$" user="rs_pkg_u_$$" pass="Pkg-$$-pw!"
pam_svc="rs-pkg-$$"
pam_files=("/etc/pam.d/$pam_svc" "/etc/pam.d/$pam_svc-session")
pid=
users=()
cleanup() {
	local p
	if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; fi
	# Every process of the session user, and the root launchers and the
	# monitor of this run (they name its config directory), by pid.
	if [ ${#users[@]} -gt 0 ] && id "$user" >/dev/null 2>&1; then
		for p in $(ps -o pid= -u "$user"); do kill -KILL "$p" 2>/dev/null; done
	fi
	for p in $(ps -eo pid=,args= | awk -v c="$tmp/conf" 'index($0, c) {print $1}'); do
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
	for u in "${users[@]}"; do userdel "$u" 2>/dev/null; done
	rm -f "${pam_files[@]}"
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP

ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '     %s\n' "$@"; }
# check NAME EVIDENCE COMMAND...: passes when the command succeeds.
check() {
	local name=$1 evidence=$2
	shift 2
	if "$@"; then ok "$name"; else fail "$name" "$evidence"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# ---- 1. build the package ----

out="$BUILD/package"
rm -rf "$out"
if ! cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$out" >"$tmp/cpack.log" 2>&1; then
	fail "cpack -G DEB" "$(tail -20 "$tmp/cpack.log")"
	finish
fi
rm -rf "$out/_CPack_Packages"
debs=("$out"/*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
	fail "cpack -G DEB makes one package" "found: ${debs[*]}"
	finish
fi
deb=${debs[0]}
ok "cpack -G DEB: $(basename "$deb")"

field() { dpkg-deb -f "$deb" "$1"; }
check "Package: rserver" "got '$(field Package)'" [ "$(field Package)" = rserver ]
depends=$(field Depends)
# The package names of a Depends field, one per line.
dep_names=$(printf '%s\n' "$depends" | tr ',|' '\n\n' | sed 's/(.*)//; s/^ *//; s/ *$//' | sort -u)
for want in libc6 libpam0g libuv1 libssl3 libwebsockets17 libwebsockets-evlib-uv libsqlite3-0 \
	libjansson4 r-base-core libpam-modules libpam-runtime adduser; do
	check "Depends: $want" "Depends: $depends" grep -qx -- "$want" <<<"$dep_names"
done
# Where the lws libuv plugin lives on this host: the package that ships it
# must be the one depended on.
plugin=$(dpkg -L libwebsockets-evlib-uv 2>/dev/null | grep -m1 'libwebsockets-evlib_uv\.so$')
check "libwebsockets-evlib-uv ships the libuv plugin" "dpkg -L: ${plugin:-nothing}" \
	[ -n "$plugin" ]

want_conffiles="/etc/logrotate.d/rstudio-server
/etc/pam.d/rstudio
/etc/pam.d/rstudio-session
/etc/rstudio/database.conf
/etc/rstudio/logging.conf
/etc/rstudio/notifications.conf
/etc/rstudio/profiles
/etc/rstudio/rserver.conf
/etc/rstudio/rsession.conf"
got_conffiles=$(dpkg-deb -I "$deb" conffiles | sort)
check "conffiles: /etc/rstudio/*, pam.d, logrotate" "got: $(echo $got_conffiles)" \
	[ "$got_conffiles" = "$want_conffiles" ]

mkdir "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst prerm postrm; do
	check "maintainer script $s: executable, parses" "$(ls -l "$tmp/control/$s" 2>&1)" \
		sh -n "$tmp/control/$s"
	[ -x "$tmp/control/$s" ] || fail "maintainer script $s is executable" "$(ls -l "$tmp/control/$s")"
done
# (Continuation lines joined.)
check "postinst creates the rstudio-server system user" "$(grep -n -A1 adduser "$tmp/control/postinst")" \
	bash -c 'sed -e ":a" -e "/\\\\$/{N;s/\\\\\n[[:space:]]*/ /;ba}" "$1" |
		grep -q "adduser --system --group .*rstudio-server\$"' bash "$tmp/control/postinst"
check "postrm purge removes state and the user" "$(sed -n '/purge)/,/;;/p' "$tmp/control/postrm")" \
	sh -c 'sed -n "/purge)/,/;;/p" "$1" | grep -q "rm -rf /var/lib/rstudio-server /run/rstudio-server" &&
		sed -n "/purge)/,/;;/p" "$1" | grep -q "/var/log/rstudio" &&
		sed -n "/purge)/,/;;/p" "$1" | grep -q "deluser --system --quiet rstudio-server"' \
	sh "$tmp/control/postrm"

# ---- 2. the files ----

listing=$(dpkg-deb -c "$deb")
outside=$(awk '{print $6}' <<<"$listing" | grep -v -e '^\./$' -e '^\./etc/' -e '^\./usr/' || true)
check "every file is under /etc or /usr" "outside: $outside" [ -z "$outside" ]
check "nothing under /usr/local" "$(grep /usr/local/ <<<"$listing")" \
	bash -c '! grep -q "/usr/local/" <<<"$1"' bash "$listing"
for f in usr/sbin/rserver usr/sbin/rstudio-server usr/lib/rserver/rsession-launcher \
	usr/lib/rserver/rsession; do
	line=$(awk -v f="./$f" '$6 == f' <<<"$listing")
	check "/$f: root's, 0755" "dpkg-deb -c: ${line:-missing}" \
		sh -c 'case "$1" in "-rwxr-xr-x root/root "*) exit 0;; *) exit 1;; esac' sh "$line"
done
for f in usr/lib/systemd/system/rstudio-server.service usr/share/man/man8/rserver.8.gz \
	usr/share/man/man8/rstudio-server.8.gz usr/share/man/man8/rsession-launcher.8.gz \
	usr/share/man/man8/rsession.8.gz usr/share/man/man5/profiles.5.gz \
	usr/share/man/man5/notifications.conf.5.gz usr/share/doc/rserver/admin-guide.md \
	usr/share/doc/rserver/examples/rserver.conf; do
	check "ships /$f" "not in dpkg-deb -c" grep -q " \./$f\$" <<<"$listing"
done

dpkg-deb -x "$deb" "$root"
chmod 755 "$root"
r_home=$(R RHOME 2>/dev/null)
runpath=$(readelf -d "$root/usr/lib/rserver/rsession" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
check "rsession's RUNPATH is R's lib directory" "RUNPATH '$runpath', R home '$r_home'" \
	[ -n "$r_home" ] && [ "$runpath" = "$r_home/lib" ]
# Every library each program loads is found, and comes from a package the
# control file depends on (or from one of those packages' own dependencies
# for libraries that libR brings).
for b in usr/sbin/rserver usr/sbin/rstudio-server usr/lib/rserver/rsession-launcher \
	usr/lib/rserver/rsession; do
	missing=$(ldd "$root/$b" | grep 'not found' || true)
	check "/$b: every library found" "$missing" [ -z "$missing" ]
	for lib in $(readelf -d "$root/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldd "$root/$b" | awk -v l="$lib" '$1 == l {print $3}')
		real=$(realpath "$path" 2>/dev/null)
		pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)
		pkg=${pkg%%:*}
		check "/$b: $lib from ${pkg:-?} in Depends" "path $path, package '${pkg:-none}'" \
			grep -qx -- "${pkg:-none}" <<<"$dep_names"
	done
done

"$root/usr/sbin/rserver" --version >"$tmp/out" 2>&1
check "rserver --version" "$(cat "$tmp/out")" grep -q '^rserver ' "$tmp/out"
"$root/usr/sbin/rserver" --test-config --config-dir "$root/etc/rstudio" >"$tmp/out" 2>&1
status=$?
check "rserver --test-config on the shipped /etc/rstudio" "$(cat "$tmp/out")" [ $status -eq 0 ]

unit="$root/usr/lib/systemd/system/rstudio-server.service"
for line in 'ExecStart=/usr/sbin/rserver' 'ExecReload=/bin/kill -HUP $MAINPID' 'KillMode=process' \
	'Restart=on-failure' 'WantedBy=multi-user.target'; do
	check "unit: $line" "$(grep -n "${line%%=*}=" "$unit")" grep -qxF -- "$line" "$unit"
done
check "unit: no NoNewPrivileges" "$(grep -n '^NoNewPrivileges' "$unit")" \
	sh -c '! grep -q "^NoNewPrivileges" "$1"' sh "$unit"
if command -v systemd-analyze >/dev/null; then
	# Pointed at the unpacked rserver: verify checks that ExecStart exists.
	mkdir "$tmp/unit"
	sed "s#=/usr/sbin/rserver#=$root/usr/sbin/rserver#" "$unit" >"$tmp/unit/rstudio-server.service"
	systemd-analyze verify --man=no "$tmp/unit/rstudio-server.service" >"$tmp/out" 2>&1
	status=$?
	check "systemd-analyze verify the unit: no complaint" "$(cat "$tmp/out")" \
		[ $status -eq 0 ] && [ ! -s "$tmp/out" ]
else
	echo "skip systemd-analyze verify: not installed"
fi

# The PAM files use modules and includes that this Debian has.
pam_dir=$(dirname "$(find /lib /usr/lib -name pam_unix.so -path '*security*' 2>/dev/null | head -1)")
for f in rstudio rstudio-session; do
	bad=
	for m in $(grep -o 'pam_[a-z_]*\.so' "$root/etc/pam.d/$f"); do
		[ -f "$pam_dir/$m" ] || bad="$bad $m"
	done
	for inc in $(awk '$1 == "@include" {print $2}' "$root/etc/pam.d/$f"); do
		[ -f "/etc/pam.d/$inc" ] || bad="$bad @include:$inc"
	done
	check "/etc/pam.d/$f: modules and includes exist" "missing:$bad" [ -z "$bad" ]
done

if command -v man >/dev/null; then
	for page in "$root"/usr/share/man/man*/*.gz; do
		warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		check "man $(basename "$page" .gz) renders without warnings" "$warnings" [ -z "$warnings" ]
	done
else
	echo "skip rendering the man pages: man not installed"
fi

if command -v logrotate >/dev/null; then
	logrotate -d "$root/etc/logrotate.d/rstudio-server" >"$tmp/out" 2>&1
	status=$?
	check "logrotate -d accepts the logrotate file" "$(cat "$tmp/out")" [ $status -eq 0 ]
else
	echo "skip logrotate -d: logrotate not installed"
fi

# ---- 3. the unpacked programs, for real ----

if [ "$(id -u)" -ne 0 ]; then
	echo "skip running the unpacked rserver: needs root (users, PAM, privilege drop)"
	finish
fi

useradd -r -M -s /usr/sbin/nologin "$srv_user" || { fail "useradd $srv_user" ""; finish; }
users+=("$srv_user")
mkdir -p "$tmp/home"
chmod 755 "$tmp/home"
useradd -m -d "$tmp/home/$user" -s /bin/bash "$user" || { fail "useradd $user" ""; finish; }
users+=("$user")
printf '%s:%s\n' "$user" "$pass" | chpasswd
# The shipped PAM files, under names of this run's own.
cp "$root/etc/pam.d/rstudio" "/etc/pam.d/$pam_svc"
cp "$root/etc/pam.d/rstudio-session" "/etc/pam.d/$pam_svc-session"
chmod 644 "${pam_files[@]}"

port=$((20000 + ($$ * 7 + 29) % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
# The shipped configuration files (every key commented out), with this
# run's places and names appended.
conf="$tmp/conf"
cp -r "$root/etc/rstudio" "$conf"
cat >>"$conf/rserver.conf" <<CONF
www-address=127.0.0.1
www-port=$port
server-user=$srv_user
server-data-dir=$tmp/run
secure-cookie-key-file=$tmp/lib/secure-cookie-key
session-temp-dir=$tmp/lib/session-tmp
auth-pam-service=$pam_svc
auth-pam-sessions-profile=$pam_svc-session
CONF
printf 'directory=%s/lib\n' "$tmp" >>"$conf/database.conf"
url="http://127.0.0.1:$port"

"$root/usr/sbin/rserver" --config-dir "$conf" >"$tmp/rserver.log" 2>&1 &
pid=$!
up=
for _ in $(seq 300); do
	if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/auth-sign-in")" = 200 ]; then
		up=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
check "the unpacked rserver serves on 127.0.0.1:$port" "$(tail -20 "$tmp/rserver.log")" [ -n "$up" ]
if [ -z "$up" ]; then finish; fi
check "GET /health-check: 200" "" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health-check")" = 200 ]

# Sign-in through the shipped /etc/pam.d/rstudio.
jar="$tmp/jar"
curl -s -c "$jar" -o /dev/null "$url/auth-sign-in"
token=$(awk '$6 == "rs-csrf-token" {print $7}' "$jar" | tail -1)
hdrs=$(curl -s -b "$jar" -D - -o /dev/null -H 'Expect:' --data-urlencode "username=$user" \
	--data-urlencode "password=$pass" --data-urlencode "rs-csrf-token=$token" \
	"$url/auth-do-sign-in" | tr -d '\r')
check "sign-in with the shipped PAM service: 302 with a user-id cookie" "$hdrs" \
	bash -c 'grep -q "^HTTP/1.1 302" <<<"$1" && grep -qi "^set-cookie: user-id=[^;]" <<<"$1"' bash "$hdrs"

"$root/usr/sbin/rstudio-server" --config-dir "$conf" verify-installation --user "$user" \
	>"$tmp/verify" 2>&1
status=$?
check "rstudio-server verify-installation --user: exit 0" "$(cat "$tmp/verify")" [ $status -eq 0 ]
for b in "rsession-launcher: $root/usr/lib/rserver/rsession-launcher" \
	"rsession: $root/usr/lib/rserver/rsession" "rserver: $root/usr/sbin/rserver"; do
	check "verify-installation finds $b" "$(cat "$tmp/verify")" \
		grep -q "^ok  *${b//./\\.}" "$tmp/verify"
done
check "verify-installation ran a session as $user" "$(grep -i session "$tmp/verify")" \
	grep -q "^ok .*session as $user:.*\[1\] 2" "$tmp/verify"
check "rserver's log has no errors" "$(grep -E 'ERROR|WARN' "$tmp/rserver.log")" \
	sh -c '! grep -q -E "ERROR|not found" "$1"' sh "$tmp/rserver.log"

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the unpacked rserver" "still running after 10 s" sh -c '! kill -0 "$1" 2>/dev/null' sh "$pid"
wait "$pid" 2>/dev/null
pid=

finish
