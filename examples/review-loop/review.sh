#!/bin/sh
# The example's reviewer. It reads the workspace, not the implementer's claims, and
# writes its verdict as JSON to KARAJAN_VERDICT_FILE (outside the repository).
set -eu
cat > /dev/null
file="notes/$KARAJAN_ISSUE.md"
if [ ! -e "$file" ]; then
  printf '%s' '{"verdict":"needs_revision","summary":"Nothing to review.","findings":[{"severity":"error","text":"no notes were committed"}]}' > "$KARAJAN_VERDICT_FILE"
elif grep -q '^Test plan:' "$file"; then
  printf '%s' '{"verdict":"approve","summary":"The checklist has a test plan."}' > "$KARAJAN_VERDICT_FILE"
else
  lines=$(wc -l < "$file" | tr -d ' ')
  printf '{"verdict":"needs_revision","summary":"The checklist has no test plan.","findings":[{"path":"%s","line":%s,"severity":"error","text":"add a test plan after the checklist"}]}' "$file" "$lines" > "$KARAJAN_VERDICT_FILE"
fi
