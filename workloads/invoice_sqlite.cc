#include "workloads/invoice_sqlite.h"

#include <fmt/format.h>

#include "workloads/sql_app.h"

namespace snapsim::workloads {

namespace {

const char* kSalesSchema = R"SQL(
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
)SQL";

const char* kInventorySchema = R"SQL(
CREATE TABLE stock(item INTEGER PRIMARY KEY, qty INTEGER NOT NULL);
CREATE TABLE movement(id INTEGER PRIMARY KEY, invoice INTEGER NOT NULL, item INTEGER NOT NULL,
                      qty INTEGER NOT NULL);
CREATE INDEX movement_by_invoice ON movement(invoice);
WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 8)
INSERT INTO stock SELECT n, 1000 FROM i;
)SQL";

SqlInvariant plain(std::string name, std::string sql) {
  SqlInvariant i;
  i.name = std::move(name);
  i.sql = std::move(sql);
  return i;
}

std::vector<ParamSpec> common_params() {
  return {
      {"journal_mode", ParamKind::kChoice, "delete", "SQLite journal mode", 0, 0,
       {"delete", "truncate", "persist", "memory", "wal", "off"}},
      {"synchronous", ParamKind::kChoice, "full", "SQLite synchronous level", 0, 0,
       {"off", "normal", "full", "extra"}},
      {"clients", ParamKind::kInt, "2", "clients, each with its own connection", 1, 16, {}, true},
      {"invoices", ParamKind::kInt, "3", "invoices per client", 0, 10000, {}, true},
      {"lines", ParamKind::kInt, "3", "lines per invoice", 1, 50, {}, true},
      {"page_size", ParamKind::kChoice, "4096", "database page size", 0, 0,
       {"512", "1024", "2048", "4096", "8192", "16384", "32768", "65536"}},
      {"sector_size", ParamKind::kChoice, "4096", "sector size the VFS reports", 0, 0,
       {"512", "1024", "2048", "4096", "8192", "16384", "32768", "65536"}},
      {"wal_autocheckpoint", ParamKind::kInt, "1000",
       "WAL pages before an automatic checkpoint (SQLite's default 1000; 0 = never)", 0, 1000000, {}},
      {"device", ParamKind::kText, "none",
       "device characteristics the VFS claims: none or a '+' list of atomic, atomic512, atomic4k, "
       "atomic64k, safe_append, sequential, powersafe_overwrite, batch_atomic",
       0, 0, {}},
  };
}

SqlSpec invoice_spec(InvoiceSqlVariant variant, const Params& p) {
  SqlSpec s;
  s.journal_mode = p.text("journal_mode");
  s.foreign_keys = true;
  s.wal_autocheckpoint = static_cast<int>(p.integer("wal_autocheckpoint"));
  s.synchronous = p.text("synchronous");
  s.page_size = static_cast<int>(p.integer("page_size"));
  s.sector_size = static_cast<int>(p.integer("sector_size"));
  s.device = p.text("device");
  s.clients = static_cast<int>(p.integer("clients"));
  s.transactions = static_cast<int>(p.integer("invoices"));
  const bool two = variant == InvoiceSqlVariant::kTwoDb || variant == InvoiceSqlVariant::kMultidisk;
  s.databases.push_back(SqlDatabase{"sales", two ? "sales.db" : "invoice.db", 0, kSalesSchema});
  if (two) {
    s.attach = p.boolean("attach");
    s.disks = variant == InvoiceSqlVariant::kMultidisk ? 2 : 1;
    s.group = variant == InvoiceSqlVariant::kMultidisk ? p.text("group") : "atomic";
    s.databases.push_back(SqlDatabase{"inventory", "inventory.db", s.disks - 1, kInventorySchema});
  }
  SqlTransaction t;
  t.name = "enter-invoice";
  t.params.push_back({"cust", "int(1,4)"});
  t.params.push_back({"memo", "text(60)"});
  t.steps.push_back({"SELECT next FROM counter WHERE name = 'invoice'", "sales", "n", true});
  t.steps.push_back(
      {"INSERT INTO invoice(number, customer, memo) VALUES (:n, :cust, :memo)", "sales", ""});
  const int64_t lines = p.integer("lines");
  for (int64_t i = 1; i <= lines; ++i) {
    t.params.push_back({fmt::format("item{}", i), "int(1,8)"});
    t.params.push_back({fmt::format("qty{}", i), "int(1,5)"});
    t.params.push_back({fmt::format("amount{}", i), "int(1,500)"});
    t.steps.push_back({fmt::format("INSERT INTO line VALUES (:n, {0}, :item{0}, :qty{0}, :amount{0})", i),
                       "sales", ""});
  }
  t.steps.push_back({"UPDATE invoice SET total = (SELECT SUM(amount) FROM line WHERE invoice = :n) "
                     "WHERE number = :n",
                     "sales", ""});
  t.steps.push_back({"INSERT INTO ledger(invoice, account, debit, credit) "
                     "SELECT :n, 'receivable', total, 0 FROM invoice WHERE number = :n",
                     "sales", ""});
  t.steps.push_back({"INSERT INTO ledger(invoice, account, debit, credit) "
                     "SELECT :n, 'revenue', 0, total FROM invoice WHERE number = :n",
                     "sales", ""});
  t.steps.push_back({"UPDATE customer SET balance = balance + "
                     "(SELECT total FROM invoice WHERE number = :n) WHERE id = :cust",
                     "sales", ""});
  t.steps.push_back({"UPDATE counter SET next = next + 1 WHERE name = 'invoice'", "sales", ""});
  if (two) {
    for (int64_t i = 1; i <= lines; ++i) {
      t.steps.push_back({fmt::format("INSERT INTO movement(invoice, item, qty) VALUES (:n, :item{0}, -:qty{0})", i),
                         "inventory", ""});
      t.steps.push_back({fmt::format("UPDATE stock SET qty = qty - :qty{0} WHERE item = :item{0}", i),
                         "inventory", ""});
    }
  }
  s.txns.push_back(t);
  // Per invoice and per customer: checked where those keys changed
  // (sql_app.h, per_key_invariant), the same answer as checking every row.
  s.invariants = {
      per_key_invariant("invoice total equals the sum of its lines", "invoice.number", {"line.invoice"},
                        "total = (SELECT COALESCE(SUM(amount), 0) FROM line WHERE line.invoice = invoice.number)"),
      plain("ledger debits equal credits",
            "SELECT (SELECT COALESCE(SUM(debit), 0) FROM ledger) = "
            "(SELECT COALESCE(SUM(credit), 0) FROM ledger)"),
      per_key_invariant("every invoice is posted once each way", "invoice.number", {"ledger.invoice"},
                        "(SELECT COALESCE(SUM(debit), 0) FROM ledger WHERE ledger.invoice = invoice.number) = total AND "
                        "(SELECT COALESCE(SUM(credit), 0) FROM ledger WHERE ledger.invoice = invoice.number) = total"),
      per_key_invariant("customer balance equals the sum of its invoices", "customer.id", {"invoice.customer"},
                        "balance = (SELECT COALESCE(SUM(total), 0) FROM invoice WHERE invoice.customer = customer.id)"),
      plain("invoice numbers are gapless and the counter is next",
            "SELECT (SELECT COUNT(*) FROM invoice) = COALESCE((SELECT MAX(number) FROM invoice), 0) "
            "AND (SELECT next FROM counter WHERE name = 'invoice') = (SELECT COUNT(*) FROM invoice) + 1"),
  };
  if (variant == InvoiceSqlVariant::kDocument) {
    SqlFile doc;
    doc.name = "invoice-{n}.txt";
    doc.content = "Invoice {n} for customer {cust}\n{memo}\n";
    doc.after_commit = p.text("document") == "after";
    s.files.push_back(doc);
    s.invariants.push_back(plain("every invoice has its document",
                                 "SELECT COUNT(*) = 0 FROM invoice WHERE NOT file_exists('invoice-' || number || '.txt')"));
    s.invariants.push_back(plain("every document has its invoice",
                            "SELECT file_count('invoice-*.txt') = (SELECT COUNT(*) FROM invoice)"));
  }
  if (two) {
    s.invariants.push_back(plain("stock moved for every invoice line",
                            "SELECT COUNT(*) = 0 FROM invoice i WHERE "
                            "(SELECT COALESCE(SUM(qty), 0) FROM line WHERE invoice = i.number) != "
                            "-(SELECT COALESCE(SUM(qty), 0) FROM movement WHERE invoice = i.number)"));
    s.invariants.push_back(plain("every stock movement has its invoice",
                            "SELECT COUNT(*) = 0 FROM movement m WHERE NOT EXISTS "
                            "(SELECT 1 FROM invoice WHERE number = m.invoice)"));
    s.invariants.push_back(plain("stock equals the initial stock plus movements",
                            "SELECT COUNT(*) = 0 FROM stock s WHERE qty != 1000 + "
                            "(SELECT COALESCE(SUM(qty), 0) FROM movement WHERE item = s.item)"));
  }
  return s;
}

}  // namespace

WorkloadInfo invoice_sqlite_info(InvoiceSqlVariant variant) {
  WorkloadInfo w;
  w.params = common_params();
  switch (variant) {
    case InvoiceSqlVariant::kPlain:
      w.name = "invoice-sqlite";
      w.description = "invoices in SQLite, one transaction per invoice: each journal_mode / "
                      "synchronous setting behaves as SQLite documents";
      break;
    case InvoiceSqlVariant::kDocument:
      w.name = "invoice-sqlite-document";
      w.description = "SQLite plus one document file per invoice outside the database: data "
                      "outside the database needs quiescing";
      w.params.push_back({"document", ParamKind::kChoice, "after",
                          "write the document before or after the commit", 0, 0, {"before", "after"}});
      break;
    case InvoiceSqlVariant::kTwoDb:
      w.name = "invoice-two-db";
      w.description = "sales and inventory in two database files, committed together over ATTACH "
                      "or one after the other";
      w.params.push_back({"attach", ParamKind::kBool, "true",
                          "one transaction over ATTACH (true) or two commits (false)", 0, 0, {}});
      break;
    case InvoiceSqlVariant::kMultidisk:
      w.name = "invoice-multidisk";
      w.description = "the two databases on two virtual disks; group snapshot atomic or sequential";
      w.params.push_back({"attach", ParamKind::kBool, "true",
                          "one transaction over ATTACH (true) or two commits (false)", 0, 0, {}});
      w.params.push_back({"group", ParamKind::kChoice, "atomic",
                          "snapshot all disks at one instant, or one after another", 0, 0,
                          {"atomic", "sequential"}});
      break;
  }
  w.make = [variant, name = w.name](const Params& p) -> std::unique_ptr<Workload> {
    SqlSpec s = invoice_spec(variant, p);
    s.name = name;
    return std::make_unique<SqlApp>(std::move(s), p);
  };
  return w;
}

}  // namespace snapsim::workloads
