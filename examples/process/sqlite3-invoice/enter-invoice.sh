#!/bin/sh
# Enters one invoice with three lines in one SQLite transaction, through the
# sqlite3 shell: the invoice, its lines, the ledger entries, the customer's
# balance and the gapless invoice counter.
#   enter-invoice.sh JOURNAL_MODE SYNCHRONOUS CUSTOMER MEMO ITEM QTY AMOUNT ITEM QTY AMOUNT ITEM QTY AMOUNT
set -e
jm=$1 sync=$2 cust=$3 memo=$4
shift 4
lines=""
idx=1
while [ $# -ge 3 ]; do
  lines="$lines INSERT INTO line SELECT next - 1, $idx, $1, $2, $3 FROM counter WHERE name = 'invoice';"
  idx=$((idx + 1))
  shift 3
done
# The application this models keeps its connection open, so its WAL is
# checkpointed when it grows (wal_autocheckpoint), not after every
# transaction as the last connection's close would: no_ckpt_on_close.
sqlite3 -bail invoice.db >/dev/null <<SQL
.dbconfig no_ckpt_on_close on
PRAGMA journal_mode = $jm;
PRAGMA synchronous = $sync;
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
UPDATE counter SET next = next + 1 WHERE name = 'invoice';
INSERT INTO invoice(number, customer, memo) SELECT next - 1, $cust, '$memo' FROM counter WHERE name = 'invoice';
$lines
UPDATE invoice SET total = (SELECT SUM(amount) FROM line WHERE invoice = number)
  WHERE number = (SELECT next - 1 FROM counter WHERE name = 'invoice');
INSERT INTO ledger(invoice, account, debit, credit)
  SELECT number, 'receivable', total, 0 FROM invoice WHERE number = (SELECT next - 1 FROM counter WHERE name = 'invoice');
INSERT INTO ledger(invoice, account, debit, credit)
  SELECT number, 'revenue', 0, total FROM invoice WHERE number = (SELECT next - 1 FROM counter WHERE name = 'invoice');
UPDATE customer SET balance = balance + (SELECT total FROM invoice WHERE number = (SELECT next - 1 FROM counter WHERE name = 'invoice'))
  WHERE id = $cust;
COMMIT;
SQL
echo "entered an invoice for customer $cust"
