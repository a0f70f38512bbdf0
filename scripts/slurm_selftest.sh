#!/usr/bin/env bash
# A one-node SLURM cluster on this machine runs scripts/slurm_grade.sbatch for real: the job array grades
# the bundled sample class in shards, one task is rerun alone, `autograder merge` joins the shards, and the
# merged grades.csv must equal, byte for byte, an unsharded `autograder grade-batch` of the same class.
# Prints the times it measured.
#
#   make slurm-selftest        # or: bash scripts/slurm_selftest.sh
#
# Needs root on Debian or Ubuntu: it installs slurmctld, slurmd and munge with apt-get when they are
# missing (keeping their services from starting), and runs its own munged, slurmctld and slurmd as root
# with every file they write in one temporary folder and their own ports. On every exit the cluster is
# torn down: jobs cancelled, daemons stopped, the folder removed. Exits 0 when the grades agree, 1 when
# anything fails or differs, 77 when it cannot run here (not root, no apt, daemons that do not start),
# saying why.
#
# ASSIGNMENT (default 01_rnn), SHARDS (the array's size, default 8: more than this class fills, so one
# task grades nobody) and SLURM_SELFTEST_TIMEOUT (seconds the jobs may take, default 600) change it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
ASSIGNMENT=${ASSIGNMENT:-01_rnn}
SHARDS=${SHARDS:-8}
TIMEOUT=${SLURM_SELFTEST_TIMEOUT:-600}
SUBMITTED=$ROOT/examples/submitted
AUTOGRADER=$ROOT/.venv/bin/autograder

say() { printf '== %s\n' "$*"; }
skip() { printf 'SKIP slurm self-test: %s\n' "$*" >&2; exit 77; }
fail() { printf 'FAIL slurm self-test: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || skip "needs root (it installs packages and runs the SLURM daemons as root)"
[ -x "$AUTOGRADER" ] || fail "no $AUTOGRADER: run make .venv/.installed first"
[ -d "$SUBMITTED" ] || fail "no sample class at $SUBMITTED"

WORK=""
JOBS=()
POLICY_RC=""
teardown() {
    local status=$?
    trap - EXIT INT TERM
    [ -n "$POLICY_RC" ] && rm -f "$POLICY_RC"
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        local started=$EPOCHREALTIME
        if [ ${#JOBS[@]} -gt 0 ]; then
            scancel "${JOBS[@]}" 2>/dev/null
            for _ in $(seq 60); do
                [ -z "$(squeue -h -j "$(IFS=,; echo "${JOBS[*]}")" 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
        [ -s "$WORK/slurmctld.pid" ] && scontrol shutdown >/dev/null 2>&1
        stop_pidfile "$WORK/slurmd.pid"
        stop_pidfile "$WORK/slurmctld.pid"
        # A job step or grader left behind by a daemon stopped mid-job carries this cluster's SLURM_CONF.
        stop_marked "SLURM_CONF=$WORK/slurm.conf"
        stop_pidfile "$WORK/munge/munged.pid"
        rm -rf "$WORK"
        printf '  teardown      %6s s  (jobs, slurmd, slurmctld, munged, %s)\n' "$(since "$started")" "$WORK"
    fi
    exit "$status"
}
stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    stop_pids "$pid"
}
stop_pids() {
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$@" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$@" 2>/dev/null
}
stop_marked() {
    local environ pid pids=()
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        [ "$pid" = $$ ] && continue
        if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "$1"; then
            pids+=("$pid")
        fi
    done
    stop_pids "${pids[@]}"
}
trap teardown EXIT
trap 'exit 1' INT TERM

# -- set-up: the packages, once
started=$EPOCHREALTIME
missing=()
for tool in munged munge unmunge slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "${missing[*]} missing and no apt-get to install them"
    say "installing slurmctld slurmd munge (missing: ${missing[*]})"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # The packages' own services must not start: this test runs its daemons itself, and stops them.
        POLICY_RC=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC" && chmod 755 "$POLICY_RC"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || skip "apt-get update failed (no network or no package index?)"
    apt-get install -y -q --no-install-recommends slurmctld slurmd munge >/dev/null \
        || skip "apt-get install slurmctld slurmd munge failed"
    [ -n "$POLICY_RC" ] && rm -f "$POLICY_RC" && POLICY_RC=""
fi
install_s=$(since "$started")

# -- the reference: one unsharded batch of the same class
WORK=$(mktemp -d /tmp/slurm-selftest.XXXXXX)
cpus=$(nproc)
say "unsharded: autograder grade-batch examples/submitted -a $ASSIGNMENT --workers $cpus"
started=$EPOCHREALTIME
"$AUTOGRADER" grade-batch "$SUBMITTED" -a "$ASSIGNMENT" -o "$WORK/whole" --workers "$cpus" -q \
    >"$WORK/whole.log" 2>&1 || { cat "$WORK/whole.log"; fail "the unsharded grade-batch failed"; }
unsharded_s=$(since "$started")

# -- the cluster: munged, slurmctld and slurmd, every file under $WORK
say "starting a one-node SLURM cluster in $WORK"
started=$EPOCHREALTIME
# munged wants its key private and every folder above its socket searchable by all.
chmod 755 "$WORK"
mkdir -p "$WORK/munge" "$WORK/munge-key" "$WORK/state" "$WORK/spool" "$WORK/graded"
chmod 700 "$WORK/munge-key"
head -c 1024 /dev/urandom >"$WORK/munge-key/munge.key"
chmod 400 "$WORK/munge-key/munge.key"
SOCKET=$WORK/munge/munge.socket
munged --key-file="$WORK/munge-key/munge.key" --socket="$SOCKET" --pid-file="$WORK/munge/munged.pid" \
    --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed" \
    || skip "munged does not start here: $(tail -n 3 "$WORK/munge/munged.log" 2>/dev/null)"
munge -S "$SOCKET" -n | unmunge -S "$SOCKET" >/dev/null || skip "munge cannot encode and decode a credential here"

free_port() { "$ROOT/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=... RealMemory=...: this machine as slurmd sees it
host=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node")
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
{ [ -n "$host" ] && [ -n "$memory" ]; } || skip "slurmd -C does not describe this machine: $node"
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=selftest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
PlugStackConfig=$WORK/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=selftest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
: >"$WORK/plugstack.conf"
slurmctld -f "$SLURM_CONF" || skip "slurmctld does not start here: $(tail -n 5 "$WORK/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || skip "slurmd does not start here: $(tail -n 5 "$WORK/slurmd.log" 2>/dev/null)"
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || skip "the node is not idle after 60 s (state: ${state:-none}): $(tail -n 5 "$WORK/slurmd.log")"
cluster_s=$(since "$started")

# The jobs are submitted as the README does, with one CPU a task and the node's memory shared between
# them (the script asks for 8 CPUs and 24G, more than a small machine has).
deadline=$((SECONDS + TIMEOUT))
submit() {  # submit ARRAY LOG_PREFIX [VAR=VALUE...]: the job's id
    local array=$1 prefix=$2 id
    shift 2
    id=$(env "$@" ASSIGNMENT="$ASSIGNMENT" SUBMITTED="$SUBMITTED" GRADED="$WORK/graded" \
         sbatch --parsable --array="$array" --cpus-per-task=1 --mem="$((memory / cpus))M" \
                --output="$WORK/graded/$prefix-%A_%a.log" scripts/slurm_grade.sbatch) || return 1
    echo "${id%%;*}"
}
wait_for() {
    while [ -n "$(squeue -h -j "$1" -o %i)" ]; do
        [ $SECONDS -lt $deadline ] || fail "job $1 is not done after $TIMEOUT s: $(squeue -h -j "$1")"
        sleep 1
    done
}
# Accounting is off (no slurmdbd, so no sacct): each task's end comes from slurmctld's record of it.
task_states() {  # one line a task: ID STATE EXIT_CODE
    scontrol -o show job "$1" \
        | sed -n 's/.*ArrayTaskId=\([0-9]*\) .*JobState=\([A-Z_]*\) .*ExitCode=\([0-9:]*\) .*/\1 \2 \3/p' | sort -n
}
check_tasks() {  # check_tasks JOB COUNT LOG_PREFIX
    local tasks log
    tasks=$(task_states "$1")
    printf '%s\n' "$tasks" | sed 's/^/   task /'
    if [ "$(grep -c ' COMPLETED 0:0$' <<<"$tasks")" != "$2" ]; then
        for log in "$WORK/graded/$3"-*.log "$WORK/slurmd.log"; do
            printf -- '-- %s\n' "${log##*/}"
            tail -n 20 "$log"
        done
        fail "not every task of job $1 completed with exit code 0"
    fi
}

say "sbatch --array=1-$SHARDS scripts/slurm_grade.sbatch"
started=$EPOCHREALTIME
JOBS+=("$(submit "1-$SHARDS" slurm)")
[ -n "${JOBS[0]}" ] || fail "sbatch refused the job array"
wait_for "${JOBS[0]}"
array_s=$(since "$started")
check_tasks "${JOBS[0]}" "$SHARDS" slurm

# -- one task again, as a rerun after a failure is submitted: it finds its shard graded and grades nothing
rerun=""
for k in $(seq "$SHARDS"); do
    compgen -G "$WORK/graded/$ASSIGNMENT/shard-$k/*/$ASSIGNMENT/results.json" >/dev/null && rerun=$k && break
done
[ -n "$rerun" ] || fail "no shard holds a results.json"
shard_results() { cat "$WORK/graded/$ASSIGNMENT/shard-$1"/*/"$ASSIGNMENT"/results.json | sha256sum; }
before=$(shard_results "$rerun")  # a regraded submission's results.json has a new run time
say "rerun: SHARDS=$SHARDS sbatch --array=$rerun (task $rerun again, alone)"
started=$EPOCHREALTIME
JOBS+=("$(submit "$rerun" rerun SHARDS="$SHARDS")")
[ -n "${JOBS[1]}" ] || fail "sbatch refused the rerun"
wait_for "${JOBS[1]}"
rerun_s=$(since "$started")
check_tasks "${JOBS[1]}" 1 rerun
[ "$(shard_results "$rerun")" = "$before" ] \
    || { cat "$WORK"/graded/rerun-*.log; fail "the rerun of task $rerun graded its shard again"; }

# -- merge the shards, then compare with the unsharded run
started=$EPOCHREALTIME
"$AUTOGRADER" merge "$WORK/graded/$ASSIGNMENT"/shard-* -o "$WORK/graded/$ASSIGNMENT/all" -a "$ASSIGNMENT" \
    >"$WORK/merge.log" 2>&1 || { cat "$WORK/merge.log"; fail "autograder merge failed"; }
merge_s=$(since "$started")
whole=$WORK/whole/grades.csv
merged=$WORK/graded/$ASSIGNMENT/all/grades.csv
listing() { (cd "$1" && ls -- */"$ASSIGNMENT"/results.json); }
status=0
if ! cmp -s "$whole" "$merged"; then
    diff -u "$whole" "$merged"
    status=1
fi
if [ "$(listing "$WORK/whole")" != "$(listing "$WORK/graded/$ASSIGNMENT/all")" ]; then
    diff <(listing "$WORK/whole") <(listing "$WORK/graded/$ASSIGNMENT/all")
    status=1
fi
students=$(($(wc -l <"$whole") - 1))

printf '\nslurm self-test: %s, %s students, %s shards, %s CPUs\n' "$ASSIGNMENT" "$students" "$SHARDS" "$cpus"
printf '  packages      %6s s\n' "$install_s"
printf '  unsharded     %6s s  (grade-batch, %s workers)\n' "$unsharded_s" "$cpus"
printf '  cluster start %6s s  (munged, slurmctld, slurmd, until sinfo says idle)\n' "$cluster_s"
printf '  job array     %6s s  (sbatch until squeue is empty)\n' "$array_s"
printf '  rerun         %6s s  (one task, nothing left to grade)\n' "$rerun_s"
printf '  merge         %6s s\n' "$merge_s"
[ $status -eq 0 ] || fail "the merged grades differ from the unsharded ones"
echo "OK: the merged grades.csv equals the unsharded one byte for byte, with the same results.json files"
