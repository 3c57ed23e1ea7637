#!/usr/bin/env bash
# End-to-end smoke test of the Docker Compose stack against the fake GitHub.
#
#   bash scripts/smoke-compose.sh
#
# Needs only this repository and Docker (with Compose v2). It builds the images, starts
# postgres, redis, migrate, api, 2 workers and the fake GitHub (scripts/compose.smoke.yml)
# under a unique project name, and then:
#   1. tracks the fake's owners with `run --rm worker starledger track ...`;
#   2. runs `starledger scan` (in a one-off worker container) and checks that
#      GET /v1/users/{id}/stats returns, for every tracked owner, exactly today's
#      snapshot of each of its public repositories with the fake's ground-truth counts;
#   3. moves the fake one day forward, hands a scan to the workers
#      (`starledger scan --enqueue`), waits for it and checks the API again.
# The stack is always removed at the end (`down -v`), whatever happened.
# Env: SMOKE_PROJECT (compose project name), SMOKE_OWNERS (5), SMOKE_SEED (1),
#      SMOKE_WORKERS (2), SMOKE_TIMEOUT_S (180, for the workers' scan).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROJECT=${SMOKE_PROJECT:-starledger-smoke-$(date +%s)-$$}
WORKERS=${SMOKE_WORKERS:-2}
TIMEOUT_S=${SMOKE_TIMEOUT_S:-180}
export SMOKE_OWNERS=${SMOKE_OWNERS:-5} SMOKE_SEED=${SMOKE_SEED:-1}

compose() { docker compose -p "$PROJECT" -f docker-compose.yml -f scripts/compose.smoke.yml "$@"; }
step() { printf '\n==> %s\n' "$*"; }
# Python (stdlib only) inside the api container: it reaches the API on 127.0.0.1:5000
# and the fake on fakegithub:8900; nothing is published on the host.
inside() { compose exec -T api python - "$@"; }
# `--progress quiet`: no "Container ... Started" lines for the dependencies `run` checks.
cli() { compose --progress quiet run --rm -T worker starledger "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    echo
    echo "!!! smoke test FAILED (exit $rc); state of project $PROJECT:" >&2
    compose ps -a >&2 || true
    compose logs --no-color --tail=60 >&2 || true
  fi
  step "docker compose down -v"
  compose down -v --remove-orphans --timeout 10 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CHECK_PY=$(cat <<'PY'
import json, sys, urllib.request
from datetime import UTC, datetime

API, FAKE = "http://127.0.0.1:5000", "http://fakegithub:8900"
phase, logins = sys.argv[1], sys.argv[2].split(",")

def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)

today = datetime.now(UTC).date().isoformat()
owners = {o["login"]: o for o in get(f"{FAKE}/_fake/owners")["owners"]}
truth = get(f"{FAKE}/_fake/truth?owners={','.join(logins)}")
expected = {}
for repo_id, (owner_id, stars, forks, watchers) in truth["repos"].items():
    expected.setdefault(owner_id, {})[int(repo_id)] = (stars, forks, watchers)

problems, total = [], 0
print(f"[{phase}] fake day {truth['day']}, API date {today}")
print(f"  {'LOGIN':<12} {'ID':>10} {'TRUTH':>6} {'API':>6} {'ITEMS':>6}  RESULT")
for login in logins:
    owner_id = owners[login]["databaseId"]
    body = get(f"{API}/v1/users/{owner_id}/stats")
    if body["user"]["id"] != owner_id or body["user"]["login"] != login:
        problems.append(f"{login}: stats answered for {body['user']}")
    got = {s["repo_id"]: (s["stargazers"], s["forks"], s["watchers"])
           for s in body["stats"] if s["date"] == today}
    want = expected.get(owner_id, {})
    wrong = sorted(r for r in want.keys() & got.keys() if want[r] != got[r])
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    ok = not (wrong or missing or extra)
    total += len(got)
    print(f"  {login:<12} {owner_id:>10} {len(want):>6} {len(got):>6} {len(body['stats']):>6}  "
          + ("ok" if ok else f"MISMATCH wrong={wrong[:5]} missing={missing[:5]} extra={extra[:5]}"))
    if not ok:
        problems.append(f"{login}: {len(wrong)} wrong, {len(missing)} missing, {len(extra)} extra")
if problems:
    sys.exit(f"[{phase}] API does not match the fake's ground truth: " + "; ".join(problems))
print(f"[{phase}] OK: {total} snapshots of {len(logins)} owners match the ground truth")
PY
)

step "project $PROJECT: docker compose up -d --build --wait (workers: $WORKERS)"
compose config -q
compose up -d --build --wait --scale "worker=$WORKERS"
compose ps

step "owners of the fake GitHub"
LOGINS=$(inside <<'PY'
import json, urllib.request
owners = json.load(urllib.request.urlopen("http://fakegithub:8900/_fake/owners", timeout=10))["owners"]
print(" ".join(sorted(o["login"] for o in owners)))
PY
)
echo "$LOGINS"
read -r -a LOGIN_ARRAY <<<"$LOGINS"
[ "${#LOGIN_ARRAY[@]}" -gt 0 ] || { echo "the fake has no owners" >&2; exit 1; }
LOGIN_CSV=$(IFS=,; echo "${LOGIN_ARRAY[*]}")

step "starledger track ${LOGIN_ARRAY[*]}"
cli track "${LOGIN_ARRAY[@]}"
cli users

step "starledger scan (one-off container)"
cli scan
inside scan "$LOGIN_CSV" <<<"$CHECK_PY"

step "fake GitHub: next day; starledger scan --enqueue (the $WORKERS workers)"
LAST_RUN=$(inside <<'PY'
import json, urllib.request
scans = json.load(urllib.request.urlopen("http://127.0.0.1:5000/v1/scans?limit=1", timeout=10))["scans"]
print(scans[0]["id"] if scans else 0)
PY
)
inside <<'PY'
import json, urllib.request
request = urllib.request.Request("http://fakegithub:8900/_fake/advance_day", method="POST")
print("fake day now", json.load(urllib.request.urlopen(request, timeout=10))["day"])
PY
cli scan --enqueue
inside "$LAST_RUN" "$TIMEOUT_S" <<'PY'
import json, sys, time, urllib.request
last, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while True:
    scans = json.load(urllib.request.urlopen("http://127.0.0.1:5000/v1/scans?limit=5", timeout=10))["scans"]
    run = next((s for s in scans if s["id"] > last and s["status"] != "running"), None)
    if run is not None:
        break
    if time.monotonic() > deadline:
        sys.exit(f"the workers did not finish the enqueued scan in {sys.argv[2]} s: {scans}")
    time.sleep(2)
print(f"run {run['id']} ({run['trigger']}): {run['status']}, {run['owners']} owners, "
      f"{run['snapshots']} snapshots, {run['requests']} requests, {run['errors']} errors")
if run["status"] != "done":
    sys.exit(f"the workers' scan ended {run['status']}: {run['reasons']}")
PY
inside workers "$LOGIN_CSV" <<<"$CHECK_PY"

step "summary"
cli scans
compose ps
echo
echo "smoke test PASSED: project $PROJECT, ${#LOGIN_ARRAY[@]} owners tracked, $WORKERS workers,"
echo "scan in a one-off container + scan by the workers, API matches the fake's ground truth"
