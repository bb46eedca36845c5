#!/usr/bin/env bash
# Stops the daemons tests/cluster/slurm_up.sh started (pid files under its state directory) and
# waits until they are gone, so a following slurm_up.sh finds their ports free.
state=/var/run/egcalib-slurm
pids=()
for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/slurmdbd.pid" /run/mysqld/mariadb.pid; do
  pid=$(cat "$pidfile" 2>/dev/null) && [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
done
pkill -u munge munged 2>/dev/null
for _ in $(seq 40); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.5
done
rm -rf "$state"
true
