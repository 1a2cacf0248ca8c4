#!/bin/sh
# Judges a restored invoice database with the sqlite3 shell, as the vendor's
# own consistency check would. The last line of output is the verdict.
#   unrecoverable  sqlite3 cannot open or read the database
#   corrupt        PRAGMA integrity_check or foreign_key_check fails
#   invariant_violation  an accounting invariant fails
#   recovered      all fine, after SQLite rolled back a hot journal or replayed a WAL
#   consistent     all fine, nothing to recover
recovery=""
if [ -s invoice.db-journal ]; then recovery="a hot rollback journal was rolled back"; fi
if [ -s invoice.db-wal ]; then recovery="the WAL was replayed"; fi
if ! out=$(sqlite3 invoice.db "PRAGMA integrity_check;" 2>&1); then
  echo "verdict: unrecoverable sqlite3 cannot open the database: $(echo "$out" | tail -n 1)"
  exit 0
fi
if [ "$out" != "ok" ]; then
  echo "verdict: corrupt integrity_check: $(echo "$out" | head -n 1)"
  exit 0
fi
fk=$(sqlite3 invoice.db "PRAGMA foreign_key_check;" 2>&1)
if [ -n "$fk" ]; then
  echo "verdict: corrupt foreign_key_check: $(echo "$fk" | head -n 1)"
  exit 0
fi
invariant() {
  got=$(sqlite3 invoice.db "$2" 2>&1)
  if [ "$got" != "1" ]; then
    echo "verdict: invariant_violation $1 (got '$got')"
    exit 0
  fi
}
invariant "invoice total equals the sum of its lines" \
  "SELECT COUNT(*) = 0 FROM invoice i WHERE total != (SELECT COALESCE(SUM(amount), 0) FROM line WHERE invoice = i.number);"
invariant "ledger debits equal credits" \
  "SELECT (SELECT COALESCE(SUM(debit), 0) FROM ledger) = (SELECT COALESCE(SUM(credit), 0) FROM ledger);"
invariant "every invoice has its two ledger entries" \
  "SELECT COUNT(*) = 0 FROM invoice i WHERE (SELECT COUNT(*) FROM ledger WHERE invoice = i.number) != 2;"
invariant "customer balances equal their invoices" \
  "SELECT COUNT(*) = 0 FROM customer c WHERE balance != (SELECT COALESCE(SUM(total), 0) FROM invoice WHERE customer = c.id);"
invariant "the invoice counter is gapless" \
  "SELECT (SELECT next FROM counter WHERE name = 'invoice') = (SELECT COALESCE(MAX(number), 0) + 1 FROM invoice) AND (SELECT COUNT(*) FROM invoice) = (SELECT COALESCE(MAX(number), 0) FROM invoice);"
n=$(sqlite3 invoice.db "SELECT COUNT(*) FROM invoice;")
if [ -n "$recovery" ]; then
  echo "verdict: recovered $recovery; $n invoice(s)"
else
  echo "verdict: consistent $n invoice(s)"
fi
