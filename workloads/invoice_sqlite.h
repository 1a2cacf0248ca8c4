// The SQLite invoice workloads: the invoice domain of the flat-file app in
// SQL (customers, invoices, lines, double-entry ledger, balances, gapless
// numbers; foreign keys and indexes), one SQL transaction per invoice,
// defined as SqlSpecs run by SqlApp (workloads/sql_app.h).
//
//   invoice-sqlite           journal_mode, synchronous, page_size,
//                            sector_size, device, clients, invoices, lines
//   invoice-sqlite-document  + one document file per invoice outside the
//                            database, written before or after the commit
//   invoice-two-db           sales and inventory in two database files,
//                            committed in one transaction over ATTACH or one
//                            after the other (attach=true|false)
//   invoice-multidisk        the two databases on two virtual disks, group
//                            snapshot atomic or sequential (group=...)
#pragma once

#include "workloads/registry.h"

namespace snapsim::workloads {

enum class InvoiceSqlVariant { kPlain, kDocument, kTwoDb, kMultidisk };

WorkloadInfo invoice_sqlite_info(InvoiceSqlVariant variant);

}  // namespace snapsim::workloads
