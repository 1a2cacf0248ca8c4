#!/bin/sh
# The restored image is consistent when doc.txt holds a whole save counter.
if [ ! -f doc.txt ]; then echo "doc.txt is missing"; exit 1; fi
n=$(cat doc.txt)
case "$n" in
  ''|*[!0-9]*) echo "doc.txt is torn: '$n'"; exit 1 ;;
esac
echo "doc.txt is save $n"
