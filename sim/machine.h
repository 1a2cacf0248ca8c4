// Machine: one simulated VM. Its disks (COW volumes in a shared pool), a page
// cache and a guest file system (simfs, ext4 or nojournal) per disk, the clock, the run's Prng streams and the trace.
//
// A machine is either booted fresh (volumes created and formatted) or booted
// from restored volumes (clones of snapshots), which mounts each file system
// as a VM reboot would: the page cache starts empty.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cow/pool.h"
#include "sim/cost_model.h"
#include "sim/page_cache.h"
#include "sim/prng.h"
#include "sim/sim_clock.h"
#include "sim/simfs.h"
#include "sim/trace.h"
#include "sim/virtual_disk.h"

namespace snapsim::sim {

struct MachineConfig {
  uint32_t disks = 1;
  SimFsOptions fs;
  Writeback writeback = Writeback::kRandom;
  CostModel cost;
  // Group snapshot of several disks: false = atomic (every disk at one
  // instant), true = sequential (one disk after another, each taking the
  // hypervisor's snapshot-create time while the guest's I/O goes on).
  bool sequential_group = false;
};

class Machine {
 public:
  // `log`, if set, receives every block write from the first (mkfs) on,
  // until the caller installs its own write hook.
  static Result<std::unique_ptr<Machine>> boot_fresh(
      cow::Pool* pool, const MachineConfig& config, Prng prng,
      const std::function<void(const BlockWriteRecord&)>& log = nullptr);
  static Result<std::unique_ptr<Machine>> boot_restored(cow::Pool* pool,
                                                        const MachineConfig& config,
                                                        const std::vector<cow::VolumeId>& volumes,
                                                        Prng prng);

  uint32_t disk_count() const { return static_cast<uint32_t>(disks_.size()); }
  // The file system of `disk` as applications use it: simfs, or the
  // outermost wrapper installed by wrap_fs().
  GuestFs& fs(uint32_t disk = 0) { return *view_[disk]; }
  // Puts `wrapper` (a GuestFsWrapper of the current view) in front of the
  // file system of `disk`: every later fs(disk) call goes through it. The
  // machine owns it.
  void wrap_fs(uint32_t disk, std::unique_ptr<GuestFs> wrapper);
  // The file system itself, under any wrapper (for the explorer: freeze
  // images, journal commits).
  SimFs& simfs(uint32_t disk = 0) { return *fs_[disk]; }
  PageCache& cache(uint32_t disk = 0) { return *caches_[disk]; }
  VirtualDisk& disk(uint32_t disk = 0) { return *disks_[disk]; }
  cow::Pool& pool() { return *pool_; }
  SimClock& clock() { return clock_; }
  Trace& trace() { return trace_; }
  Prng& prng() { return prng_; }
  const MachineConfig& config() const { return config_; }
  const CostModel& cost() const { return config_.cost; }

  // The explorer reading the live guest (the commit oracle's digest): while
  // one exists, reads charge no simulated time and leave every page cache
  // as it was (PageCache::set_observing), so looking never changes the run.
  class Observation {
   public:
    explicit Observation(Machine& m) : m_(m) {
      for (auto& c : m_.caches_) c->set_observing(true);
    }
    ~Observation() {
      for (auto& c : m_.caches_) c->set_observing(false);
    }
    Observation(const Observation&) = delete;
    Observation& operator=(const Observation&) = delete;

   private:
    Machine& m_;
  };

  // syncfs on every disk.
  Status sync_all();
  // Charges one application step (an SQL statement, a record update).
  void app_step() { clock_.advance_us(config_.cost.app_step_us); }

  // Hooks for the explorer.
  void set_write_hook(VirtualDisk::WriteHook hook);
  void set_flush_hook(VirtualDisk::WriteHook hook);
  void set_op_hook(SimFs::OpHook hook);

  std::vector<cow::VolumeId> volumes() const;

  // What an application can observe of this machine's disks: every entry's
  // path, disk and type, a file's bytes and a symlink's target (read through
  // the page cache); not owners, modes or times. Two machines with the
  // same visible files look the same to any application, however their
  // blocks differ (unwritten tails, stale metadata, blocks past a file's end).
  // No value if some file cannot be read.
  std::optional<cow::Hash128> visible_files();
  // The same, hashing of each file only its name, disk and first
  // `prefix(disk, name, size)` bytes (a file shorter than that: all of it),
  // for an application known to read no more of some file; kLeaveOut leaves
  // a regular file out altogether (its existence too), for one the
  // application cannot observe at all.
  static constexpr uint64_t kLeaveOut = UINT64_MAX;
  std::optional<cow::Hash128> visible_files(
      const std::function<uint64_t(uint32_t, const std::string&, uint64_t)>& prefix);

 private:
  Machine(cow::Pool* pool, const MachineConfig& config, Prng prng);
  Status attach(cow::VolumeId volume);
  void mounted(std::unique_ptr<SimFs> fs);

  cow::Pool* pool_;
  MachineConfig config_;
  Prng prng_;
  SimClock clock_;
  Trace trace_;
  std::vector<std::unique_ptr<VirtualDisk>> disks_;
  std::vector<std::unique_ptr<PageCache>> caches_;
  std::vector<std::unique_ptr<SimFs>> fs_;
  std::vector<std::unique_ptr<GuestFs>> wrappers_;
  std::vector<GuestFs*> view_;  // per disk: simfs or its outermost wrapper
  SimFs::OpHook op_hook_;
};

}  // namespace snapsim::sim
