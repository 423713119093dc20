# The README's cast, for bash: `source scripts/demo-env.sh` at the root of a clone.
#
# Defines one shell function per person of the quick start (each has its own HOTLINE_HOME and passphrase; in real use
# they sit on different machines), and small helpers. Everything lives in ./.demo: the relay's data, every person's
# home, the logs. Passphrases are given in the environment of each command, never on its command line.
#
#   source scripts/demo-env.sh        define the people and helpers only
#   source scripts/demo-env.sh --up   also run the README's quick start unless its relay and PoCs are already up
#                                     (what every later README section starts with, so each runs on its own)

DEMO=$PWD/.demo
export HOTLINE_RELAY=${HOTLINE_RELAY:-ws://127.0.0.1:7300}
export HOTLINE_DATA=$DEMO/relay # the relay's data dir; admin commands read its admin.token from here
HOTLINE_CLI=${HOTLINE_CLI:-npx hotline}

usa() { HOTLINE_HOME=$DEMO/us-authority HOTLINE_PASSPHRASE='US authority: amber lantern quarry 41' $HOTLINE_CLI "$@"; }
cna() { HOTLINE_HOME=$DEMO/cn-authority HOTLINE_PASSPHRASE='CN authority: violet harbour kettle 58' $HOTLINE_CLI "$@"; }
us() { HOTLINE_HOME=$DEMO/us HOTLINE_PASSPHRASE='US duty desk: copper meadow signal 17' $HOTLINE_CLI "$@"; }
cn() { HOTLINE_HOME=$DEMO/cn HOTLINE_PASSPHRASE='CN duty desk: granite orchard beacon 23' $HOTLINE_CLI "$@"; }
director() { HOTLINE_HOME=$DEMO/director HOTLINE_PASSPHRASE='Exercise control: saffron tunnel ledger 64' $HOTLINE_CLI "$@"; }
rev() { HOTLINE_HOME=$DEMO/reviewer HOTLINE_PASSPHRASE='US review desk: cobalt prairie whistle 92' $HOTLINE_CLI "$@"; }

# `... --json | field notices.0.id`: one field of a JSON document (a dotted path), or a one-line error and exit 1.
field() {
  node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      let value;
      try { value = process.argv[1].split(".").reduce((v, k) => (v == null ? undefined : v[k]), JSON.parse(text)); } catch { value = undefined; }
      if (value === undefined || value === null) { console.error(`field: no "${process.argv[1]}" in the JSON above`); process.exit(1); }
      console.log(typeof value === "object" ? JSON.stringify(value) : String(value));
    });' "$1"
}

# A one-time invite from the relay operator: `invite US`, `invite EXCON --role director`.
invite() { $HOTLINE_CLI admin invite --state "$@" --json | field invite; }

# Waits (up to 60 s) for the first notice WHO has not acknowledged yet and prints its id: `cn ack "$(next_unacked cn)"`.
next_unacked() {
  local id i
  for i in $(seq 1 60); do
    if id=$("$1" inbox --unacked --json 2>/dev/null | field notices.0.id 2>/dev/null); then echo "$id"; return 0; fi
    sleep 1
  done
  echo "next_unacked: nothing unacknowledged reached $1 in 60 s" >&2
  return 1
}

# Waits (up to 30 s) until FILE holds a line matching PATTERN: `wait_for .demo/relay.log listening`.
wait_for() {
  local i
  for i in $(seq 1 150); do
    grep -q "$2" "$1" 2>/dev/null && { grep -m1 "$2" "$1"; return 0; }
    sleep 0.2
  done
  echo "wait_for: \"$2\" did not appear in $1 within 30 s; its last lines:" >&2
  tail -n 5 "$1" >&2 2>/dev/null
  return 1
}

# Stops a process and everything it started (a shell function run with & is a subshell around npx and node).
kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# Stops the relay and listener an earlier paste started (their pids are in .demo/*.pid) and removes .demo.
demo_reset() {
  local pid i
  for pid in $(cat "$DEMO"/*.pid 2>/dev/null); do kill_tree "$pid"; done
  for pid in $(cat "$DEMO"/*.pid 2>/dev/null); do
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$DEMO" charter-US-CN.json charter-US-CN-v2.json drill-report.md
  mkdir -p "$DEMO"
}

# True when the quick start's relay answers and its PoCs exist.
demo_up() {
  [ -d "$DEMO/us" ] && [ -d "$DEMO/cn" ] && node -e '
    const url = process.argv[1].replace(/^ws/, "http").replace(/\/+$/, "") + "/healthz";
    fetch(url).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));' "$HOTLINE_RELAY"
}

# `source` without arguments keeps the caller's "$1": only a top-level `source scripts/demo-env.sh --up` brings it up.
DEMO_ENV_ARG=${1:-}
[ -n "${DEMO_ENV_RUNNING_QUICK_START:-}" ] && DEMO_ENV_ARG=
if [ "$DEMO_ENV_ARG" = "--up" ] && demo_up; then
  # Up already (pasted in another terminal, say): the authorities' fingerprints the sections below compare.
  USFP=${USFP:-$(usa authority whoami --json | field fingerprint)}
  CNFP=${CNFP:-$(cna authority whoami --json | field fingerprint)}
elif [ "$DEMO_ENV_ARG" = "--up" ]; then
  echo "demo-env: the quick start's relay and PoCs are not up: running the README's quick start first" >&2
  # The README's quick start block, as written there (one home for those commands).
  DEMO_ENV_RUNNING_QUICK_START=1
  eval "$(awk '/^## Quick start/ { q = 1 } q && /^```sh$/ { f = 1; next } f && /^```$/ { exit } f' "$(dirname "${BASH_SOURCE[0]}")/../README.md")"
  unset DEMO_ENV_RUNNING_QUICK_START
fi
