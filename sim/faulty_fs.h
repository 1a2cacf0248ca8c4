// FaultyFs: a GuestFs wrapper that injects the I/O errors a real disk and
// kernel report, so a test can see what an application does with them.
//
// Faults (each counted from the wrapper's creation or the last set_plan(),
// 1-based, 0 = never):
//   sync_eio_at     the n-th fsync/fdatasync (of a file or directory)/sync_all fails with
//                   EIO (io_error) without writing anything back: nothing is
//                   known to be durable, as Linux reports a failed writeback;
//                   with sticky_sync every later sync fails too
//   write_eio_at    the n-th write fails with EIO before changing anything
//   space_bytes     writes that would take the bytes written through this
//                   wrapper past this many fail with ENOSPC (fs_full)
//                   before changing anything; UINT64_MAX = unlimited
// Everything else is forwarded unchanged.
#pragma once

#include <cstdint>

#include "sim/guest_fs.h"

namespace snapsim::sim {

struct FaultPlan {
  uint64_t sync_eio_at = 0;
  bool sticky_sync = false;
  uint64_t write_eio_at = 0;
  uint64_t space_bytes = UINT64_MAX;
};

class FaultyFs : public GuestFsWrapper {
 public:
  FaultyFs(GuestFs* target, FaultPlan plan) : GuestFsWrapper(target), plan_(plan) {}

  Status write(FileRef f, uint64_t offset, std::span<const std::byte> data) override;
  Status fsync(FileRef f) override;
  Status fdatasync(FileRef f) override;
  Status sync_all() override;

  // How many calls failed by injection.
  uint64_t injected() const { return injected_; }
  // A new plan, counted from now.
  void set_plan(FaultPlan plan) {
    plan_ = plan;
    syncs_ = writes_ = bytes_ = 0;
    sync_failed_ = false;
  }

 private:
  Status sync_fault(const char* call);

  FaultPlan plan_;
  uint64_t syncs_ = 0;
  uint64_t writes_ = 0;
  uint64_t bytes_ = 0;
  uint64_t injected_ = 0;
  bool sync_failed_ = false;
};

}  // namespace snapsim::sim
