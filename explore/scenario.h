// Scenario: what the explorer runs (a workload), and Classifier: how it
// judges a restored image (the checkers). Both are interfaces so that explore/
// depends on neither workloads/ nor checkers/.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "explore/commit_log.h"
#include "sim/machine.h"
#include "sim/scheduler.h"
#include "explore/verdict.h"

namespace snapsim::explore {

// What this layer drives, from the layer below (sim/: the deterministic
// kernel and the guest storage stack).
using cow::Result;
using cow::Status;
using sim::ChoiceSource;
using sim::Client;
using sim::Machine;
using sim::MachineConfig;
using sim::Prng;
using sim::StepResult;
using sim::BlockWriteRecord;
using sim::CostModel;
using sim::Event;
using sim::EventKind;
using sim::PageCache;
using sim::RandomChoices;
using sim::ScheduleLimits;
using sim::ScriptedChoices;
using sim::VirtualDisk;
using sim::Writeback;
using sim::run_schedule;

// What an application found when it opened a restored image. Filled in by
// the workload's inspect(); judged by a Classifier.
struct AppState {
  bool opened = false;
  std::string open_error;          // why it could not open (opened == false)
  bool recovered = false;          // its recovery had work to do
  std::string recovery_detail;     // what recovery did
  std::string integrity_error;     // storage integrity check failure, empty if fine
  std::vector<std::string> invariant_failures;
  Digest digest;                   // logical state, comparable with CommitLog digests
  Digest store_digest;             // its main store alone (see CommitLog), or zero
  std::string summary;             // one line for people: "3 invoices, next number 4"
  // False when the application cannot say which commit its state is at (a
  // real program's check without a `committed` command): the commit oracle
  // then has nothing to compare.
  bool digest_known = true;
  // A verdict the application's own check named ("verdict: NAME detail" from
  // a process workload's check), judged beside the others; -1 = none.
  int reported = -1;
  std::string reported_detail;
  friend bool operator==(const AppState&, const AppState&) = default;
};

// Checks already run in one exploration, keyed by what the application sees
// once its recovery has run (Machine::visible_files() after recovery). Many
// snapshot points recover to the same files (every point of a rolled-back
// transaction does), so a workload can run its integrity check, invariants
// and digest once per recovered state. A pure memo: a result never depends
// on whether it hit, so it is only an optimisation.
class CheckMemo {
 public:
  const AppState* find(const Digest& recovered) const {
    auto it = map_.find({recovered.lo, recovered.hi});
    if (it == map_.end()) return nullptr;
    ++hits_;
    return &it->second;
  }
  // How many find() calls hit (a coverage probe).
  uint64_t hits() const { return hits_; }
  void store(const Digest& recovered, const AppState& checked) {
    map_.insert_or_assign({recovered.lo, recovered.hi}, checked);
    if (journal_) journal_->emplace_back(recovered, checked);
  }
  void clear() { map_.clear(); }
  size_t size() const { return map_.size(); }
  // Every store() from now on is also appended to *journal (null: none):
  // an inspection worker sends what it learned back to the explorer.
  void set_journal(std::vector<std::pair<Digest, AppState>>* journal) { journal_ = journal; }

 private:
  std::map<std::pair<uint64_t, uint64_t>, AppState> map_;
  mutable uint64_t hits_ = 0;
  std::vector<std::pair<Digest, AppState>>* journal_ = nullptr;
};

// The workload's own pre-freeze hook (the `hook` quiesce level): what the
// snapshot software runs in the live application when a snapshot is
// requested, with its limits (DESIGN.md: VSS holds writes at most 10 s;
// VMware fails a snapshot whose pre-freeze script fails; Veeam can "ignore
// failures" and snapshot crash-consistent).
struct HookSpec {
  // Hold new transactions and wait until none is in flight, as `app` does,
  // before the hook's own work.
  bool drain = false;
  // Simulated time from the request to the freeze; beyond it the hook failed.
  uint64_t timeout_ms = 10000;
  // On a failed hook: false = the snapshot fails (no image: its own
  // outcome, not a verdict); true = snapshot anyway, crash-consistent.
  bool crash_consistent_on_failure = false;
};

// What the workload's clients tolerate after a memory-snapshot revert
// (--model memory, explore/memory_model.cc).
struct MemorySpec {
  // Longest a client waits on a lock held by a dead session before it
  // counts as blocked_session (simulated ms).
  uint64_t lock_wait_tolerance_ms = 30000;
  // Whether acknowledged work the revert undid is a failure for these
  // clients (it is inherent to a revert: by default only counted).
  bool reverted_is_failure = false;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual MachineConfig machine_config() const = 0;
  // Creates the initial files on a freshly formatted machine. The explorer
  // syncs everything afterwards: setup is durable before exploration starts.
  virtual Status setup(Machine& m) = 0;
  // Digest of the live logical state (read through the page cache).
  virtual cow::Result<Digest> digest(Machine& m) = 0;
  // digest() and, for an application that also keeps data outside its main
  // store, the digest of the main store alone (zero by default), read in one
  // pass (reading the live machine takes simulated time).
  virtual cow::Result<std::pair<Digest, Digest>> digests(Machine& m) {
    auto d = digest(m);
    if (!d) return d.status();
    return std::pair<Digest, Digest>{*d, Digest{}};
  }
  // Fresh clients for one execution. They report begin/ack to `log`.
  virtual cow::Result<std::vector<std::unique_ptr<Client>>> make_clients(Machine& m,
                                                                        CommitLog& log) = 0;
  // Opens a restored machine as the application would after a reboot (runs
  // its recovery), checks integrity and invariants, and reads its state.
  // Never fails: problems are described in the AppState. `memo`, when
  // given, may be used to skip checks of an already checked recovered state.
  virtual AppState inspect(Machine& restored, CheckMemo* memo) = 0;
  // The workload's pre-freeze hook, if it declares one ([quiesce] in
  // scripts). Without one, `--quiesce hook` is refused.
  virtual std::optional<HookSpec> hook_spec() const { return std::nullopt; }
  // A client that runs the pre-freeze hook's own work (SQL on its own
  // connection, a sync) in the live application, or nullptr when the hook
  // only drains. Called on a fork of the live run, as a snapshot is
  // requested; it runs under the scheduler beside the clients.
  virtual cow::Result<std::unique_ptr<Client>> make_hook(Machine& /*m*/) { return std::unique_ptr<Client>(); }
  // How many transactions the run will begin, if known (0: unknown): lets a
  // run stopped by its memory limit say what the whole run would hold.
  virtual uint64_t planned_transactions() const { return 0; }
  // Memory model: what the clients tolerate, or nullopt when the workload
  // cannot be reverted (its clients cannot reconnect): --model memory is
  // then refused.
  virtual std::optional<MemorySpec> memory_spec() const { return std::nullopt; }
  // Memory model, on the fork of a reverted run: the clients reconnecting,
  // ids first_id.., client i running txns[i] new transactions with data
  // drawn from `prng` (not the original clients' streams), reporting to
  // `log` as make_clients' do.
  virtual cow::Result<std::vector<std::unique_ptr<Client>>> make_revert_clients(
      Machine& /*m*/, CommitLog& /*log*/, uint32_t /*first_id*/, const std::vector<uint32_t>& /*txns*/,
      sim::Prng /*prng*/) {
    return cow::Status::invalid_argument("this workload's clients cannot reconnect after a revert");
  }
};

struct PointContext {
  uint64_t acked = 0;
  uint64_t issued = 0;
  const std::vector<Digest>* digests = nullptr;
  const std::vector<Digest>* store_digests = nullptr;  // may be null
};

struct Judgement {
  Verdict verdict = Verdict::kConsistent;
  std::string detail;
};

class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual Judgement classify(const AppState& state, const PointContext& ctx) const = 0;
};

}  // namespace snapsim::explore
