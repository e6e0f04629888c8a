#!/usr/bin/env bash
# Runs the browser end-to-end tests (e2e.js): checks for root, chromium and
# Node, installs playwright-core exactly as tests/e2e/package-lock.json pins
# it (npm ci, into E2E_WORK, never globally), then runs the tests with
# screenshots in E2E_WORK/artifacts. Skips with a message when something it
# needs is missing; scripts/install-deps installs chromium and Node.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${E2E_WORK:-$PWD}
chromium=${CHROMIUM:-/usr/bin/chromium}

skip() {
	echo "SKIP e2e: $*"
	echo "0 passed, 0 failed"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (throwaway users, PAM, sessions as users)"
[ -x "$chromium" ] || skip "$chromium is missing (scripts/install-deps installs Debian's chromium)"
command -v node >/dev/null || skip "node is missing (scripts/install-deps installs nodejs)"
command -v npm >/dev/null || skip "npm is missing (scripts/install-deps installs npm)"

mkdir -p "$work"
# npm ci only when the lock file changed since the last install here.
if ! cmp -s "$here/package-lock.json" "$work/.installed-lock" ||
	[ ! -f "$work/node_modules/playwright-core/package.json" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$work/" || exit 1
	rm -f "$work/.installed-lock"
	if ! (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
		echo "FAIL e2e: npm ci of playwright-core failed:"
		sed 's/^/     /' "$work/npm.log" | tail -20
		echo "0 passed, 1 failed"
		exit 1
	fi
	cp "$here/package-lock.json" "$work/.installed-lock"
fi

export CHROMIUM="$chromium" E2E_ARTIFACTS="$work/artifacts"
NODE_PATH="$work/node_modules" exec node "$here/e2e.js"
