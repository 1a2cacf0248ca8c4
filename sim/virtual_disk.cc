#include "sim/virtual_disk.h"

namespace snapsim::sim {

Status VirtualDisk::write(uint64_t lba, std::span<const std::byte> block, bool fua) {
  SNAPSIM_RETURN_IF_ERROR(pool_->write_blocks(volume_, lba, block));
  ++writes_issued_;
  last_lba_ = lba;
  if (fua) writes_durable_ = writes_issued_;
  clock_->advance_us(cost_->device.write_us);
  if (trace_) trace_->add(EventKind::kBlockWrite, index_, lba | (fua ? 1ull << 63 : 0), clock_->now_ns());
  if (hook_) hook_(index_);
  return Status::ok();
}

BlockWriteRecord VirtualDisk::last_write() const {
  BlockWriteRecord r{index_, last_lba_, std::vector<std::byte>(block_size())};
  (void)pool_->read_blocks(volume_, last_lba_, r.data);
  return r;
}

Status VirtualDisk::read(uint64_t lba, std::span<std::byte> block) {
  clock_->advance_us(cost_->device.read_us);
  return pool_->read_blocks(volume_, lba, block);
}

Status VirtualDisk::flush() {
  if (flush_hook_ && writes_durable_ != writes_issued_) flush_hook_(index_);
  writes_durable_ = writes_issued_;
  clock_->advance_us(cost_->device.flush_us);
  if (trace_) trace_->add(EventKind::kFlush, index_, 0, clock_->now_ns());
  return Status::ok();
}

}  // namespace snapsim::sim
