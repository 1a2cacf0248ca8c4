-- The invoice application's database: the same schema as the built-in
-- invoice-sqlite workload (workloads/invoice_sqlite.cc).
CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance INTEGER NOT NULL DEFAULT 0);
CREATE TABLE invoice(number INTEGER PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customer(id),
                     total INTEGER NOT NULL DEFAULT 0, memo TEXT NOT NULL);
CREATE TABLE line(invoice INTEGER NOT NULL REFERENCES invoice(number), idx INTEGER NOT NULL,
                  item INTEGER NOT NULL, qty INTEGER NOT NULL, amount INTEGER NOT NULL,
                  PRIMARY KEY(invoice, idx));
CREATE TABLE ledger(id INTEGER PRIMARY KEY, invoice INTEGER NOT NULL REFERENCES invoice(number),
                    account TEXT NOT NULL, debit INTEGER NOT NULL, credit INTEGER NOT NULL);
CREATE TABLE counter(name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE INDEX ledger_by_invoice ON ledger(invoice);
CREATE INDEX invoice_by_customer ON invoice(customer);
INSERT INTO counter VALUES ('invoice', 1);
INSERT INTO customer(id, name) VALUES (1, 'Acme'), (2, 'Globex'), (3, 'Initech'), (4, 'Umbrella');
