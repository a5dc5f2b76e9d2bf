#!/usr/bin/env bash
# Times tar-split-rs against the Go tar-split on two ~1 GiB archives generated here:
#   many:   ~75k small files (log-normal sizes, median ~2 KiB, like a /usr tree), GNU tar
#   single: a few large random files, GNU tar
# For each: `disasm --no-stdout` and `asm --output /dev/null`, median of 3 runs of wall time,
# CPU time and peak RSS (GNU time), then a table with the ratios. Both tools' round trips are
# checked byte for byte first.
#
# Usage: benches/scripts/tar-split-vs-go.sh [WORKDIR]   (default /var/tmp/ls-bench)
# Env:   TAR_SPLIT_RS=path/to/tar-split-rs   (default: builds it with `cargo build --release`)
#        GO_TAR_SPLIT=path/to/tar-split      (default: tar-split on PATH)
#        RUNS=3                              (runs per measurement)
# Needs: GNU tar, python3, /usr/bin/time, sha256sum. Uses ~4.5 GiB of disk under WORKDIR.
set -euo pipefail

work=${1:-/var/tmp/ls-bench}
runs=${RUNS:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
go_bin=${GO_TAR_SPLIT:-$(command -v tar-split || true)}
if [ -z "$go_bin" ]; then
    echo "the Go tar-split is not installed (Debian package tar-split)" >&2
    exit 1
fi
if [ -z "${TAR_SPLIT_RS:-}" ]; then
    (cd "$repo" && cargo build --release --quiet -p tar-split --bin tar-split-rs)
    rs_bin=${CARGO_TARGET_DIR:-$repo/target}/release/tar-split-rs
else
    rs_bin=$TAR_SPLIT_RS
fi
if [ "$(stat -c %F /dev/null)" != "character special file" ]; then
    # Some atomic writer renamed a file over it: timings would measure disk writes.
    echo "/dev/null is not a character device (restore it: rm /dev/null; mknod -m 666 /dev/null c 1 3)" >&2
    exit 1
fi
mkdir -p "$work"
cd "$work"

# --- Corpus -------------------------------------------------------------------------------
if [ ! -f many.tar ]; then
    echo "generating ~75k small files in $work/many ..." >&2
    rm -rf many
    python3 - many <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
n_files = 75000
# Log-normal sizes: median 2 KiB, mean ~14 KiB (a long tail, capped at 8 MiB): ~1 GiB in all.
sizes = [min(int(rng.lognormvariate(7.62, 1.97)), 8 << 20) for _ in range(n_files)]
print("%d files, %d bytes, median %d" % (n_files, sum(sizes), sorted(sizes)[n_files // 2]), file=sys.stderr)
# Content: half random (incompressible), half text-like, drawn from one pool so generation is fast.
pool = os.urandom(8 << 20) + bytes(rng.choice(b"abcdefghij klmnop\n") for _ in range(1 << 20))
for i, size in enumerate(sizes):
    d = os.path.join(root, "d%03d" % (i // 300), "s%02d" % (i % 300 // 50))
    if i % 50 == 0:
        os.makedirs(d, exist_ok=True)
    off = rng.randrange(0, len(pool) - min(size, len(pool) - 1) - 1) if size < len(pool) else 0
    data = pool[off:off + size]
    while len(data) < size:
        data += pool[:size - len(data)]
    with open(os.path.join(d, "file%05d.%s" % (i, rng.choice(["so", "h", "py", "txt", "gz", ""]))), "wb") as f:
        f.write(data)
PY
    tar --format=gnu --sort=name -cf many.tar -C many .
fi
if [ ! -f single.tar ]; then
    echo "generating 4 x 256 MiB random files in $work/single ..." >&2
    rm -rf single && mkdir -p single
    for i in 1 2 3 4; do head -c $((256 << 20)) /dev/urandom > "single/big$i.bin"; done
    tar --format=gnu --sort=name -cf single.tar -C single .
fi

# --- Correctness first ----------------------------------------------------------------------
for corpus in many single; do
    want=$(sha256sum < "$corpus.tar" | cut -d' ' -f1)
    "$rs_bin" disasm --no-stdout --output "$corpus.rs.json.gz" "$corpus.tar"
    "$go_bin" disasm --no-stdout --output "$corpus.go.json.gz" "$corpus.tar" 2>/dev/null
    for pair in "rs:$rs_bin:rs" "go:$go_bin:go" "rs:$rs_bin:go" "go:$go_bin:rs"; do
        IFS=: read -r tool bin meta <<<"$pair"
        got=$("$bin" asm --input "$corpus.$meta.json.gz" --path "$corpus" --output - 2>/dev/null | sha256sum | cut -d' ' -f1)
        if [ "$got" != "$want" ]; then
            echo "ROUND TRIP FAILED: $corpus, $tool asm of $meta metadata" >&2
            exit 1
        fi
    done
    # Go before 0.11.4 (Debian ships 0.11.2) ends with an empty segment that v0.12.1 and we omit.
    if cmp -s <(zcat "$corpus.rs.json.gz") \
        <(zcat "$corpus.go.json.gz" | sed '${/^{"type":2,"payload":"","position":[0-9]*}$/d}'); then
        same="identical (less Go 0.11's final empty segment)"
    else
        same="DIFFERENT"
    fi
    echo "$corpus: round trips byte-exact both ways; JSON $same; metadata gz: rs $(stat -c %s "$corpus.rs.json.gz") B, go $(stat -c %s "$corpus.go.json.gz") B" >&2
done

# --- Timing -----------------------------------------------------------------------------------
# measure CMD...: runs CMD $runs times, prints the medians of wall seconds, max RSS (KiB) and
# CPU seconds (user + system). On a shared machine the CPU time is the steadier figure.
measure() {
    local walls=() rsss=() cpus=() i out
    for ((i = 0; i < runs; i++)); do
        out=$(/usr/bin/time -f "%e %M %U %S" "$@" 2>&1 >/dev/null | tail -1)
        read -r w m u s <<<"$out"
        walls+=("$w")
        rsss+=("$m")
        cpus+=("$(awk "BEGIN { print $u + $s }")")
    done
    local mid=$(((runs + 1) / 2))
    printf '%s %s %s\n' \
        "$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "${mid}p")" \
        "$(printf '%s\n' "${rsss[@]}" | sort -g | sed -n "${mid}p")" \
        "$(printf '%s\n' "${cpus[@]}" | sort -g | sed -n "${mid}p")"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '\n%-7s %-7s %18s %18s %9s %9s %8s %8s\n' \
    corpus verb "go wall/cpu" "rs wall/cpu" "go RSS" "rs RSS" "speedup" "cpu x"
for corpus in many single; do
    bytes=$(stat -c %s "$corpus.tar")
    cat "$corpus.tar" > /dev/null # warm the page cache
    read -r cw _ _ < <(measure cat "$corpus.tar")
    printf '%-7s %-7s %18s (reading the tar: the floor)\n' "$corpus" cat "${cw}s"
    for verb in disasm asm; do
        if [ $verb = disasm ]; then
            read -r gw gr gc < <(measure "$go_bin" disasm --no-stdout --output "$work/t.go.json.gz" "$corpus.tar")
            read -r rw rr rc < <(measure "$rs_bin" disasm --no-stdout --output "$work/t.rs.json.gz" "$corpus.tar")
        else
            read -r gw gr gc < <(measure "$go_bin" asm --input "$corpus.go.json.gz" --path "$corpus" --output /dev/null)
            read -r rw rr rc < <(measure "$rs_bin" asm --input "$corpus.rs.json.gz" --path "$corpus" --output /dev/null)
        fi
        python3 - "$corpus" "$verb" "$bytes" "$gw" "$gr" "$gc" "$rw" "$rr" "$rc" <<'PY'
import sys
c, v, b, gw, gr, gc, rw, rr, rc = sys.argv[1:]
gw, gc, rw, rc = float(gw), float(gc), float(rw), float(rc)
ratio = lambda a, b: "%7.2fx" % (a / b) if b > 0 else "    inf"
print("%-7s %-7s %18s %18s %6.1fMiB %6.1fMiB %8s %8s   (%.0f vs %.0f MB/s)" % (
    c, v, "%.2fs/%.2fs" % (gw, gc), "%.2fs/%.2fs" % (rw, rc),
    int(gr) / 1024, int(rr) / 1024, ratio(gw, rw), ratio(gc, rc),
    int(b) / 1e6 / gw if gw else 0, int(b) / 1e6 / rw if rw else 0))
PY
    done
done
rm -f "$work/t.go.json.gz" "$work/t.rs.json.gz"
