#!/usr/bin/env bash
# Stops the daemons tests/cluster/slurm_up.sh started (pid files under its state directory).
state=/var/run/egcalib-slurm
for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/slurmdbd.pid" /run/mysqld/mariadb.pid; do
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
pkill -u munge munged 2>/dev/null
sleep 1
rm -rf "$state"
true
