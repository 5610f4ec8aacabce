#!/usr/bin/env bash
# Regenerates the terminal runs shown in README.md, against the bundled model and the example
# images shipped in aidetect/bundled/examples, with a throwaway aidetect home:
#   bash benchmarks/readme_demo.sh > demo.txt 2>&1
set -uo pipefail
cd "$(dirname "$0")/.."
AIDETECT=${AIDETECT:-.venv/bin/aidetect}
EX=aidetect/bundled/examples
export AIDETECT_HOME=$(mktemp -d) COLUMNS=110
run() { echo "\$ aidetect $*"; "$AIDETECT" "$@" 2> >(grep -v "━" >&2); echo; }
run info
run attribute $EX/*.png
run detect $EX/*.png
# before the enrollment, so the JSON record shows the bundled gallery, as a fresh install prints it
run detect --top 2 --json $EX/sd-parameters.png
run inspect $EX/sd-parameters.png
run enroll --generator my-upscaler --max 50 ${ZOO_NEWGEN:-$EX}
if [ -n "${ZOO_HELDOUT:-}" ]; then  # held-out images of the newly enrolled generator
  echo "\$ aidetect attribute --json $ZOO_HELDOUT | python3 -c '<count the labels>'"
  "$AIDETECT" attribute --json "$ZOO_HELDOUT" 2>/dev/null | python3 -c "import collections, json, sys; print(dict(collections.Counter(r['label'] for r in json.load(sys.stdin))))"
  echo "\$ aidetect attribute --vote balanced --json $ZOO_HELDOUT | python3 -c '<count the labels>'"
  "$AIDETECT" attribute --vote balanced --json "$ZOO_HELDOUT" 2>/dev/null | python3 -c "import collections, json, sys; print(dict(collections.Counter(r['label'] for r in json.load(sys.stdin))))"
  echo
fi
