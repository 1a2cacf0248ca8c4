#!/bin/sh
# Judges a restored invoice database with the sqlite3 shell, as the vendor's
# own consistency check would. It prints how many invoices the image holds
# ("committed: N", for the commit oracle); the last line is the verdict:
#   unrecoverable  sqlite3 cannot open or read the database
#   corrupt        PRAGMA integrity_check or foreign_key_check fails
#   invariant_violation  an accounting invariant fails
#   recovered      all fine, after SQLite rolled back a hot journal or replayed a WAL
#   consistent     all fine, nothing to recover
recovery=""
if [ -s invoice.db-journal ]; then recovery="a hot rollback journal was rolled back"; fi
if [ -s invoice.db-wal ]; then recovery="the WAL was replayed"; fi
# One sqlite3 process runs every check; each prints "name|result".
if ! out=$(sqlite3 -bail invoice.db 2>&1 <<'SQL'
SELECT 'integrity|' || group_concat(integrity_check, '; ') FROM pragma_integrity_check;
SELECT 'foreign_keys|' || COUNT(*) FROM pragma_foreign_key_check;
SELECT 'invoice total equals the sum of its lines|' || (COUNT(*) = 0) FROM invoice i
  WHERE total != (SELECT COALESCE(SUM(amount), 0) FROM line WHERE invoice = i.number);
SELECT 'ledger debits equal credits|' ||
  ((SELECT COALESCE(SUM(debit), 0) FROM ledger) = (SELECT COALESCE(SUM(credit), 0) FROM ledger));
SELECT 'every invoice has its two ledger entries|' || (COUNT(*) = 0) FROM invoice i
  WHERE (SELECT COUNT(*) FROM ledger WHERE invoice = i.number) != 2;
SELECT 'customer balances equal their invoices|' || (COUNT(*) = 0) FROM customer c
  WHERE balance != (SELECT COALESCE(SUM(total), 0) FROM invoice WHERE customer = c.id);
SELECT 'the invoice counter is gapless|' ||
  ((SELECT next FROM counter WHERE name = 'invoice') = (SELECT COALESCE(MAX(number), 0) + 1 FROM invoice)
   AND (SELECT COUNT(*) FROM invoice) = (SELECT COALESCE(MAX(number), 0) FROM invoice));
SELECT 'invoices|' || COUNT(*) FROM invoice;
SQL
); then
  echo "verdict: unrecoverable sqlite3 cannot read the database: $(echo "$out" | tail -n 1)"
  exit 0
fi
# Read the "name|result" lines with the shell alone (no process per line).
integrity="" foreign_keys="" invoices="" failed=""
while IFS='|' read -r name value; do
  case "$name" in
    integrity) integrity=$value ;;
    foreign_keys) foreign_keys=$value ;;
    invoices) invoices=$value ;;
    *) if [ "$value" != "1" ] && [ -z "$failed" ]; then failed=$name; fi ;;
  esac
done <<EOF
$out
EOF
if [ "$integrity" != "ok" ]; then
  echo "verdict: corrupt integrity_check: $integrity"
  exit 0
fi
if [ "$foreign_keys" != "0" ]; then
  echo "verdict: corrupt foreign_key_check finds $foreign_keys dangling reference(s)"
  exit 0
fi
if [ -n "$failed" ]; then
  echo "verdict: invariant_violation $failed"
  exit 0
fi
echo "committed: $invoices"
if [ -n "$recovery" ]; then
  echo "verdict: recovered $recovery; $invoices invoice(s)"
else
  echo "verdict: consistent $invoices invoice(s)"
fi
