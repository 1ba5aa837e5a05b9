#!/bin/sh
# The quickstart's demo agent. karajan gives it the rendered prompt on stdin and the
# ticket in KARAJAN_* variables; it edits a file in the workspace and commits it, and
# prints JSON lines that karajan keeps as events. KARAJAN_DEMO_DELAY slows it down
# (seconds) so you can watch it in the dashboard.
set -eu
prompt=$(cat)
echo "{\"type\":\"session\",\"session_id\":\"demo-$KARAJAN_RUN_ID\"}"
sleep "${KARAJAN_DEMO_DELAY:-0}"
mkdir -p notes
file="notes/$(printf '%s' "$KARAJAN_ISSUE" | tr -c 'A-Za-z0-9._-' '_').md"
{
  echo "## $KARAJAN_STATE (run $KARAJAN_RUN_NUMBER, attempt $KARAJAN_ATTEMPT)"
  echo
  echo "$KARAJAN_TITLE"
  echo
} >> "$file"
git add "$file"
git -c user.name="karajan demo" -c user.email=demo@karajan.invalid commit -q -m "$KARAJAN_STATE: $KARAJAN_TITLE"
echo "{\"type\":\"result\",\"summary\":\"edited $file\",\"prompt_bytes\":${#prompt}}"
