#!/usr/bin/env bash
# Before the tests: the system tools they run for real. librdkafka's test broker comes with kcat,
# and the browser suite drives Debian's Chromium. As root with apt, missing ones are installed;
# elsewhere the run stops at once with the command to run.
set -euo pipefail
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test tools: installing ${missing[*]} with apt-get (needed by the Kafka and browser suites)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "test tools missing: ${missing[*]}" >&2
echo "install them, then run the tests again:" >&2
echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
