# Shared by the fake agent CLIs (sourced). Records the invocation in the current
# directory (the workspace) so tests can inspect it:
#   invocations   number of invocations so far
#   argv.log      one line per invocation, arguments separated by TABs
#   env.N.txt     the environment invocation N received (from /proc/$$/environ)
#   prompt.txt    stdin of the latest invocation
# The scenario comes from $FAKE_SCENARIO (default: success).
n=$(( $(cat invocations 2>/dev/null || echo 0) + 1 ))
echo "$n" > invocations
for a in "$@"; do printf '%s\t' "$a"; done >> argv.log
printf '\n' >> argv.log
tr '\0' '\n' < /proc/$$/environ > "env.$n.txt"
cat > prompt.txt
scenario=${FAKE_SCENARIO:-success}

# The value following flag $1 in the remaining arguments, if any.
flag_value() {
  want=$1; shift
  prev=""
  for a in "$@"; do
    if [ "$prev" = "$want" ]; then printf '%s' "$a"; return; fi
    prev=$a
  done
}

# stdin as the inside of a JSON string (backslash, quote, tab, newline escaped).
json_escape() {
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' | awk 'BEGIN { ORS = "" } { print $0 "\\n" }'
}

# Background grandchildren that would outlive a careless supervisor.
spawn_grandchildren() {
  sleep 1000 &
  echo $! >> pids.txt
  sh -c 'sleep 1000' &
  echo $! >> pids.txt
  echo $$ >> pids.txt
}

ten_mb_of_a() {
  head -c 10485760 /dev/zero | tr '\0' 'a'
}

# Quiet on stdout for ~1.5 s while busy on stderr (a stall timer must not fire).
busy_on_stderr() {
  i=0
  while [ $i -lt 15 ]; do echo "compiling unit $i" >&2; sleep 0.1; i=$((i + 1)); done
}
