// The flat-file invoice application, naive and journaled.
//
// Data (fixed-width text records, readable in an exported image):
//   counter.dat    "NEXT 000004"                       next invoice number
//   customers.dat  "CUST 01 BAL 0000001234"            one record per customer
//   invoices.dat   "INV 000001 CUST 01 LINES 03 TOTAL 0000001234"
//   lines.dat      "LINE 000001 01 AMOUNT 0000000123"
//   ledger.dat     "GL 000001 DR receivable 0000001234" / "GL 000001 CR revenue ..."
// One invoice = read the counter, append the invoice, append its lines,
// post debit and credit, update the customer's balance, bump the counter:
// separate writes (one scheduler step each), then an fsync of every file.
// A global lock serializes invoices between clients.
//
// invoice-flatfile: no journal. A snapshot between the writes restores half
//   an invoice; there is no recovery.
// invoice-flatfile-journaled: a redo log. Write the whole intent (every
//   record at its offset, checksummed) to redo.log, fsync it, apply, fsync
//   the data files, then truncate redo.log and fsync it; acknowledge. On
//   open, a valid intent is re-applied (idempotent puts) and the log cleared.
//
// Invariants: each invoice's total equals the sum of its lines and its line
// count; ledger debits equal credits and each invoice is posted once each
// way for its total; each customer's balance equals the sum of its
// invoices; invoice numbers are 1..N without gaps or duplicates and the
// counter is N+1.
#pragma once

#include "workloads/registry.h"

namespace snapsim::workloads {

struct InvoiceLock;  // invoice_flatfile.cc

class InvoiceFlatfile : public Workload {
 public:
  static WorkloadInfo info(bool journaled);
  InvoiceFlatfile(bool journaled, const Params& params);

  std::string name() const override;
  const Params& params() const override { return params_; }
  sim::MachineConfig machine_config() const override;
  Status setup(sim::Machine& m) override;
  Result<explore::Digest> digest(sim::Machine& m) override;
  Result<std::vector<std::unique_ptr<sim::Client>>> make_clients(sim::Machine& m,
                                                                 explore::CommitLog& log) override;
  explore::AppState inspect(sim::Machine& restored, explore::CheckMemo* memo) override;
  // Its pre-freeze hook, by parameter: hook=none freezes only, sync fsyncs
  // every file, drain waits for the invoice in flight first; a hook that
  // exceeds hook_timeout_ms is snapshotted crash-consistent.
  std::optional<explore::HookSpec> hook_spec() const override;
  Result<std::unique_ptr<sim::Client>> make_hook(sim::Machine& m) override;
  uint64_t planned_transactions() const override {
    return static_cast<uint64_t>(params_.integer("clients") * params_.integer("invoices"));
  }

  // Memory model: the invoice number is what a client holds.
  std::optional<explore::MemorySpec> memory_spec() const override { return explore::MemorySpec{}; }
  Result<std::vector<std::unique_ptr<sim::Client>>> make_revert_clients(sim::Machine& m, explore::CommitLog& log,
                                                                        uint32_t first_id,
                                                                        const std::vector<uint32_t>& txns,
                                                                        sim::Prng prng) override;

  static constexpr int kCustomers = 4;

 private:
  bool journaled_;
  Params params_;
  std::shared_ptr<InvoiceLock> live_shared_;  // the live clients' application lock
};

}  // namespace snapsim::workloads
