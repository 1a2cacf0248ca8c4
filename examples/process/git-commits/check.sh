#!/bin/sh
# Judges a restored git repository with git itself: `git fsck --full` must
# pass (else corrupt), and the branch's commits after the initial one are
# the transactions the image holds.
cd repo 2>/dev/null || { echo "verdict: unrecoverable the repository directory is gone"; exit 0; }
if ! out=$(git fsck --full --no-progress 2>&1); then
  echo "verdict: corrupt git fsck: $(echo "$out" | grep -v '^dangling' | head -n 1)"
  exit 0
fi
if ! n=$(git rev-list --count HEAD 2>&1); then
  echo "verdict: corrupt the branch cannot be read: $(echo "$n" | tail -n 1)"
  exit 0
fi
echo "committed: $((n - 1))"
echo "verdict: consistent $((n - 1)) commit(s) after the initial one"
