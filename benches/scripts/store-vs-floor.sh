#!/usr/bin/env bash
# Times `layer-store register` and `layer-store export` as whole processes on the two ~1 GiB
# corpora (many small files, a few large files) against the floor of doing their parts one after
# the other with standard tools, and against containers-storage where it is installed:
#   register floor: openssl dgst -sha256 <tar>; tar -x <tar>; sync
#   export floor:   tar -c <extracted tree> | openssl dgst -sha256
# Prints wall time, peak RSS and the ratios (theirs / ours: above 1 means we are faster; the
# c/s rows compare with containers-storage's import-layer and diff on the same tar).
#
# Usage: benches/scripts/store-vs-floor.sh [WORKDIR] (default /var/tmp/ls-bench; the corpora
#        many.tar and single.tar are made there by benches/scripts/tar-split-vs-go.sh)
# Env:   LAYER_STORE=path/to/layer-store (default: cargo build --release), DRIVER=overlay|vfs,
#        RUNS=3
# Needs: root for the overlay driver, GNU tar, openssl, /usr/bin/time.
set -euo pipefail

work=${1:-/var/tmp/ls-bench}
runs=${RUNS:-3}
driver=${DRIVER:-overlay}
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${LAYER_STORE:-}" ]; then
    (cd "$repo" && cargo build --release --quiet -p layer-store-cli)
    bin=${CARGO_TARGET_DIR:-$repo/target}/release/layer-store
else
    bin=$LAYER_STORE
fi
for corpus in many single; do
    if [ ! -f "$work/$corpus.tar" ]; then
        echo "missing $work/$corpus.tar: run benches/scripts/tar-split-vs-go.sh $work first" >&2
        exit 1
    fi
done
cd "$work"

# Runs a command RUNS times; prints "median_wall_s max_rss_kib". $1 is a setup command run
# before each (untimed), the rest is timed.
measure() {
    local setup=$1; shift
    local walls=() rss=0
    for _ in $(seq "$runs"); do
        eval "$setup"
        # Let the writeback and discards of the previous run settle: they are not this run's.
        sync
        sleep 3
        /usr/bin/time -f '%e %M' -o time.out "$@" >/dev/null
        read -r wall kib < time.out
        walls+=("$wall")
        [ "$kib" -gt "$rss" ] && rss=$kib
    done
    printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p" | tr '\n' ' '
    echo "$rss"
}

# Removes a tree, unmounting whatever a peer left mounted under it first.
wipe() {
    grep -F " $1" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount 2>/dev/null || true
    rm -rf "$1"
}

printf '%-8s %-10s %10s %10s %12s %8s\n' corpus step ours_s floor_s ours_rss_MiB ratio
for corpus in many single; do
    tar=$work/$corpus.tar
    root=$work/store-$corpus
    want=$(sha256sum < "$tar" | cut -d' ' -f1)
    read -r reg_s reg_rss < <(measure "wipe $root; mkdir -p $root" \
        "$bin" --root "$root" --driver "$driver" register "$tar")
    # The floor: hash, then extract, then sync, one after the other.
    read -r flr_s _ < <(measure "wipe floor-x; mkdir floor-x" \
        sh -c "openssl dgst -sha256 '$tar' >/dev/null && tar -xf '$tar' -C floor-x && sync")
    chain=$("$bin" --root "$root" ls | head -n 1 | cut -d' ' -f1)
    got=$("$bin" --root "$root" export "$chain" | sha256sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "EXPORT MISMATCH on $corpus" >&2; exit 1; }
    read -r exp_s exp_rss < <(measure ":" "$bin" --root "$root" export "$chain" -o /dev/null)
    read -r fle_s _ < <(measure ":" bash -c "tar -C floor-x -cf - . | openssl dgst -sha256")
    printf '%-8s %-10s %10s %10s %12s %8.2f\n' "$corpus" register "$reg_s" "$flr_s" \
        "$((reg_rss / 1024))" "$(echo "$flr_s / $reg_s" | bc -l)"
    printf '%-8s %-10s %10s %10s %12s %8.2f\n' "$corpus" export "$exp_s" "$fle_s" \
        "$((exp_rss / 1024))" "$(echo "$fle_s / $exp_s" | bc -l)"
    if command -v containers-storage >/dev/null 2>&1 && [ "$driver" = overlay ]; then
        cs=$work/cs-$corpus
        csid=$(printf 'b%.0s' $(seq 64))
        csopts=(--graph "$cs/graph" --run "$cs/run" --storage-driver overlay)
        read -r cs_reg cs_rss < <(measure "wipe $cs; mkdir -p $cs" containers-storage \
            import-layer "${csopts[@]}" --id "$csid" --file "$tar")
        read -r cs_exp _ < <(measure ":" containers-storage diff "${csopts[@]}" -u \
            --file /dev/null "$csid")
        printf '%-8s %-10s %10s %10s %12s %8.2f\n' "$corpus" "c/s reg" "$reg_s" "$cs_reg" \
            "$((cs_rss / 1024))" "$(echo "$cs_reg / $reg_s" | bc -l)"
        printf '%-8s %-10s %10s %10s %12s %8.2f\n' "$corpus" "c/s exp" "$exp_s" "$cs_exp" "-" \
            "$(echo "$cs_exp / $exp_s" | bc -l)"
        containers-storage shutdown "${csopts[@]}" >/dev/null 2>&1 || true
        wipe "$cs"
    fi
    "$bin" --root "$root" rm "$chain" >/dev/null
done
wipe floor-x
rm -f time.out
