#include "cow/block_store.h"

#include <cassert>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace snapsim::cow {

BlockStore::BlockStore(uint32_t block_size, uint64_t capacity_blocks)
    : block_size_(block_size), capacity_(capacity_blocks) {
  std::vector<std::byte> zeros(block_size, std::byte{0});
  zero_hash_ = hash_bytes(zeros);
}

Result<PhysBlock> BlockStore::allocate() {
  if (used_ >= capacity_) {
    return Status::out_of_space(
        fmt::format("block pool is full ({} blocks of {} bytes)", capacity_, block_size_));
  }
  PhysBlock b;
  if (!free_list_.empty()) {
    b = free_list_.back();
    free_list_.pop_back();
    std::memset(data_[b].get(), 0, block_size_);
  } else {
    b = static_cast<PhysBlock>(refcount_.size());
    refcount_.push_back(0);
    data_.push_back(std::make_unique<std::byte[]>(block_size_));  // value-initialised: zeros
    hash_.push_back(Hash128{});
  }
  refcount_[b] = 1;
  hash_[b] = zero_hash_;
  ++used_;
  return b;
}

void BlockStore::incref(PhysBlock b) {
  assert(b < refcount_.size() && refcount_[b] > 0);
  ++refcount_[b];
}

void BlockStore::decref(PhysBlock b) {
  assert(b < refcount_.size() && refcount_[b] > 0);
  if (--refcount_[b] == 0) {
    free_list_.push_back(b);
    --used_;
  }
}

void BlockStore::rehash(PhysBlock b) { hash_[b] = hash_bytes(data(b)); }

}  // namespace snapsim::cow
