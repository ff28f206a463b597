#!/usr/bin/env bash
# The I/O-free guard: the wire codec and the broker core must not depend, directly or through
# another crate, on a runtime, an HTTP stack or a QUIC stack (docs/ARCHITECTURE.md, rule 1).
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|tokio-util|hyper|hyper-util|http|http-body|h2|h3|h3-quinn|quinn|quinn-proto|mio|socket2|async-std|smol|reqwest|axum|axum-core|tower)$'
status=0
for crate in tidings-codec tidings-broker; do
  deps=$(cargo tree --offline -p "$crate" --all-features -e normal,build --prefix none --format '{p}' 2>/dev/null \
    || cargo tree -p "$crate" --all-features -e normal,build --prefix none --format '{p}')
  bad=$(printf '%s\n' "$deps" | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$bad" ]; then
    echo "I/O-free guard: $crate depends on: $(echo "$bad" | tr '\n' ' ')" >&2
    status=1
  else
    echo "I/O-free guard: $crate ok ($(printf '%s\n' "$deps" | awk '{print $1}' | sort -u | wc -l) crates, none forbidden)"
  fi
done
exit $status
