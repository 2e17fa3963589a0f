#!/usr/bin/env bash
# A throwaway Ceph cluster with an S3 gateway, for the Ceph test tier.
#
#   test/ceph/rgw.sh start <workdir> <port>   build + start mon, osd, radosgw; print S3AP_TEST_* lines
#   test/ceph/rgw.sh stop  <workdir>          stop every daemon started from <workdir>
#
# One monitor and one bluestore OSD (on a sparse file), no mgr, auth none, all on
# 127.0.0.1. Every file (conf, keyring, mon/osd/rgw data, logs, pid files, admin
# sockets) lives under <workdir>; every command gets `-c <workdir>/ceph.conf`.
# Progress goes to stderr; stdout carries only the KEY=value lines.
#
# Optional environment:
#   CEPH_MON_PORT        msgr2 port of the monitor (default: a free port picked here)
#   CEPH_OSD_SIZE_GB     apparent size of the sparse OSD block file (default 8)
#   CEPH_START_TIMEOUT   seconds to wait for each stage (default 120)
#   S3AP_CEPH_ACCESS_KEY / S3AP_CEPH_SECRET_KEY   override the fixed S3 credentials
set -euo pipefail

ACCESS_KEY="${S3AP_CEPH_ACCESS_KEY:-CEPHTESTACCESSKEY0001}"
SECRET_KEY="${S3AP_CEPH_SECRET_KEY:-cephtestsecretkey0000000000000000000000001}"
S3_UID="s3ap-test"
RGW_NAME="client.rgw.gw"
TIMEOUT="${CEPH_START_TIMEOUT:-120}"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }
log() { echo "rgw.sh: [$(elapsed)] $*" >&2; }
die() { echo "rgw.sh: ERROR: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start <workdir> <port> | $0 stop <workdir>" >&2
  exit 2
}

# --- helpers -----------------------------------------------------------------

port_in_use() {
  # A successful TCP connect means something listens there.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_free_port() {
  local avoid="$1" p i
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    [ "$p" = "$avoid" ] && continue
    port_in_use "$p" && continue
    echo "$p"
    return 0
  done
  return 1
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }

ceph_cli() {
  # Bounded: a CLI call against a dead monitor would otherwise hang forever.
  timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"
}

dump_logs() {
  echo "rgw.sh: ---- daemon logs (tail) from $WD/log ----" >&2
  local f
  for f in "$WD"/log/*; do
    [ -f "$f" ] || continue
    [[ "$f" == *.audit.log ]] && continue
    echo "rgw.sh: ==== $f ====" >&2
    tail -n 40 "$f" >&2 || true
  done
  echo "rgw.sh: ---- end of logs ----" >&2
}

start_failed() {
  echo "rgw.sh: ERROR: $*" >&2
  dump_logs
  log "stopping whatever was started"
  do_stop || true
  exit 1
}

STARTED=()
daemon_running() { pid_alive "$(read_pid "$WD/run/$1.pid")"; }

# Polls "$@" every 0.25 s until it succeeds or $TIMEOUT seconds pass; fails
# early when a daemon started so far has died.
wait_for() {
  local what="$1"; shift
  local deadline=$(( $(date +%s) + TIMEOUT )) n
  while ! "$@" >/dev/null 2>&1; do
    for n in "${STARTED[@]}"; do
      daemon_running "$n" || start_failed "$n died while waiting for $what"
    done
    if [ "$(date +%s)" -ge "$deadline" ]; then
      start_failed "timed out after ${TIMEOUT}s waiting for $what"
    fi
    sleep 0.25
  done
}

# Starts a (self-daemonizing) ceph daemon; its early stderr goes to log/<name>.stderr.
start_daemon() {
  local name="$1"; shift
  log "starting $name"
  if ! "$@" >>"$WD/log/$name.stderr" 2>&1; then
    start_failed "$name did not start ($*)"
  fi
  # The daemon writes its pid file right after forking.
  wait_for "$name pid file" test -s "$WD/run/$name.pid"
  daemon_running "$name" || start_failed "$name exited right after starting"
  STARTED+=("$name")
}

osd_up() {
  local out
  out=$(ceph_cli osd stat -f json 2>/dev/null) || return 1
  [[ "$out" =~ \"num_up_osds\":[[:space:]]*1[,}] ]]
}

rgw_answers() {
  curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/"
}

# --- stop ----------------------------------------------------------------------

# SIGTERM, up to 15 s for the process to exit, then SIGKILL.
stop_pid() {
  local pid="$1" deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$(( $(date +%s) + 15 ))
  while pid_alive "$pid"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "pid $pid still alive after 15s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      if pid_alive "$pid"; then
        log "WARNING: pid $pid survived SIGKILL"
        return 1
      fi
      return 0
    fi
    sleep 0.1
  done
}

do_stop() {
  local names=("$RGW_NAME" osd.0 mon.a) name pid pids=() extra
  for name in "${names[@]}"; do
    pid=$(read_pid "$WD/run/$name.pid")
    if pid_alive "$pid"; then
      pids+=("$pid")
    fi
  done
  # Safety net: a daemon that died before/without writing its pid file, or a
  # forked copy; matched by this workdir's unique conf path, killed by pid.
  if [ -f "$WD/ceph.conf" ]; then
    while read -r extra; do
      [ -n "$extra" ] && [ "$extra" != "$$" ] && pids+=("$extra")
    done < <(pgrep -f -- "-c $WD/ceph.conf( |$)" || true)
  fi
  if [ "${#pids[@]}" -eq 0 ]; then
    log "nothing running in $WD"
    return 0
  fi
  # Unique, in start-reverse order: rgw first, then osd, then mon.
  local uniq=() seen=" "
  for pid in "${pids[@]}"; do
    [[ "$seen" == *" $pid "* ]] && continue
    seen+="$pid "
    uniq+=("$pid")
  done
  log "stopping pids ${uniq[*]}"
  # In order (gateway, osd, monitor): an osd whose monitor is already gone
  # waits for it before exiting. Each step is bounded, then SIGKILL.
  local failed=0
  for pid in "${uniq[@]}"; do
    stop_pid "$pid" || failed=1
  done
  [ "$failed" -eq 0 ] || return 1
  rm -f "$WD"/run/*.pid
  log "stopped"
}

# --- start ---------------------------------------------------------------------

write_conf() {
  cat >"$CONF" <<EOF
# Generated by test/ceph/rgw.sh for a throwaway test cluster. Do not use elsewhere.
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MON_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_bind_msgr1 = false
ms_bind_msgr2 = true

# No cephx: S3 request signing (SigV4) is still verified by radosgw.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# Without these radosgw loops on "auth" towards the monitor (secure mode needs cephx).
ms_mon_client_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
# Silence the (irrelevant without cephx) insecure global_id reclaim health warning.
mon_warn_on_insecure_global_id_reclaim_allowed = false

# Keep everything inside the workdir.
keyring = $WD/keyring
run_dir = $WD/run
crash_dir = $WD/crash
mon_cluster_log_file = default=$WD/log/\$cluster.\$channel.log cluster=$WD/log/\$cluster.log
log_to_stderr = false
err_to_stderr = true

# One OSD: single replica, small pools, placement over OSDs not hosts.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_max_pg_per_osd = 1000

# Commit monitor updates fast (default 1 s batching makes first requests slow).
paxos_propose_interval = 0.05
# The monitor shuts itself down when the disk looks full (default crit 5%).
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[mon]
mon_data = $WD/mon/\$cluster-\$id
log_file = $WD/log/\$cluster-\$name.log
pid_file = $WD/run/\$name.pid
admin_socket = $WD/run/\$cluster-\$name.asok

[osd]
osd_data = $WD/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $(( OSD_SIZE_GB * 1024 * 1024 * 1024 ))
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
osd_crush_update_on_start = true
log_file = $WD/log/\$cluster-\$name.log
pid_file = $WD/run/\$name.pid
admin_socket = $WD/run/\$cluster-\$name.asok

[$RGW_NAME]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $WD/rgw
rgw_enable_usage_log = false
log_file = $WD/log/\$cluster-\$name.log
pid_file = $WD/run/\$name.pid
admin_socket = $WD/run/\$cluster-\$name.asok
EOF
}

do_start() {
  [ -n "$PORT" ] || usage
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
  for c in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool uuidgen curl timeout; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found; run test/ceph/install-deps.sh first"
  done
  # Unix sockets are limited to 107 bytes.
  [ "${#WD}" -le 60 ] || die "workdir path too long for admin sockets (max 60 chars): $WD"

  if [ -f "$WD/ceph.conf" ]; then
    local n
    for n in mon.a osd.0 "$RGW_NAME"; do
      daemon_running "$n" && die "$n is already running in $WD; run '$0 stop $WD' first"
    done
    log "removing the previous cluster state in $WD"
    rm -rf "$WD/ceph.conf" "$WD/keyring" "$WD/monmap" "$WD/mon" "$WD/osd" "$WD/rgw" \
      "$WD/run" "$WD/log" "$WD/crash"
  fi
  port_in_use "$PORT" && die "port $PORT on 127.0.0.1 is already in use"

  MON_PORT="${CEPH_MON_PORT:-}"
  if [ -z "$MON_PORT" ]; then
    MON_PORT=$(pick_free_port "$PORT") || die "no free port for the monitor"
  fi
  OSD_SIZE_GB="${CEPH_OSD_SIZE_GB:-8}"
  FSID=$(uuidgen)
  local osd_uuid
  osd_uuid=$(uuidgen)

  mkdir -p "$WD"/{mon/ceph-a,osd/ceph-0,rgw,run,log,crash}
  write_conf
  log "workdir $WD, monitor on 127.0.0.1:$MON_PORT, S3 on 127.0.0.1:$PORT"

  # Monitor. A keyring is created only because --mkfs wants one; auth is none.
  ceph-authtool --create-keyring "$WD/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$WD/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
    "$WD/monmap" >>"$WD/log/setup.log" 2>&1 || start_failed "monmaptool failed"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$WD/monmap" --keyring "$WD/keyring" \
    >>"$WD/log/setup.log" 2>&1 || start_failed "ceph-mon --mkfs failed"
  start_daemon mon.a ceph-mon -c "$CONF" -i a
  wait_for "the monitor to answer" ceph_cli mon stat
  log "monitor up"

  # OSD on a sparse file (bluestore_block_create).
  local osd_id
  osd_id=$(ceph_cli osd create "$osd_uuid" 2>>"$WD/log/setup.log") || start_failed "ceph osd create failed"
  [ "$osd_id" = "0" ] || start_failed "expected osd id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >>"$WD/log/setup.log" 2>&1 || start_failed "ceph-osd --mkfs failed"
  start_daemon osd.0 ceph-osd -c "$CONF" -i 0
  wait_for "osd.0 to be up" osd_up
  log "osd.0 up"

  # Gateway; it creates its pools on first start.
  start_daemon "$RGW_NAME" radosgw -c "$CONF" -n "$RGW_NAME"
  wait_for "radosgw to answer on 127.0.0.1:$PORT" rgw_answers
  log "radosgw answers on 127.0.0.1:$PORT"

  radosgw-admin -c "$CONF" user create --uid "$S3_UID" --display-name "s3-audit-proxy tests" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
    >>"$WD/log/setup.log" 2>&1 || start_failed "radosgw-admin user create failed"

  log "ready"
  echo "S3AP_TEST_BACKEND_URL=http://127.0.0.1:$PORT"
  echo "S3AP_TEST_ACCESS_KEY=$ACCESS_KEY"
  echo "S3AP_TEST_SECRET_KEY=$SECRET_KEY"
}

# --- main ----------------------------------------------------------------------

CMD="${1:-}"
[ -n "${2:-}" ] || usage
if [ "$CMD" = "stop" ] && [ ! -d "$2" ]; then
  log "no workdir $2, nothing to stop"
  exit 0
fi
mkdir -p "$2"
WD="$(cd "$2" && pwd -P)"
CONF="$WD/ceph.conf"
PORT="${3:-}"

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  *) usage ;;
esac
