#!/usr/bin/env bash
# Runs fuzz targets for a bounded time: fuzz/run.sh [TARGET|all] [SECONDS]
#   fuzz/run.sh all 25           what .ci/run does: every target for 25 s
#   fuzz/run.sh config 600       the documented long run of one target (BENCHMARKS.md)
# Targets: config, prometheus_text, http_json, log_matcher, receive (fuzz/fuzz_targets/).
#
# Needs the nightly toolchain (libFuzzer's instrumentation); installs cargo-fuzz if missing.
# Builds into its own target dir, $LOOKOUT_FUZZ_TARGET_DIR or ${CARGO_TARGET_DIR:-target}/fuzz,
# so the main build is untouched. Keeps the corpus it grows and any crash under
# <that dir>/work/TARGET/, starting from the seeds (fuzz/seeds/TARGET, the repo's own config
# files for `config`) and the inputs of fixed crashes (fuzz/regressions/TARGET).
#
# Prints one line per target: executions, executions per second, corpus size, crashes.
# Exits non-zero on a crash (or a timeout, or running out of memory), naming the input.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=(config prometheus_text http_json log_matcher receive)
which=${1:-all}
seconds=${2:-25}
if [[ $which != all ]] && [[ ! " ${targets[*]} " =~ " $which " ]]; then
  echo "usage: fuzz/run.sh [all|${targets[*]// /|}] [SECONDS]" >&2
  exit 2
fi
[[ $which == all ]] || targets=("$which")

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

target_dir=${LOOKOUT_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/fuzz}
# Built without a sanitizer: the code under test is safe Rust, where a bug shows as a panic
# (overflow checks and debug assertions are on), and ASan would halve the executions.
build=(--sanitizer none --debug-assertions --target-dir "$target_dir")

# The seeds of `config`: every config file the repo ships (the presets, the commented
# templates of `config init`, uncommented too) and the TOML blocks of the README and the guide.
config_seeds() {
  local out=$1 file name
  rm -rf "$out" && mkdir -p "$out"
  for file in src/config/presets/*.toml src/config/*_template.toml src/config/checks/template.toml; do
    name=$(echo "${file#src/config/}" | tr / _)
    cp "$file" "$out/$name"
    sed -E 's/^# ?//' "$file" > "$out/uncommented_$name"
  done
  for file in README.md docs/guide.md; do
    awk -v out="$out/$(basename "$file" .md)" '
      /^```toml/ { n++; inside = 1; next }
      /^```/ { inside = 0; next }
      inside { print > (out "_" n ".toml") }' "$file"
  done
}

# A dictionary for `config`: the keys and type names the templates mention, so mutations
# write real keys.
config_dict() {
  {
    grep -hoE '^#? ?\[?\[?[a-z_.]+\]?\]? ?=?' src/config/presets/*.toml src/config/*_template.toml \
        src/config/checks/template.toml | sed -E 's/^# ?//; s/ ?=$//; s/ $//'
    printf '%s\n' '= "' '"10s"' '"1GiB"' '"80%"' '"${SET}"' 'type = "http"' 'type = "log"' \
      'type = "prometheus"'
  } | sort -u | awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "\"%s\"\n", $0 }'
}

failed=0
for target in "${targets[@]}"; do
  work=$target_dir/work/$target
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  inputs=("$work/corpus" "fuzz/seeds/$target")
  [[ -d fuzz/regressions/$target ]] && inputs+=("fuzz/regressions/$target")
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
           -artifact_prefix="$work/artifacts/")
  case $target in
    config)
      config_seeds "$work/repo-seeds"
      inputs+=("$work/repo-seeds")
      config_dict > "$work/config.dict"
      options+=(-dict="$work/config.dict" -max_len=65536) ;;
    prometheus_text) options+=(-max_len=16384) ;;
    log_matcher) rm -rf "$work/tmp"/* ;;
  esac
  log=$work/last-run.log
  echo "fuzz: $target for ${seconds}s (log: $log)"
  touch "$work/.started"
  set +e
  # The log target writes its file under $TMPDIR.
  TMPDIR=$work/tmp cargo +nightly fuzz run "${build[@]}" "$target" "${inputs[@]}" -- "${options[@]}" \
    > "$log" 2>&1
  status=$?
  set -e
  rm -rf "$work/tmp"/*
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+).*/\1/p' "$log" | tail -1)
  # libFuzzer's own count at the end: the inputs that each add coverage (the directory also
  # keeps inputs that later ones made redundant).
  corpus=$(sed -nE 's/.*DONE .* corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1 inputs (\2)/p' "$log" | tail -1)
  crashes=$(find "$work/artifacts" -type f -newer "$work/.started" 2>/dev/null | wc -l)
  if [[ $status -ne 0 ]]; then
    crashes=$((crashes > 0 ? crashes : 1))
    failed=1
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (exit $status); the input is in $work/artifacts/ -" \
      "fix the bug, add a unit test named for it, and keep the input in fuzz/regressions/$target/" >&2
  fi
  echo "fuzz: $target: ${execs:-0} execs in ${seconds}s (${rate:-0}/s), corpus ${corpus:-?}," \
    "peak RSS ${rss:-?} MB, $crashes crashes"
done
exit $failed
