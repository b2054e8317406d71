#!/usr/bin/env sh
# Prints the path of a working Python 3.10 interpreter (Rasa 3.6 refuses 3.11).
# pyenv shims exist for versions that are not selected, so each candidate is run, not just found.
for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
echo "no Python 3.10 found: install it (e.g. 'pyenv install 3.10.13') or set PYTHON310" >&2
exit 1
