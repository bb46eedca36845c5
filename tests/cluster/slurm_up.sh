#!/usr/bin/env bash
# A real single-node SLURM (with accounting) on this machine, for tests/test_cluster.py.
# Run as root on Debian 12: installs munge, slurmctld, slurmd, slurm-client, slurmdbd and
# mariadb, writes the configs under /etc/slurm, starts the daemons by hand (no systemd) and
# waits until the node is idle. Stop everything it started with tests/cluster/slurm_down.sh.
#
# The node declares more CPUs than the machine has (SlurmdParameters=config_overrides) so the
# profile's GPU jobs (cpus_per_gpu: 8) fit, and one fake GPU (File=/dev/null) so `gpu: 1`
# becomes a real `--gpus=1` allocation. Partitions `cpu` and `gpu` match slurm/config.yaml.
set -euo pipefail

state=/var/run/egcalib-slurm
spool=/var/spool/egcalib-slurm  # job state of this test cluster only: wiped at every start
cluster=egcalib-ci
node=$(hostname -s)

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
   || ! command -v mariadbd >/dev/null || ! command -v sacct >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends \
    munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
fi

# A clean start: stop daemons an earlier run left behind and forget its jobs, which would
# otherwise be recovered as running and keep the node busy.
bash "$(dirname "$0")/slurm_down.sh"
rm -rf "$spool"
install -d -o slurm -g slurm "$state" "$spool/ctld" /var/log/slurm
install -d "$spool/d"

# munge: the key comes with the package; the daemon runs as its own user.
install -d -o munge -g munge -m 0755 /run/munge
[ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key;
                                  chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
runuser -u munge -- munged --force
munge -n | unmunge >/dev/null

# mariadb for slurmdbd.
install -d -o mysql -g mysql -m 0755 /run/mysqld
[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
nohup mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
  --pid-file=/run/mysqld/mariadb.pid --skip-networking=0 --bind-address=127.0.0.1 \
  >"$state/mariadb.log" 2>&1 &
for _ in $(seq 60); do mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
mariadb --socket=/run/mysqld/mysqld.sock -e "
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'egcalib-ci';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$state/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=egcalib-ci
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf

memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=$cluster
SlurmctldHost=$node(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$spool/ctld
SlurmdSpoolDir=$spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=16 RealMemory=$((memory * 9 / 10)) Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
CONF
echo "NodeName=$node Name=gpu File=/dev/null" > /etc/slurm/gres.conf

slurmdbd
for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i add cluster "$cluster" >/dev/null 2>&1 || true
slurmctld
slurmd
for _ in $(seq 120); do
  [ "$(sinfo -h -n "$node" -o %T 2>/dev/null | head -1)" = idle ] && break
  sleep 0.5
done
sinfo -h -n "$node" -o %T | grep -qx idle || { echo "SLURM node $node is not idle:" >&2; sinfo >&2; exit 1; }
sacct -n -X >/dev/null  # accounting answers: the executor plugin polls job states with sacct
echo "SLURM is up: cluster $cluster, node $node, partitions cpu and gpu"
