#!/usr/bin/env bash
# Builds the wheel, installs it into a new venv and runs the bundled model from there, with no flags:
#   bash benchmarks/check_wheel.sh
# To save re-installing torch (5.6 GB), the new venv sees the dependencies of .venv through a .pth
# file; aidetect itself comes from the wheel only (the repository is not on its path).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
.venv/bin/pip wheel -q --no-deps -w "$work/dist" .
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-deps "$work"/dist/aidetect-*.whl
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
newsite=$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$site" > "$newsite/deps-from-dev-venv.pth"
cd "$work"  # away from the checkout, so only the wheel's aidetect can be imported
example=$("$work/venv/bin/python" -c "import aidetect.home as h; print(h.BUNDLED_MODEL.parent / 'examples' / 'realesrgan-x4.png')")
"$work/venv/bin/python" -c "import aidetect, sys; assert not aidetect.__file__.startswith('$repo'), aidetect.__file__; print('aidetect from', aidetect.__file__)"
AIDETECT_HOME="$work/home" "$work/venv/bin/aidetect" attribute "$example"
AIDETECT_HOME="$work/home" "$work/venv/bin/aidetect" detect "$example"
unzip -l "$work"/dist/aidetect-*.whl | grep -E "bundled/(default|examples)/" | awk '{print $1, $4}'
rm -rf "$work"
