#!/usr/bin/env bash
# Checks scripts/openmpi-bundle's tree the way a GPU host without Debian's packages would use
# it: in a private mount namespace (unshare -m; root) where the system's Open MPI and PMIx are
# hidden (their folders and libraries covered by empty ones), a 2-rank job of PROGRAM runs from
# the bundle, and no process of the job looks at the system's Open MPI or PMIx paths (strace).
#
#   tests/gpu/openmpi_bundle_check.sh OPENMPI_BUNDLE_SCRIPT PROGRAM [ARGS...]
#
# "@TMP@" in an argument becomes this check's temporary folder (removed at the end).
#
# Exit status: PROGRAM's (77 = skipped passes through), 1 when a system path was looked at,
# 77 when this machine cannot make a mount namespace or has no Open MPI.
set -euo pipefail
bundle_script=$1
shift
[ -x /usr/bin/orterun ] || { echo "SKIP: no Open MPI here (openmpi-bin)"; exit 77; }
command -v strace > /dev/null || { echo "SKIP: no strace"; exit 77; }
strace -f -qq -o /dev/null true 2> /dev/null || { echo "SKIP: strace cannot trace here (ptrace refused)"; exit 77; }
unshare -m true 2> /dev/null || { echo "SKIP: cannot make a mount namespace (needs root)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bundle_script" "$dir" > /dev/null
args=()
for a in "$@"; do args+=("${a//@TMP@/$dir}"); done

cat > "$dir/hidden.sh" <<'EOF'
set -euo pipefail
dir=$1
shift
empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT
skip() {
  echo "SKIP: cannot bind-mount in the mount namespace (a container without CAP_SYS_ADMIN?)"
  exit 77
}
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi \
  /etc/openmpi; do
  if [ -d "$d" ]; then mount --bind "$empty" "$d" || skip; fi
done
for f in /usr/lib/x86_64-linux-gnu/lib{mpi,open-rte,open-pal}.so.40 \
  /usr/lib/x86_64-linux-gnu/libpmix.so.2 /usr/bin/orterun /usr/bin/orted; do
  if [ -e "$f" ]; then mount --bind /dev/null "$(readlink -f "$f")" || skip; fi
done
# a GPU host has no system Open MPI on its PATH either (meson adds its lib folder here)
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -E 'openmpi|pmix' | paste -sd: -)
. "$dir/openmpi/env.sh"
rc=0
strace -f -qq -e trace=%file -o "$dir/trace" \
  mpirun --oversubscribe --allow-run-as-root -np 2 "$@" || rc=$?
# The system's Open MPI / PMIx paths looked at, found or not: a path that still points at /usr.
# (The program's own RUNPATH may name Open MPI's lib folder: the dynamic loader's search there
# for other libraries, libstdc++ or OpenCV, is not Open MPI's.)
system='"/(usr|etc|lib)[^"]*(openmpi|pmix|libmpi|libopen-(rte|pal))'
others='/lib[^/"]*\.so[^/"]*"'
# ... and its probes of that folder's hardware-capability subfolders
loader='/openmpi/lib(/(glibc-hwcaps|tls|haswell|avx512_1|x86_64|x86-64-v[0-9]))*"'
ours='/(libmpi|libopen-rte|libopen-pal|libpmix|libmca_|libompi|liboshmem)[^/"]*"'
bad=$(grep -E "$system" "$dir/trace" | grep -E -v "$others" | grep -E -v "$loader" || true)
bad+=$(grep -E "$system" "$dir/trace" | grep -E "$ours" || true)
if [ -n "$bad" ]; then
  echo "FAIL: the system's Open MPI / PMIx was looked at:"
  printf '%s\n' "$bad" | head -20
  exit 1
fi
echo "openmpi bundle: $(grep -c "$dir/openmpi" "$dir/trace") lookups in the bundle, none in the system's Open MPI"
exit $rc
EOF
unshare -m bash "$dir/hidden.sh" "$dir" "${args[@]}"
