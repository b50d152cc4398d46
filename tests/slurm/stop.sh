#!/usr/bin/env bash
# Stops what tests/slurm/start.sh started in STATE_DIR, and only that: the cluster's jobs, then
# slurmd, slurmctld, slurmdbd, MariaDB and munged, each by the pid file in STATE_DIR and only if
# that pid still runs the program it names; then removes the /etc/slurm/slurm.conf link if it
# points into STATE_DIR. Safe to run twice, or after a failed start.
#
#   tests/slurm/stop.sh [STATE_DIR]     (default /tmp/auflow-slurm)
set -uo pipefail

STATE=$(realpath -m "${1:-/tmp/auflow-slurm}")
[ -d "$STATE" ] || exit 0

# Jobs first (their slurmstepd processes outlive slurmd), while the controller can still reach
# the node. Only this cluster's jobs: every command below reads this state folder's slurm.conf.
if [ -e "$STATE/slurm.env" ]; then
    . "$STATE/slurm.env"
    if timeout 10 scontrol ping >/dev/null 2>&1; then
        timeout 10 scancel --full --partition "$AUFLOW_SLURM_PARTITION" >/dev/null 2>&1
        for _ in $(seq 50); do
            [ -z "$(timeout 10 squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi

# stop NAME PIDFILE: TERM, then KILL after 15 s; never a pid that now runs something else.
stop() {
    local name=$1 pidfile=$2 pid
    [ -e "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 75); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "tests/slurm/stop.sh: $name ($pid) ignored TERM for 15 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
}

stop slurmd "$STATE/run/slurmd.pid"
stop slurmctld "$STATE/run/slurmctld.pid"
stop slurmdbd "$STATE/run/slurmdbd.pid"
stop mariadbd "$STATE/mysql/mariadb.pid"
stop munged "$STATE/munge/munged.pid"
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$STATE/etc/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
