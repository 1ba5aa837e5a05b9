#!/bin/sh
# The example's implementer. karajan gives it the rendered prompt on stdin; it writes
# a note for the ticket and commits it. When the prompt carries the reviewer's findings
# (the `review` variables, rendered as FINDING lines), it addresses them: it adds the
# test plan the reviewer asked for.
set -eu
prompt=$(cat)
mkdir -p notes
file="notes/$KARAJAN_ISSUE.md"
if [ ! -e "$file" ]; then
  printf '# %s\n\n- tag the release\n- publish the notes\n' "$KARAJAN_TITLE" > "$file"
fi
if printf '%s\n' "$prompt" | grep -q '^FINDING '; then
  printf '\nTest plan: run the test suite on a clean clone before tagging.\n' >> "$file"
fi
git add "$file"
git -c user.name="karajan example" -c user.email=example@karajan.invalid commit -q -m "implement: $KARAJAN_TITLE"
echo "{\"type\":\"result\",\"summary\":\"wrote $file\"}"
