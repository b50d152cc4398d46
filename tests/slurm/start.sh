#!/usr/bin/env bash
# A real single-node SLURM cluster for the tests: munged, MariaDB, slurmdbd, slurmctld and slurmd,
# started directly (no systemd) with every config, pid, log, socket and spool file under one state
# folder, so that stop.sh can stop exactly what this started. The one thing outside it is the
# symbolic link /etc/slurm/slurm.conf -> STATE_DIR/etc/slurm.conf (stop.sh removes it): inside
# each job, Snakemake's job-step executor (snakemake-executor-plugin-slurm-jobstep 0.6.1) drops
# every SLURM_* variable, SLURM_CONF included, before its srun, so, as on a real cluster, the
# config must be at the default place.
#
#   tests/slurm/start.sh [STATE_DIR]     (default /tmp/auflow-slurm; run as root)
#
# Then `. STATE_DIR/slurm.env` points sinfo, sbatch, sacct, ... (and Snakemake's SLURM executor)
# at this cluster: partition $AUFLOW_SLURM_PARTITION, account $AUFLOW_SLURM_ACCOUNT.
# Accounting goes through slurmdbd, so `sacct` (the executor plugin's default status command,
# what real clusters use) works. Ports: AUFLOW_SLURM_PORT (default 16817) and the next three.
set -euo pipefail
trap 'echo "tests/slurm/start.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR

STATE=$(realpath -m "${1:-/tmp/auflow-slurm}")
PORT=${AUFLOW_SLURM_PORT:-16817}
CTLD_PORT=$PORT
SLURMD_PORT=$((PORT + 1))
DBD_PORT=$((PORT + 2))
DB_PORT=$((PORT + 3))
CLUSTER=auflow
PARTITION=main
ACCOUNT=auflow
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
HERE=$(cd "$(dirname "$0")" && pwd)

die() {
    echo "tests/slurm/start.sh: $*" >&2
    exit 1
}

# Waits until a command succeeds; on time-out names the log to read.
wait_for() {
    local what=$1 seconds=$2 log=$3
    shift 3
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if timeout 10 "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    echo "tests/slurm/start.sh: $what not ready after ${seconds}s; the end of $log:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

[ "$(id -u)" = 0 ] || die "run as root (the daemons switch to the munge and mysql users)"

# Install once; quick when everything is there already.
missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    # Keep the packages' own init scripts from starting system-wide daemons: this script starts
    # its own, and stop.sh must not be left with daemons it did not start.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    [ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

if [ -d "$STATE" ]; then
    for pidfile in "$STATE"/run/*.pid "$STATE"/munge/*.pid "$STATE"/mysql/*.pid; do
        if [ -e "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            die "$STATE already has running daemons ($pidfile): run tests/slurm/stop.sh $STATE first"
        fi
    done
fi
DEFAULT_CONF=/etc/slurm/slurm.conf
if [ -e "$DEFAULT_CONF" ] || [ -L "$DEFAULT_CONF" ]; then
    linked=$(readlink "$DEFAULT_CONF" || true)
    case "$linked" in
    */etc/slurm.conf) # made by start.sh: replaced below, unless that cluster still runs
        pidfile=${linked%/etc/slurm.conf}/run/slurmctld.pid
        if [ "$linked" != "$STATE/etc/slurm.conf" ] && [ -e "$pidfile" ] &&
            kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            die "another test SLURM runs from ${linked%/etc/slurm.conf}: stop it first"
        fi
        ;;
    *) die "$DEFAULT_CONF exists (a SLURM of this machine?); these tests would have to replace it" ;;
    esac
fi
for port in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT"; do
    if port_in_use "$port"; then
        die "port $port is in use (another SLURM?); choose other ports with AUFLOW_SLURM_PORT=N"
    fi
done

# From here on a failure stops whatever was started already.
up=
trap '[ -n "$up" ] || { echo "tests/slurm/start.sh: failed; stopping what started (logs: $STATE)" >&2; "$HERE/stop.sh" "$STATE"; }' EXIT

# The daemons that drop root (munged, mariadbd) must reach their folders.
mkdir -p "$STATE"
chmod 755 "$STATE"
rm -rf "${STATE:?}"/{etc,munge,mysql,spool,log,run}
mkdir -p "$STATE"/{etc,munge,mysql,spool/slurmctld,spool/slurmd,log,run}
runuser -u munge -- test -x "$STATE" ||
    die "$STATE is not reachable by the munge user: use a state folder outside private folders"
chown munge:munge "$STATE/munge"
chmod 755 "$STATE/munge"
chown mysql:mysql "$STATE/mysql"

NODE=$(hostname -s)
CPUS=$(nproc)
# A little under what slurmd measures, so that the node is never refused for lacking memory.
MEASURED_MB=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEMORY_MB=$((MEASURED_MB * 9 / 10))
SOCKET=$STATE/munge/munge.socket.2
DB_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

# munge: the authentication every SLURM message carries; its own key, run as the munge user.
runuser -u munge -- mungekey --create --keyfile="$STATE/munge/munge.key"
runuser -u munge -- munged \
    --socket="$SOCKET" \
    --key-file="$STATE/munge/munge.key" \
    --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" \
    --seed-file="$STATE/munge/munged.seed" \
    </dev/null >"$STATE/munge/munged.out" 2>&1
wait_for munged 10 "$STATE/munge/munged.log" test -S "$SOCKET"

# MariaDB: the accounting database behind slurmdbd, TCP on 127.0.0.1 only.
mariadb-install-db --no-defaults --datadir="$STATE/mysql/data" --user=mysql \
    --auth-root-authentication-method=socket --skip-test-db \
    --innodb-log-file-size=16M >"$STATE/mysql/install.log" 2>&1 ||
    die "mariadb-install-db failed: see $STATE/mysql/install.log"
setsid mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql/data" \
    --socket="$STATE/mysql/mariadb.sock" --port="$DB_PORT" --bind-address=127.0.0.1 \
    --skip-name-resolve --innodb-log-file-size=16M --innodb-buffer-pool-size=64M \
    --pid-file="$STATE/mysql/mariadb.pid" --log-error="$STATE/mysql/mariadb.log" \
    </dev/null >"$STATE/mysql/mariadbd.out" 2>&1 &
wait_for MariaDB 60 "$STATE/mysql/mariadb.log" \
    mariadb-admin --no-defaults --socket="$STATE/mysql/mariadb.sock" -u root ping
mariadb --no-defaults --socket="$STATE/mysql/mariadb.sock" -u root <<SQL
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

cat >"$STATE/etc/slurm.conf" <<CONF
# Written by tests/slurm/start.sh for $NODE ($CPUS CPUs, ${MEASURED_MB} MB measured).
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/spool/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups in a container: track job processes by parent pid, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# For slurmdbd connections this names the munge socket (AuthInfo covers the others).
AccountingStoragePass=$SOCKET
# Keep each job's --comment (Snakemake puts the rule and wildcards there) in sacct.
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF

# slurmdbd reads slurmdbd.conf from the folder of SLURM_CONF; it holds the database password.
cat >"$STATE/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$SOCKET
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
CONF
chmod 600 "$STATE/etc/slurmdbd.conf"

cat >"$STATE/slurm.env" <<ENV
export SLURM_CONF=$STATE/etc/slurm.conf
export AUFLOW_SLURM_PARTITION=$PARTITION
export AUFLOW_SLURM_ACCOUNT=$ACCOUNT
ENV
export SLURM_CONF=$STATE/etc/slurm.conf
mkdir -p "$(dirname "$DEFAULT_CONF")"
ln -sfn "$SLURM_CONF" "$DEFAULT_CONF"

slurmdbd </dev/null >"$STATE/log/slurmdbd.out" 2>&1
wait_for slurmdbd 60 "$STATE/log/slurmdbd.log" sacctmgr -n list cluster
# The cluster, an account and root's association, so that sbatch -A and sacct have a home.
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Description="auflow tests" Organization=auflow >/dev/null
sacctmgr -i add user root Account="$ACCOUNT" >/dev/null

slurmctld -c </dev/null >"$STATE/log/slurmctld.out" 2>&1
wait_for slurmctld 30 "$STATE/log/slurmctld.log" scontrol ping
slurmd </dev/null >"$STATE/log/slurmd.out" 2>&1
wait_for "node $NODE (idle in sinfo)" 60 "$STATE/log/slurmd.log" \
    bash -c "[ \"\$(sinfo -h -n '$NODE' -o %t)\" = idle ]"
up=1
echo "SLURM is up: node $NODE, $CPUS CPUs, $MEMORY_MB MB; . $STATE/slurm.env to use it" >&2
