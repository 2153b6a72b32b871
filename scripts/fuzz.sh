#!/usr/bin/env bash
# Fuzzes the two parsers of untrusted input with libFuzzer + ASan + UBSan:
# the event-contract decoder (domain/contract.cpp) and the search-request
# parser (api/search_request.cpp). See docs/fuzzing.md.
#
#   scripts/fuzz.sh [seconds-per-target]        (default 60)
#
# Installs clang-14 + libFuzzer (and the few libraries the targets link)
# from Debian when missing, builds fuzz/ into build-fuzz/, replays earlier
# crash artifacts, runs each target for the given time (both at once when
# there are >= 2 cores), prints exec/s, coverage and crashes, and exits
# non-zero if any target crashed (artifacts: build-fuzz/crashes/<target>/).
#
# Environment:
#   FUZZ_CXX=clang++-14      compiler (needs -fsanitize=fuzzer)
#   FUZZ_BUILD_DIR=build-fuzz
#   FUZZ_TARGETS="event_decoder search_request"
#   FUZZ_ARGS="..."          extra libFuzzer flags for every target
#   FUZZ_COVERAGE=0          skip the llvm-cov source coverage report
#   FUZZ_REGEN_SEEDS=1       rewrite fuzz/corpus/ with build-fuzz/seed_gen
#
# The committed seeds (fuzz/corpus/<target>/) are read only; what the fuzzer
# learns goes to build-fuzz/corpus/<target>/ and is reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi
cxx=${FUZZ_CXX:-clang++-14}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(${FUZZ_TARGETS:-event_decoder search_request})
extra=(${FUZZ_ARGS:-})
llvm_suffix=${cxx#clang++}   # "-14" for clang++-14, "" for clang++

# --- toolchain and libraries (Debian packages) ------------------------------
pkgs=(clang-14 libclang-rt-14-dev llvm-14 cmake make pkg-config
      libsimdjson-dev nlohmann-json3-dev libcaf-dev librdkafka-dev
      libspdlog-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long)
           { return 0; }' \
     | "$cxx" -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null \
       2>/dev/null; then
  echo "fuzz: $cxx cannot link -fsanitize=fuzzer (libclang-rt-14-dev?)" >&2
  exit 1
fi

# --- build -------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$build" -j"$jobs"

# --- seeds -------------------------------------------------------------------
need_seeds=${FUZZ_REGEN_SEEDS:-0}
for t in "${targets[@]}"; do
  [ -n "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ] || need_seeds=1
done
if [ "$need_seeds" = 1 ]; then
  rm -rf fuzz/corpus
  "$build/seed_gen" fuzz/corpus
fi

# --- replay earlier crashes --------------------------------------------------
# Artifacts that no longer reproduce (fixed) move to crashes/<t>/fixed/.
artifacts() { # <dir>
  find "$1" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
       -o -name 'oom-*' \) 2>/dev/null | sort
}
for t in "${targets[@]}"; do
  dir="$build/crashes/$t"
  mkdir -p "$dir" "$build/corpus/$t" "$build/logs"
  for a in $(artifacts "$dir"); do
    if "$build/${t}_fuzz" -timeout=30 "$a" >"$build/logs/replay.log" 2>&1; then
      mkdir -p "$dir/fixed"
      mv "$a" "$dir/fixed/"
      echo "fuzz: $t: $(basename "$a") no longer reproduces -> fixed/"
    else
      echo "fuzz: $t: $(basename "$a") still reproduces"
    fi
  done
done

# --- run ---------------------------------------------------------------------
run_target() { # <target>
  local t=$1 max_len
  case $t in
    event_decoder) max_len=1100000 ;; # events up to 1 MiB, and oversize ones
    *) max_len=40960 ;;               # 8192-character queries fit
  esac
  local start=$SECONDS status=0
  # -timeout: a single input taking 30 s is a hang. Leak checks are on.
  "$build/${t}_fuzz" "$build/corpus/$t" "fuzz/corpus/$t" \
    -dict="fuzz/$t.dict" -max_len=$max_len -max_total_time="$secs" \
    -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$t/" "${extra[@]}" \
    >"$build/logs/$t.log" 2>&1 || status=$?
  echo $((SECONDS - start)) >"$build/logs/$t.seconds"
  return $status
}

echo "fuzz: running ${targets[*]} for ${secs}s each (logs: $build/logs/)"
declare -A rc
if [ "$jobs" -ge 2 ]; then
  declare -A pid
  for t in "${targets[@]}"; do
    run_target "$t" &
    pid[$t]=$!
  done
  for t in "${targets[@]}"; do
    rc[$t]=0
    wait "${pid[$t]}" || rc[$t]=$?
  done
else
  for t in "${targets[@]}"; do
    rc[$t]=0
    run_target "$t" || rc[$t]=$?
  done
fi

# --- report ------------------------------------------------------------------
failed=0
printf '\n%-16s %8s %10s %7s %7s %6s %8s  %s\n' target seconds execs exec/s \
  cov ft corpus result
# seconds: wall time of the run (shorter than asked when it stopped at a
# crash); cov: instrumented edges reached; ft: libFuzzer features.
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  stat() { grep -a "^stat::$1:" "$log" | awk '{print $2}' | tail -1; }
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  found=$(artifacts "$build/crashes/$t")
  result=ok
  if [ "${rc[$t]}" -ne 0 ] || [ -n "$found" ]; then
    result="CRASH (exit ${rc[$t]})"
    failed=1
  fi
  printf '%-16s %8s %10s %7s %7s %6s %8s  %s\n' "$t" \
    "$(cat "$build/logs/$t.seconds" 2>/dev/null || echo ?)" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
for t in "${targets[@]}"; do
  found=$(artifacts "$build/crashes/$t")
  if [ -z "$found" ] && [ "${rc[$t]}" -eq 0 ]; then
    continue
  fi
  echo
  echo "== $t: crash report ($build/logs/$t.log)"
  grep -aE 'invariant violated|decode error:|threw|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
    "$build/logs/$t.log" | head -20 || true
  for a in $found; do
    echo "   artifact: $a   (replay: $build/${t}_fuzz $a)"
  done
done

# --- source coverage of the fuzzed code (llvm-cov) ---------------------------
if [ "${FUZZ_COVERAGE:-1}" = 1 ] && command -v "llvm-cov$llvm_suffix" \
     >/dev/null; then
  echo
  echo "fuzz: source coverage of the corpora (llvm-cov$llvm_suffix report)"
  for t in "${targets[@]}"; do
    prof="$build/coverage/$t"
    rm -rf "$prof"
    mkdir -p "$prof"
    LLVM_PROFILE_FILE="$prof/%p.profraw" "$build/${t}_cov" -runs=0 \
      "$build/corpus/$t" "fuzz/corpus/$t" >"$prof/run.log" 2>&1 || true
    "llvm-profdata$llvm_suffix" merge -sparse "$prof"/*.profraw \
      -o "$prof/merged.profdata"
    case $t in
      event_decoder) srcs=(domain/contract.cpp domain/timestamp.cpp) ;;
      *) srcs=(api/search_request.cpp api/codec.cpp) ;;
    esac
    "llvm-cov$llvm_suffix" report "$build/${t}_cov" \
      -instr-profile="$prof/merged.profdata" "${srcs[@]/#/$root/}" \
      | grep -E '^[a-z_]+\.cpp |^TOTAL' \
      | awk -v t="$t" '{printf "  %-16s %-18s regions %-7s lines %-7s branches %s\n", t, $1, $4, $10, $13}'
  done
fi

if [ "$failed" -ne 0 ]; then
  echo
  echo "fuzz: FAILED: crashes found (see above); reproduce with the artifact" \
       "as the only argument of the target binary" >&2
  exit 1
fi
echo
echo "fuzz: no crashes"
