# Named Hydra sweeps that carry on where the last machine left them; sourced by experiments/run_*.sh.
# The sourcing script sets OUT (where the sweeps run) and RECORDS (their records under version control),
# declares each sweep with `def NAME OVERRIDES...` and ends with `main "$@"`. Each sweep runs into $OUT/<name>
# with output.resume=true:
#   - before it runs, the records of its finished runs (config, metrics, status, history) are copied in from
#     $RECORDS/<name>, so its finished jobs are skipped;
#   - after it, the records of its finished runs are copied back into $RECORDS/<name>.
#   SCRIPT                  # every sweep, in the order declared
#   SCRIPT NAME NAME        # only these, in this order
#   SCRIPT --list           # the names, one a line
#   SCRIPT --show NAME      # the overrides that sweep passes to finetune-lab -m, one a line
declare -A SWEEPS
ORDER=()
def() { name=$1; shift; SWEEPS[$name]="$*"; ORDER+=("$name"); }

run() {
  name=$1; shift
  [ -d "$RECORDS/$name" ] && finetune-lab-records "$RECORDS/$name" "$OUT/$name"
  # shellcheck disable=SC2086  # the sweep's overrides are words
  finetune-lab -m ${SWEEPS[$name]} output.resume=true "hydra.sweep.dir=$OUT/$name" \
    || echo "sweep $name: some jobs did not complete (see $OUT/$name/sweep_summary.json)"
  finetune-lab-records "$OUT/$name" "$RECORDS/$name"
}

main() {
  if [ "${1:-}" = "--list" ]; then printf '%s\n' "${ORDER[@]}"; exit 0; fi
  if [ "${1:-}" = "--show" ]; then
    if [ -z "${SWEEPS[${2:-}]+x}" ]; then echo "no sweep named ${2:-} (--list shows them)" >&2; exit 2; fi
    # shellcheck disable=SC2086  # the same words run() passes
    printf '%s\n' ${SWEEPS[$2]}; exit 0
  fi
  names=("$@")
  [ ${#names[@]} -eq 0 ] && names=("${ORDER[@]}")
  for name in "${names[@]}"; do
    if [ -z "${SWEEPS[$name]+x}" ]; then echo "no sweep named $name (--list shows them)" >&2; exit 2; fi
  done
  for name in "${names[@]}"; do run "$name"; done
}
