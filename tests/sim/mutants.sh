#!/usr/bin/env bash
# mutants.sh — proves the simulation catches real core bugs: copies node/raft into a
# temporary directory, plants one classic Raft bug at a time (a sed on the copy; the
# source tree is never touched), builds raft_sim against the mutant and expects failing
# seeds. A mutant whose pattern no longer matches the core is reported as SKIP (the core
# changed), not as a failure. Not a ctest: the patterns follow the core's text.
#
#   tests/sim/mutants.sh [SEEDS]      (default 300 seeds of 3 nodes, then 5 nodes)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
seeds=${1:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# mutant NAME FILE SED-EXPRESSION WHAT
names=() files=() exprs=() whats=()
mutant() {
    names+=("$1") files+=("$2") exprs+=("$3") whats+=("$4")
}
mutant commit-old-term replication.c \
    's/if (raft_log_term(&r->log, mci, &t) != 0 || t != r->term)/if (raft_log_term(\&r->log, mci, \&t) != 0)/' \
    "§5.4.2: commits an older term's entry by counting replicas"
mutant commit-unpersisted replication.c \
    's/r->prog\[i\].match = r->log.persisted < last ? r->log.persisted : last;/r->prog[i].match = last;/' \
    "the leader counts its own entries before they are durable"
mutant quorum-half raft.c \
    's/return r->conf.n_voters \/ 2 + 1;/return r->conf.n_voters \/ 2;/' \
    "a quorum one short of a majority"
mutant vote-any-log election.c \
    's/if (can_vote && raft_log_is_up_to_date(&r->log, m->index, m->log_term)) {/if (can_vote) {/' \
    "§5.4.1: votes for a candidate with a stale log"
mutant vote-twice election.c \
    's/bool can_vote = r->vote == m->from ||/bool can_vote = true ||/' \
    "§5.2: more than one vote per term"
mutant read-before-commit readindex.c \
    '0,/if (!raft_committed_in_term(r)) {/s//if (0) {/' \
    "§6.4: ReadIndex before the leader committed in its term"
mutant vote-early raft.c \
    '/static bool raft_msg_is_early/,/^}/s/return false;/return true;/' \
    "every message, votes and acks included, leaves before the fsync"
mutant stale-term-append election.c \
    '/void raft_step_common/,/^}/s/} else if (m->term < r->term) {/} else if (m->term < r->term \&\& m->type != RAFT_MSG_APPEND) {/' \
    "§5.1: a follower accepts appends from a deposed leader's older term"

mutant append-truncates-match replication.c \
    's/for (; i < m->n_entries; i++)/for (; 0 \&\& i < m->n_entries; i++)/' \
    "§5.3: a late, shorter append truncates entries that matched"
mutant heartbeat-full-commit replication.c \
    's/uint64_t commit = p->match < r->log.commit ? p->match : r->log.commit;/uint64_t commit = r->log.commit;/' \
    "heartbeats tell followers to commit entries they may not hold"
# Tried and not caught in 11000 seeds, because the core masks them (left out):
# - a follower committing to the leader's commit uncapped by its last new entry: the
#   fast backtracking always probes at the divergence point, so the first new entry
#   conflicts and the stale tail goes before any commit;
# - believing a stale raft_persisted report: writes complete in order, so the stale
#   belief lasts one fsync, and a node cannot win an election inside it (its vote
#   requests wait for a later write).

sources="$root/tests/sim/sim.c $root/tests/sim/raft_sim.c $root/tools/common/lt_err.c"
caught=0
missed=0
skipped=0
for i in "${!names[@]}"; do
    name=${names[$i]} file=${files[$i]} expr=${exprs[$i]} what=${whats[$i]}
    rm -rf "$tmp/raft" && cp -r "$root/node/raft" "$tmp/raft"
    sed -i "$expr" "$tmp/raft/$file"
    if cmp -s "$root/node/raft/$file" "$tmp/raft/$file"; then
        echo "SKIP   $name: pattern not found in $file"
        skipped=$((skipped + 1))
        continue
    fi
    if ! gcc -std=c11 -O2 -D_GNU_SOURCE -w -I"$tmp/raft" -I"$root/tests/sim" \
        -I"$root/tools/common" -o "$tmp/raft_sim" $sources "$tmp"/raft/*.c 2>"$tmp/cc.log"; then
        echo "SKIP   $name: mutant does not build"
        skipped=$((skipped + 1))
        continue
    fi
    out3=$("$tmp/raft_sim" --seeds "$seeds" --nodes 3 2>/dev/null)
    out5=$("$tmp/raft_sim" --seeds "$seeds" --nodes 5 --seed-start 100001 2>/dev/null)
    f3=$(echo "$out3" | tail -1 | sed -n 's/.* passed, \([0-9]*\) failed/\1/p')
    f5=$(echo "$out5" | tail -1 | sed -n 's/.* passed, \([0-9]*\) failed/\1/p')
    first=$(printf '%s\n%s\n' "$out3" "$out5" | grep -m1 '^FAIL' | sed 's/.*): //' | cut -c1-110)
    if [ "${f3:-0}" -gt 0 ] || [ "${f5:-0}" -gt 0 ]; then
        echo "CAUGHT $name ($what): $f3/$seeds 3-node, $f5/$seeds 5-node seeds fail; e.g. $first"
        caught=$((caught + 1))
    else
        echo "MISSED $name ($what)"
        missed=$((missed + 1))
    fi
done
echo "$caught caught, $missed missed, $skipped skipped"
[ "$missed" -eq 0 ]
