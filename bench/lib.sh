# shellcheck shell=bash
# Sourced by bench/run-bench, bench/run-channels, bench/run-retention and
# bench/run-router:
# the helpers they share, for a cluster whose worker serves the database
# psql reaches through the environment.

psqlq() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# Queue a one-item batch (a key of its own, in warehouse $1, default
# ...0001) so that the launcher starts this database's worker (it stays:
# the benchmarks' clusters run with a long inventory.idle_timeout), wait
# until it is applied, and print the worker's pid.
start_worker() {
    local wh=${1:-00000000-0000-4000-8000-000000000001} b
    b=$(psqlq -c "SELECT inventory_adjust('[{\"sku\": \"bench-start\", \"warehouse_uuid\": \"$wh\", \"on_hand\": 0}]')")
    psqlq -c "SELECT inventory_wait($b)" >/dev/null
    psqlq -c "SELECT pid FROM inventory_worker_status()"
}

# Set inventory.enabled and wait until the worker has seen it: paused
# (its state, not only the launcher's view of the setting, which the
# column enabled reports as soon as the launcher has it), or enabled.
worker_enabled() {
    psqlq -c "ALTER SYSTEM SET inventory.enabled = $1" -c "SELECT pg_reload_conf()" >/dev/null
    local deadline=$((SECONDS + 30)) want="f paused"
    [ "$1" = on ] && want=t
    until [ "$(psqlq -F ' ' -c "SELECT enabled, CASE WHEN NOT enabled THEN state END FROM inventory_worker_status()" | sed 's/ $//')" = "$want" ]; do
        [ $SECONDS -lt $deadline ] || { echo "worker did not see inventory.enabled = $1" >&2; exit 1; }
        sleep 0.05
    done
}

# Wait (bounded) until the worker has applied $2 more items than $1 (its
# counters are in shared memory: polling them costs the worker nothing,
# unlike counting the queue); prints seconds waited.
drain_items() {
    local start=$1 n=$2 timeout=$3 t0 deadline
    t0=$(date +%s.%N); deadline=$((SECONDS + timeout))
    until [ "$(psqlq -c "SELECT items_applied >= $start + $n FROM inventory_worker_status()")" = t ]; do
        [ $SECONDS -lt $deadline ] || { echo "backlog not drained after $timeout s" >&2; exit 1; }
        sleep 0.05
    done
    echo "$(date +%s.%N) - $t0" | bc
}

# Drain the backlog queued while the worker was paused ($queued items),
# timed on the server's clock from before the worker is enabled to the
# commit of the round that applied the backlog's last batch (commit
# timestamps, so track_commit_timestamp = on): no round can begin before
# the timer starts, and the polling's slack does not follow the last one.
# Fails when a round of the backlog committed before the timer started
# (the worker was not paused).  Writes the seconds to $t_apply_file.
apply_timed() {
    local start mark t0 ok secs
    start=$(psqlq -c "SELECT items_applied FROM inventory_worker_status()")
    mark=$(psqlq -c "SELECT COALESCE(min(batch_id), 0) FROM inventory_queue")
    t0=$(psqlq -c "SELECT clock_timestamp()")
    worker_enabled on
    drain_items "$start" "$queued" 3600 >/dev/null
    read -r ok secs <<<"$(psqlq -F ' ' -c "
        SELECT min(pg_xact_commit_timestamp(xmin)) > '$t0',
               extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - '$t0')
          FROM inventory_batch_history WHERE batch_id >= $mark")"
    if [ "$ok" != t ]; then
        echo "a round of the backlog committed before the timer started: the worker was not paused" >&2
        exit 1
    fi
    echo "$secs" >"$t_apply_file"
}

# The median of the numbers on stdin and their spread: "M (min-max)".
stats() {
    sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                    printf "%.0f (%.0f-%.0f)\n", m, v[1], v[NR]}'
}
