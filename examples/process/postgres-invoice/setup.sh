#!/bin/sh
# Makes the cluster in ./data (initdb, with data checksums so a torn page is
# found when read) and the invoice application's schema, then stops the
# server cleanly: the setup is durable before exploring.
set -e
. "$SNAPSIM_FILES/postgres-invoice/env.sh"
initdb -D data -A trust -U postgres --data-checksums >/dev/null
postgres -D data -k "$SNAPSIM_RUN" -c listen_addresses= >"$SNAPSIM_RUN/setup.log" 2>&1 &
i=0
until pg_isready -q; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "the server did not start: $(tail -n 1 "$SNAPSIM_RUN/setup.log")"; exit 1; fi
  sleep 0.05
done
psql -q -v ON_ERROR_STOP=1 -f "$SNAPSIM_FILES/postgres-invoice/schema.sql" >/dev/null
pg_ctl -D data stop -m fast >/dev/null
