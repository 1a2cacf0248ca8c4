#!/bin/sh
# Every line of the restored journal is a whole order, numbered 1, 2, 3, ...
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  set -- $line
  if [ "$#" -ne 3 ] || [ "$1" != "$n" ]; then
    echo "verdict: torn_transaction order line $n is '$line'"
    exit 0
  fi
done < orders.log
echo "$n orders"
