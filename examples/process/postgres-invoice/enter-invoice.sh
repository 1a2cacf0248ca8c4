#!/bin/sh
# Enters one invoice with its lines in one PostgreSQL transaction, through
# psql: the gapless invoice counter (its row lock orders the invoices), the
# invoice, its lines, the two ledger entries and the customer's balance.
#   enter-invoice.sh CUSTOMER MEMO ITEM QTY AMOUNT [ITEM QTY AMOUNT ...]
set -e
. "$SNAPSIM_FILES/postgres-invoice/env.sh"
cust=$1 memo=$2
shift 2
lines=""
idx=1
while [ $# -ge 3 ]; do
  lines="$lines INSERT INTO line SELECT next - 1, $idx, $1, $2, $3 FROM counter WHERE name = 'invoice';"
  idx=$((idx + 1))
  shift 3
done
psql -q -X -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
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
