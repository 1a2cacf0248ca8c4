-- The invoice application's database: the schema of the built-in
-- invoice-sqlite workload, in PostgreSQL.
CREATE EXTENSION amcheck;
CREATE TABLE customer(id integer PRIMARY KEY, name text NOT NULL, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE invoice(number integer PRIMARY KEY, customer integer NOT NULL REFERENCES customer(id),
                     total bigint NOT NULL DEFAULT 0, memo text NOT NULL);
CREATE TABLE line(invoice integer NOT NULL REFERENCES invoice(number), idx integer NOT NULL,
                  item integer NOT NULL, qty integer NOT NULL, amount bigint NOT NULL,
                  PRIMARY KEY(invoice, idx));
CREATE TABLE ledger(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    invoice integer NOT NULL REFERENCES invoice(number),
                    account text NOT NULL, debit bigint NOT NULL, credit bigint NOT NULL);
CREATE TABLE counter(name text PRIMARY KEY, next integer NOT NULL);
CREATE INDEX ledger_by_invoice ON ledger(invoice);
CREATE INDEX invoice_by_customer ON invoice(customer);
INSERT INTO counter VALUES ('invoice', 1);
INSERT INTO customer(id, name) VALUES (1, 'Acme'), (2, 'Globex'), (3, 'Initech'), (4, 'Umbrella');
