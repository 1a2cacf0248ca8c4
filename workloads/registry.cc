#include "workloads/registry.h"

#include <fmt/format.h>

#include "workloads/invoice_flatfile.h"
#include "workloads/invoice_sqlite.h"
#include "workloads/sqlite_vfs.h"

namespace snapsim::workloads {

const std::vector<WorkloadInfo>& builtin_workloads() {
  static const std::vector<WorkloadInfo> kAll = [] {
    std::vector<WorkloadInfo> v;
    v.push_back(InvoiceFlatfile::info(false));
    v.push_back(InvoiceFlatfile::info(true));
    v.push_back(invoice_sqlite_info(InvoiceSqlVariant::kPlain));
    v.push_back(invoice_sqlite_info(InvoiceSqlVariant::kDocument));
    v.push_back(invoice_sqlite_info(InvoiceSqlVariant::kTwoDb));
    v.push_back(invoice_sqlite_info(InvoiceSqlVariant::kMultidisk));
    return v;
  }();
  return kAll;
}

const WorkloadInfo* find_workload(const std::string& name) {
  for (const auto& w : builtin_workloads()) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

Result<std::unique_ptr<Workload>> make_workload(const std::string& name,
                                                const std::vector<std::string>& overrides) {
  const WorkloadInfo* info = find_workload(name);
  if (!info) {
    std::string known;
    for (const auto& w : builtin_workloads()) known += (known.empty() ? "" : ", ") + w.name;
    return Status::not_found(fmt::format("unknown workload '{}' (built-in: {})", name, known));
  }
  auto params = Params::resolve(name, info->params, overrides);
  if (!params) return params.status();
  if (params->all().count("device")) {
    auto flags = parse_device_flags(params->text("device"));
    if (!flags) return Status::invalid_argument("parameter 'device': " + flags.status().message());
  }
  return info->make(*params);
}

std::vector<SuiteEntry> builtin_suite() {
  std::vector<SuiteEntry> out = {
      {"invoice-flatfile", {}},
      {"invoice-flatfile-journaled", {}},
  };
  for (const char* jm : {"delete", "truncate", "persist", "memory", "wal", "off"}) {
    for (const char* sync : {"off", "normal", "full", "extra"}) {
      out.push_back({"invoice-sqlite",
                     {fmt::format("journal_mode={}", jm), fmt::format("synchronous={}", sync)}});
    }
  }
  // WAL checkpoints (SQLite's 1000-page default is never reached by the
  // small default workload): with synchronous=off they corrupt.
  out.push_back({"invoice-sqlite", {"journal_mode=wal", "synchronous=off", "wal_autocheckpoint=4"}});
  out.push_back({"invoice-sqlite", {"journal_mode=wal", "synchronous=full", "wal_autocheckpoint=4"}});
  out.push_back({"invoice-sqlite-document", {"document=before"}});
  out.push_back({"invoice-sqlite-document", {"document=after"}});
  out.push_back({"invoice-two-db", {"attach=true"}});
  out.push_back({"invoice-two-db", {"attach=false"}});
  out.push_back({"invoice-multidisk", {"group=atomic"}});
  out.push_back({"invoice-multidisk", {"group=sequential"}});
  return out;
}


}  // namespace snapsim::workloads
