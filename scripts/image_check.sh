#!/usr/bin/env bash
# Build the container image with podman and check it the way an admin would use it:
#   scripts/image_check.sh base   once: debootstrap Debian bookworm and import it as the
#                                 Dockerfile's FROM (no registry needed; Debian's mirror is)
#   scripts/image_check.sh        build, then in the image as its non-root user: `atelier demo`
#                                 (no network), `atelier doctor` and `atelier run` against the
#                                 sandboxes on the host (loopback only), /healthz, /data, SIGTERM
# Needs root and Debian's podman, runc and debootstrap. Prints "figure NAME VALUE" lines; exits
# 0 when every check passed, 77 (skipped) without root, podman or the base image, 1 on a failed
# check.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=docker.io/library/debian:bookworm-slim
IMAGE=${ATELIER_IMAGE:-localhost/atelier:check}
GRACE=30          # --stop-timeout, as the README says; above runtime.shutdown_grace (20 s)
WORK=$(mktemp -d /tmp/atelier-image.XXXXXX)
NAME=atelier-check-$$
VOLUME=atelier-check-data-$$
SANDBOX_PID=""
# A Python with the project installed runs the sandboxes: the worktree's .venv unless told.
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

say() { echo "image_check: $*"; }
fail() { say "FAIL: $*"; exit 1; }
cleanup() {
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# This machine's cgroup layout is refused by crun, and its open-file limit by podman's default
# ulimits; systemd is absent, so events go to a file and health checks are run by hand.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

[ "$(id -u)" = 0 ] || { say "SKIP: needs root (rootful podman with runc)"; exit 77; }
command -v podman >/dev/null || { say "SKIP: podman is not installed (apt-get install podman runc debootstrap)"; exit 77; }

if [ "${1:-}" = "base" ]; then
    command -v debootstrap >/dev/null || fail "debootstrap is not installed"
    # The mirror this machine's apt uses (deb822 or one-line sources), else Debian's own.
    mirror=$(cat /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null \
        | sed -n 's/^URIs: *//p; s/^deb \(http[^ ]*\) bookworm .*/\1/p' | grep -v security | head -n1 || true)
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "${mirror:-http://deb.debian.org/debian}"
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" -c . | podman import - "$BASE"
    say "imported $BASE"
    exit 0
fi
podman image exists "$BASE" || { say "SKIP: no base image $BASE (run: scripts/image_check.sh base)"; exit 77; }

# The build reaches the package index this machine's pip uses: its CA bundle and its
# index settings, read here at run time, are mounted for the build only.
ca=$($PYTHON -m pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)
: >"$WORK/pip.conf"
# The bundle goes beside, not over, the image's own, which its ca-certificates package writes.
printf '[global]\ncert = /run/host-ca.crt\n' >>"$WORK/pip.conf"
for key in index-url extra-index-url; do
    value=$($PYTHON -m pip config get "global.$key" 2>/dev/null || true)
    env_value=$(printenv "PIP_$(echo "$key" | tr a-z- A-Z_)" || true)
    value=${env_value:-$value}
    # Only indexes a container can reach: file:// folders on the host are left out.
    value=$(echo "$value" | tr ' ' '\n' | grep -E '^https?://' | tr '\n' ' ' || true)
    [ -n "$value" ] && echo "$key = $value" >>"$WORK/pip.conf"
done

previous=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
start=$(date +%s%N)
podman build --pull=never --format docker -t "$IMAGE" \
    -v "$ca:/run/host-ca.crt:ro" -v "$WORK/pip.conf:/etc/pip.conf:ro" . >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log"; fail "podman build"; }
echo "figure build_seconds $(( ($(date +%s%N) - start) / 1000000000 ))"
# The image this build replaced (same tag) is only taking space now; a failure to remove it
# (a container still using it) is harmless.
current=$(podman image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
echo "figure image_bytes $(podman image inspect --format '{{.Size}}' "$IMAGE")"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = atelier ] || fail "the image does not run as its user"
podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE" | grep -q healthz || fail "HEALTHCHECK lost"
podman image inspect --format '{{.Config.Env}}' "$IMAGE" | grep -q ATELIER_DATABASE_URL && fail "the image sets ATELIER_DATABASE_URL"

say "atelier demo, as uid $(podman run --rm --no-healthcheck "$IMAGE" id -u), with no network"
podman run --rm --no-healthcheck --network none "$IMAGE" atelier demo >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; fail "atelier demo"; }
grep -q "Demo finished" "$WORK/demo.log" || fail "the demo did not finish"
tail -n 1 "$WORK/demo.log"

# The sandboxes run on the host's loopback; the container shares the host network to reach them.
"$PYTHON" -m bot.sandbox.serve "$WORK/config.toml" --database-url "sqlite+aiosqlite:////data/from-config.db" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
# Generous: on a loaded machine importing the sandboxes alone can take seconds.
for _ in $(seq 600); do
    grep -q "sandboxes ready" "$WORK/sandbox.log" || ! kill -0 "$SANDBOX_PID" 2>/dev/null && break
    sleep 0.1
done
grep -q "sandboxes ready" "$WORK/sandbox.log" || { cat "$WORK/sandbox.log"; fail "sandboxes did not start"; }
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman volume create "$VOLUME" >/dev/null
run=(--network host -v "$VOLUME:/data" -v "$WORK/config.toml:/data/config.toml:ro"
     -e "ATELIER_METRICS_LISTEN=127.0.0.1:$port")

say "atelier doctor against the sandboxes"
podman run --rm --no-healthcheck "${run[@]}" "$IMAGE" atelier doctor >"$WORK/doctor.log" 2>&1 || { cat "$WORK/doctor.log"; fail "atelier doctor"; }
cat "$WORK/doctor.log"

say "atelier run against the sandboxes"
# Without systemd podman cannot schedule the health check (it says so on stderr): run it by hand.
podman run -d --name "$NAME" --stop-timeout "$GRACE" --health-interval disable "${run[@]}" "$IMAGE" >/dev/null 2>"$WORK/run.log" \
    || { cat "$WORK/run.log"; fail "podman run"; }
healthy=""
for _ in $(seq 120); do
    if podman healthcheck run "$NAME" >/dev/null 2>&1; then healthy=1; break; fi
    [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
    sleep 0.5
done
[ -n "$healthy" ] || { podman logs "$NAME" | tail -n 30; fail "the health check never passed"; }
[ "$("$PYTHON" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=4).read().decode())")" = ok ] || fail "/healthz"
say "healthy: podman healthcheck run and /healthz say ok"

# The mounted config's [database] url wins: the database is the file it names, in /data.
owner=$(podman exec "$NAME" stat -c '%u:%g %a' /data)
podman exec "$NAME" sh -c 'test -s /data/from-config.db && touch /data/.writable && rm /data/.writable' || fail "/data/from-config.db missing or /data not writable"
podman exec "$NAME" sh -c 'test ! -e /data/atelier.db' || fail "a database other than the config's was created"
[ "${owner%% *}" = "10001:10001" ] || fail "/data is owned by $owner"
say "/data is $owner, writable, and holds the config's database"

start=$(date +%s%N)
podman stop -t "$GRACE" "$NAME" >"$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log"; fail "podman stop"; }
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
echo "figure stop_ms $stop_ms"
[ "$code" = 0 ] || { podman logs "$NAME" | tail -n 30; fail "exit code $code after SIGTERM"; }
[ "$stop_ms" -lt $((GRACE * 1000)) ] || fail "SIGTERM took the whole grace"
podman logs "$NAME" 2>&1 | grep -q Traceback && { podman logs "$NAME" | tail -n 30; fail "a traceback in the logs"; }
say "SIGTERM: exit 0 in ${stop_ms} ms"
say "all checks passed"
