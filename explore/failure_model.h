// FailureModel: where the points of a run are, and how each point's image
// is built. One implementation per model, each in its own file with the
// model explained at its top:
//   snapshot_model.cc  a hypervisor snapshot, with the quiesce levels
//   crash_model.cc     power loss: unflushed writes lost, one torn
// The run loop (explorer.cc) owns the execution and calls the model's hooks;
// the model adds points through the RunView. A model never changes the
// execution: every image is built on snapshots and clones.
//
// To add a model: a new file defining a FailureModel and its factory, a
// value in `Model` (explorer.h) and one line in failure_model.cc's table.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "explore/crash_states.h"
#include "explore/explorer.h"

namespace snapsim::explore {

// One point of one execution: the image of every disk at one moment and
// what the oracle needs to judge it.
struct Point {
  // A run holds a million points: keep this small (what only some models
  // or levels need is shared or derived: the crash note is describe(*fault)).
  std::vector<cow::SnapshotId> snaps;  // one per disk
  std::shared_ptr<const CrashFault> fault;  // crash model: which writes persisted (shared)
  uint64_t writes = 0;                 // replay baseline: length of the write log before it
  uint64_t time_ns = 0;
  uint64_t acked = 0;
  uint64_t issued = 0;
  size_t trace_pos = 0;
  double freeze_ms = 0;
  // A point taken on a fork of the live run (level hook): the commit
  // digests as that fork saw them (its drain may have committed other
  // transactions than the main run did next); null = the run's own.
  struct ForkDigests {
    std::vector<Digest> digests, store_digests;
  };
  std::shared_ptr<const ForkDigests> fork;
  // Memory model: what the clients saw after reverting to this moment.
  struct Revert {
    uint64_t reverted = 0;   // acknowledged commits the revert undid
    uint64_t reissued = 0;   // identifiers a client holds, issued again for other content
    double blocked_ms = 0;   // longest new clients waited on a dead session
    bool blocked = false;    // beyond the workload's tolerance
    // One line per outcome (ClientOutcome order), empty when it did not occur.
    std::array<std::string, kClientOutcomeCount> detail;
    // The content hash of what the fork resumed (the disks plus the page
    // cache written back, as an fsfreeze image of that moment): the live
    // state exactly (tests compare it with the snapshot model's).
    std::pair<uint64_t, uint64_t> resumed{};
  };
  std::shared_ptr<const Revert> revert;
  // Set when the point was inspected while the run went on (explorer.cc,
  // streaming): its image's content hash; `snaps` is then empty (released).
  std::optional<std::pair<uint64_t, uint64_t>> key;
};

using LevelPoints = std::array<std::deque<Point>, kQuiesceCount>;

// What a failure model sees of the running execution.
class RunView {
 public:
  virtual ~RunView() = default;
  virtual Machine& machine() = 0;
  virtual cow::Pool& pool() = 0;
  virtual const CommitLog& log() const = 0;
  virtual const ExploreOptions& options() const = 0;
  virtual uint32_t schedule() const = 0;
  // True when `level` is being explored in this run.
  virtual bool wants(Quiesce level) const = 0;
  // Records a point of `level`, in the order points are taken.
  virtual void add_point(Quiesce level, Point p) = 0;
  // Block writes logged so far (the replay baseline's log prefix), 0 when
  // no log is kept.
  virtual uint64_t writes_logged() const = 0;
  // Coverage probes of this exploration.
  virtual Probes& probes() = 0;
  // The application and its clients (the memory model forks the run and
  // reverts them).
  virtual Scenario& scenario() = 0;
  virtual const std::vector<Client*>& clients() const = 0;
  // The log the clients report to (make_revert_clients' clients too).
  virtual CommitLog& client_log() = 0;
  // Memory model: the receipts of this schedule's run to its end (a first
  // pass), or null during that pass.
  virtual const std::vector<Receipt>* history() const = 0;
};

class FailureModel {
 public:
  virtual ~FailureModel() = default;
  virtual Model id() const = 0;
  // Options this model cannot run with (levels, restore mode): an error
  // whose message names the problem.
  virtual Status validate(const ExploreOptions& /*options*/) const { return Status::ok(); }
  // Called once per execution, after setup (everything synced, the initial
  // state durable) and before the first step. Takes the initial points.
  virtual Status start(RunView& run) = 0;
  // After each block write the guest issued (the disk already holds it).
  virtual Status on_block_write(uint32_t /*disk*/) { return Status::ok(); }
  // When a FLUSH is issued, before it makes the disk's writes durable.
  virtual Status on_flush(uint32_t /*disk*/) { return Status::ok(); }
  // After each completed file operation.
  virtual Status on_file_op() { return Status::ok(); }
  // After each client step; `acked` says a commit was acknowledged in it.
  virtual Status after_step(bool /*acked*/) { return Status::ok(); }
  // After the last step, when the execution ran to its end.
  virtual Status finish() { return Status::ok(); }
  // After the execution: may rearrange its points (sequential group
  // snapshots take each disk at a later moment).
  virtual void post_process(const MachineConfig& /*config*/, LevelPoints& /*points*/) {}
  // Crash model: how much of the state space this execution covered.
  virtual CrashCoverage coverage() const { return {}; }
};

// A fresh model for one execution.
std::unique_ptr<FailureModel> make_failure_model(Model m);

// The implementations (one file each).
std::unique_ptr<FailureModel> make_snapshot_model();
std::unique_ptr<FailureModel> make_crash_model();
std::unique_ptr<FailureModel> make_memory_model();

// The `none` point of this moment: a snapshot of every disk as issued (the
// page cache is not captured). Shared by the models that take one.
Result<Point> snapshot_now(RunView& run);

// The disk as it would be after FIFREEZE: its blocks plus what the freeze
// writes (every dirty page of the guest's page cache; in ext4 the journal
// checkpointed), as a new snapshot. *dirty counts the pages.
Result<cow::SnapshotId> frozen_image(cow::Pool& pool, cow::VolumeId vol, const sim::SimFs& fs, size_t* dirty);

// A model whose point needs the live run to go on differently (the hook
// level, a memory-snapshot revert) runs it on a fork() of the whole
// simulator: `child` runs in the copy and returns its message, which this
// returns in the parent (the main run goes on unchanged). `what` names the
// run in errors. The child must never return to the caller's code.
Result<std::vector<uint8_t>> run_on_fork(const std::function<std::vector<uint8_t>()>& child, const std::string& what);

// A fork's image travels as the blocks it wrote (per disk: lba, bytes).
using DiskBlocks = std::vector<std::vector<std::pair<uint64_t, std::vector<uint8_t>>>>;
// In the fork: the current bytes of every block in touched[disk].
Result<DiskBlocks> read_blocks(cow::Pool& pool, Machine& m, const std::vector<std::set<uint64_t>>& touched);
// In the parent: per disk, `base` with `blocks` written over it (a new
// snapshot; base is released) or base itself when nothing changed.
Result<std::vector<cow::SnapshotId>> with_blocks(cow::Pool& pool, const std::vector<cow::SnapshotId>& base,
                                                 const DiskBlocks& blocks);

}  // namespace snapsim::explore
