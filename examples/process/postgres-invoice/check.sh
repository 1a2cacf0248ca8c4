#!/bin/sh
# Judges a restored PostgreSQL cluster as its operator would after restoring
# the snapshot: start the server on it (PostgreSQL's own crash recovery
# replays the WAL), then check every page the application uses and the
# accounting invariants. It prints how many invoices the image holds
# ("committed: N", for the commit oracle); the last line is the verdict:
#   unrecoverable        the server does not start on the restored cluster
#   corrupt              a page fails its checksum, amcheck finds a damaged
#                        table or index, or a query cannot read its data
#   invariant_violation  an accounting invariant fails
#   recovered            all fine, after WAL recovery
#   consistent           all fine, the cluster was shut down cleanly
. "$SNAPSIM_FILES/postgres-invoice/env.sh"
log="$SNAPSIM_RUN/server.log"
# The restored machine boots with no postmaster running: the lock file is
# stale (its PID could even belong to a live process on this host).
rm -f data/postmaster.pid
postgres -D data -k "$SNAPSIM_RUN" -c listen_addresses= -c fsync=off -c autovacuum=off -c log_line_prefix= >"$log" 2>&1 &
pid=$!
stop() { kill -QUIT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
i=0
until pg_isready -q; do
  if ! kill -0 "$pid" 2>/dev/null; then
    why=$(grep -E 'PANIC|FATAL' "$log" | head -n 1)
    echo "verdict: unrecoverable the server does not start: ${why:-$(tail -n 1 "$log")}"
    exit 0
  fi
  i=$((i + 1))
  if [ $i -gt 1200 ]; then stop; echo "verdict: unrecoverable the server was not ready in 60 s"; exit 0; fi
  sleep 0.05
done
if ! out=$(psql -X -q -tA -F '|' -v ON_ERROR_STOP=1 2>&1 <<'SQL'
SELECT 'heap ' || c.relname, count(*) FROM pg_class c, verify_heapam(c.oid)
  WHERE c.relname IN ('customer', 'invoice', 'line', 'ledger', 'counter') GROUP BY c.relname;
SELECT 'index ' || c.relname, bt_index_check(c.oid, true)::text = '' FROM pg_class c
  WHERE c.relkind = 'i' AND c.relnamespace = 'public'::regnamespace;
SELECT 'invoice total equals the sum of its lines', count(*) = 0 FROM invoice i
  WHERE total != (SELECT coalesce(sum(amount), 0) FROM line WHERE invoice = i.number);
SELECT 'ledger debits equal credits',
  (SELECT coalesce(sum(debit), 0) FROM ledger) = (SELECT coalesce(sum(credit), 0) FROM ledger);
SELECT 'every invoice has its two ledger entries', count(*) = 0 FROM invoice i
  WHERE (SELECT count(*) FROM ledger WHERE invoice = i.number) != 2;
SELECT 'customer balances equal their invoices', count(*) = 0 FROM customer c
  WHERE balance != (SELECT coalesce(sum(total), 0) FROM invoice WHERE customer = c.id);
SELECT 'the invoice counter is gapless',
  (SELECT next FROM counter WHERE name = 'invoice') = (SELECT coalesce(max(number), 0) + 1 FROM invoice)
  AND (SELECT count(*) FROM invoice) = (SELECT coalesce(max(number), 0) FROM invoice);
SELECT 'invoices', count(*) FROM invoice;
SQL
); then
  stop
  echo "verdict: corrupt $(echo "$out" | grep -m 1 ERROR || echo "$out" | tail -n 1)"
  exit 0
fi
stop
invoices="" failed="" damaged=""
while IFS='|' read -r name value; do
  case "$name" in
    invoices) invoices=$value ;;
    heap\ *) if [ "$value" != "0" ] && [ -z "$damaged" ]; then damaged="amcheck: $value problem(s) in table ${name#heap }"; fi ;;
    index\ *) if [ "$value" != "t" ] && [ -z "$damaged" ]; then damaged="amcheck: index ${name#index } is damaged"; fi ;;
    *) if [ "$value" != "t" ] && [ -z "$failed" ]; then failed=$name; fi ;;
  esac
done <<EOF
$out
EOF
if [ -n "$damaged" ]; then echo "verdict: corrupt $damaged"; exit 0; fi
if [ -n "$failed" ]; then echo "verdict: invariant_violation $failed"; exit 0; fi
echo "committed: $invoices"
if grep -q 'automatic recovery in progress' "$log"; then
  echo "verdict: recovered WAL recovery ($(grep -o 'redo .*' "$log" | head -n 1 | cut -c1-60)); $invoices invoice(s)"
else
  echo "verdict: consistent $invoices invoice(s)"
fi
