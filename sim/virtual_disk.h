// VirtualDisk: the guest's block device, backed by a COW volume.
//
// Writes complete in issue order and land in the volume at once, so the
// volume always holds exactly the prefix of the issued write stream: that is
// what a hypervisor snapshot captures (it drains the queue first). FLUSH and
// FUA are recorded (trace, time) and tracked as the durable prefix for the
// power-loss model; under the snapshot model they do not change the image.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "cow/pool.h"
#include "sim/cost_model.h"
#include "sim/sim_clock.h"
#include "sim/trace.h"

namespace snapsim::sim {

using cow::Status;

// One block write as issued (for write logs: dm-log-writes style replay).
struct BlockWriteRecord {
  uint32_t disk = 0;
  uint64_t lba = 0;
  std::vector<std::byte> data;
};

class VirtualDisk {
 public:
  // Called after every completed block write: the explorer's hook for
  // `none` snapshot points.
  using WriteHook = std::function<void(uint32_t disk)>;

  VirtualDisk(cow::Pool* pool, cow::VolumeId volume, uint32_t index, SimClock* clock,
              const CostModel* cost, Trace* trace)
      : pool_(pool), volume_(volume), index_(index), clock_(clock), cost_(cost), trace_(trace) {}

  uint32_t block_size() const { return pool_->block_size(); }
  uint64_t size_blocks() const { return pool_->size_blocks(volume_).value(); }
  cow::VolumeId volume() const { return volume_; }
  uint32_t index() const { return index_; }

  Status write(uint64_t lba, std::span<const std::byte> block, bool fua = false);
  Status read(uint64_t lba, std::span<std::byte> block);
  // A read that charges no time (the explorer or a hash looking).
  Status read_quiet(uint64_t lba, std::span<std::byte> block) const {
    return pool_->read_blocks(volume_, lba, block);
  }
  Status flush();
  // XXH3-128 of a block's contents as a read would return them (no
  // simulated time: this is the explorer looking, not the guest).
  cow::Result<cow::Hash128> block_hash(uint64_t lba) const { return pool_->block_hash(volume_, lba); }

  uint64_t writes_issued() const { return writes_issued_; }
  // The most recent write, with its data (read back from the volume).
  BlockWriteRecord last_write() const;
  uint64_t last_lba() const { return last_lba_; }
  uint64_t writes_durable() const { return writes_durable_; }
  void set_write_hook(WriteHook hook) { hook_ = std::move(hook); }
  // Called when a FLUSH is issued, before it makes the completed writes
  // durable: the crash model's end of an epoch.
  void set_flush_hook(WriteHook hook) { flush_hook_ = std::move(hook); }

 private:
  cow::Pool* pool_;
  cow::VolumeId volume_;
  uint32_t index_;
  SimClock* clock_;
  const CostModel* cost_;
  Trace* trace_;
  WriteHook hook_;
  WriteHook flush_hook_;
  uint64_t last_lba_ = 0;
  uint64_t writes_issued_ = 0;
  uint64_t writes_durable_ = 0;
};

}  // namespace snapsim::sim
