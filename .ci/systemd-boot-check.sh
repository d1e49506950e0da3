#!/usr/bin/env bash
# Runs deploy/systemd/sallyport.service under a real systemd (PID 1 of fresh pid, mount, net,
# uts, ipc and cgroup namespaces) and checks it the way an operator would: started and ready,
# sandboxed (dynamic uid, no capabilities, no_new_privs, seccomp), the LoadCredential secret
# read and injected, `systemctl reload` re-reading routes, `systemctl stop` draining to exit 0.
#
#   bash .ci/systemd-boot-check.sh /path/to/sallyport      # as root; ends with "systemd boot check — N ok, N failed"
#
# .ci/run runs it after the build (it needs root, unshare and overlayfs; exit 2 when they are
# missing, which CI reports as skipped).
# Nothing of the host is touched: systemd sees an overlay of / whose writes and deletions land
# in a tmpfs, every unit that sysinit/basic would start (udev, sysctl, tmpfiles, timesyncd,
# ...) is masked but journald, the network namespace has only loopback, and the cgroups it
# creates live under one of this script's own, removed at the end.
set -uo pipefail

binary=${1:?usage: $0 /path/to/sallyport}
binary=$(realpath "$binary")
repo=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 2; }
command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "needs unshare and nsenter (util-linux)"; exit 2; }
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || { echo "needs overlayfs"; exit 2; }

work=$(mktemp -d /tmp/sallyport-boot.XXXXXX)
mkdir "$work/t" "$work/root"
init=""
group=sallyport-boot-$$
declare -A home_cgroup=()

# This shell's own cgroup in each hierarchy, and a child of it to run in (moved back at the end).
while IFS=: read -r _ controllers path; do
  dir=/sys/fs/cgroup/${controllers#name=}
  [ -z "$controllers" ] && dir=/sys/fs/cgroup/unified
  [ -d "$dir" ] || { [ -z "$controllers" ] && [ -f /sys/fs/cgroup/cgroup.procs ] && dir=/sys/fs/cgroup; }
  [ -d "$dir$path" ] || continue
  home_cgroup[$dir]=$dir$path
done < /proc/self/cgroup

cleanup() {
  [ -n "$init" ] && kill -KILL "$init" 2>/dev/null
  sleep 1
  for dir in "${!home_cgroup[@]}"; do
    echo $$ > "${home_cgroup[$dir]}/cgroup.procs" 2>/dev/null
    [ -d "${home_cgroup[$dir]}/$group" ] && find "${home_cgroup[$dir]}/$group" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

for dir in "${!home_cgroup[@]}"; do
  child=${home_cgroup[$dir]}/$group
  mkdir -p "$child" || { echo "cannot make a cgroup in $dir"; exit 2; }
  # A v1 cpuset takes no task before it has CPUs and memory nodes: the parent's.
  for f in cpuset.cpus cpuset.mems; do [ -f "$child/$f" ] && cat "${home_cgroup[$dir]}/$f" > "$child/$f"; done
  echo $$ > "$child/cgroup.procs" || { echo "cannot join a cgroup in $dir"; exit 2; }
done

cat > "$work/inner.sh" <<'EOF'
#!/bin/bash
set -e
work=$1 binary=$2 repo=$3
mount --make-rprivate /
mount -t tmpfs tmpfs "$work/t"
mkdir "$work/t/upper" "$work/t/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/t/upper,workdir=$work/t/work" "$work/root"
mount --make-rshared "$work/root"
r=$work/root
for w in /usr/lib/systemd/system/*.wants/* /lib/systemd/system/*.wants/* /etc/systemd/system/*.wants/*; do
  n=$(basename "$w")
  case "$n" in systemd-journald.service|systemd-journald.socket|systemd-journald-dev-log.socket) continue;; esac
  ln -sf /dev/null "$r/etc/systemd/system/$n"
done
for n in systemd-sysctl.service systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
  systemd-timesyncd.service systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-modules-load.service \
  systemd-binfmt.service systemd-random-seed.service systemd-journal-flush.service systemd-remount-fs.service \
  systemd-machine-id-commit.service ldconfig.service systemd-hwdb-update.service systemd-firstboot.service \
  systemd-sysusers.service systemd-update-utmp.service systemd-pstore.service kmod-static-nodes.service \
  systemd-network-generator.service systemd-journald-audit.socket; do
  ln -sf /dev/null "$r/etc/systemd/system/$n"
done
rm -rf "$r/etc/systemd/system/"*.wants
# Installed as the unit's header says.
install -m 0755 "$binary" "$r/usr/local/bin/sallyport"
install -d "$r/etc/sallyport" "$r/etc/sallyport/credentials"
install -m 0644 "$repo/deploy/systemd/routes.eskip" "$r/etc/sallyport/routes.eskip"
install -m 0644 "$repo/deploy/systemd/sallyport.env" "$r/etc/sallyport/sallyport.env"
printf 'token-from-credential\n' > "$r/etc/sallyport/credentials/github-token"
chmod 0600 "$r/etc/sallyport/credentials/github-token"
install -m 0644 "$repo/deploy/systemd/sallyport.service" "$r/etc/systemd/system/sallyport.service"
ip link set lo up
exec chroot "$r" /lib/systemd/systemd --system --unit=sallyport.service
EOF

setsid unshare --pid --fork --mount --net --uts --ipc --cgroup bash "$work/inner.sh" "$work" "$binary" "$repo" >"$work/boot.log" 2>&1 &
for _ in $(seq 1 100); do
  init=$(pgrep -n -f '^/lib/systemd/systemd --system --unit=sallyport.service') && break
  sleep 0.1
done
[ -n "$init" ] || { echo "systemd did not start:"; cat "$work/boot.log"; exit 1; }
inside() { nsenter -t "$init" -a -r -w "$@"; }

passed=0 failed=0
check() { # name, then a command that must succeed
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); echo "ok    $name"; else failed=$((failed + 1)); echo "FAIL  $name"; fi
}

for _ in $(seq 1 100); do
  state=$(inside systemctl show -p ActiveState --value sallyport 2>/dev/null)
  [ "$state" = active ] || [ "$state" = failed ] && break
  sleep 0.3
done
check "started: active once ExecStartPost saw /readyz" test "$state" = active
check "/readyz answers 200" inside curl -sf --max-time 5 http://127.0.0.1:9911/readyz
main=$(inside systemctl show -p MainPID --value sallyport)
inside cat "/proc/$main/status" > "$work/status" 2>/dev/null
inside journalctl -u sallyport --no-pager > "$work/journal" 2>/dev/null
check "runs as a dynamic, unprivileged uid" grep -qE '^Uid:\s+[1-9][0-9]{3,}\s' "$work/status"
check "no capabilities, effective or bounding" bash -c "grep -qE '^CapEff:\s+0+$' '$work/status' && grep -qE '^CapBnd:\s+0+$' '$work/status'"
check "no_new_privs and a seccomp filter" bash -c "grep -qE '^NoNewPrivs:\s+1$' '$work/status' && grep -qE '^Seccomp:\s+2$' '$work/status'"
check "the LoadCredential secret registered from \$CREDENTIALS_DIRECTORY" grep -q 'Added secret file: /run/credentials/sallyport.service/github-token' "$work/journal"

# A loopback upstream that echoes the Authorization header, and a route to it, added to the
# installed routes file; `systemctl reload` makes it current.
inside python3 -c '
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s):
        b = ("auth=%s\n" % s.headers.get("Authorization")).encode()
        s.send_response(200); s.send_header("Content-Length", str(len(b))); s.end_headers(); s.wfile.write(b)
    def log_message(s, *a): pass
if os.fork() == 0:
    os.setsid(); http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()
'
echo 'echo: Host("^echo[.]localhost(:[0-9]+)?$") -> bearerinjector("/run/credentials/sallyport.service/github-token") -> "http://127.0.0.1:8080";' >> "/proc/$init/root/etc/sallyport/routes.eskip"
check "systemctl reload succeeds" inside systemctl reload sallyport
for _ in $(seq 1 50); do inside curl -sI --max-time 5 http://127.0.0.1:9911/routes | grep -qi '^x-count: 2' && break; sleep 0.1; done
check "the reload's SIGHUP re-read the routes (2 routes now)" bash -c "nsenter -t $init -a -r -w curl -sI --max-time 5 http://127.0.0.1:9911/routes | grep -qi '^x-count: 2'"
check "the credential's token is injected" bash -c "nsenter -t $init -a -r -w curl -s --max-time 5 -H 'Host: echo.localhost' http://127.0.0.1:9090/ | grep -qx 'auth=Bearer token-from-credential'"
check "the forward port on 3128 refuses a loopback destination (403)" bash -c "[ \"\$(nsenter -t $init -a -r -w env http_proxy=http://127.0.0.1:3128 curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)\" = 403 ]"
check "systemctl stop succeeds" inside systemctl stop sallyport
check "stopped by SIGTERM with exit status 0" bash -c "[ \"\$(nsenter -t $init -a -r -w systemctl show -p ExecMainStatus --value sallyport)\" = 0 ] && nsenter -t $init -a -r -w journalctl -u sallyport --no-pager | grep -q 'msg=\"stopped\"'"
inside journalctl -u sallyport --no-pager | grep -E 'SIGHUP|SIGTERM|stopped' | sed 's/^/      /'

echo "systemd boot check — $passed ok, $failed failed"
[ "$failed" -eq 0 ]
