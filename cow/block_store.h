// BlockStore: the physical block pool under every volume, snapshot and clone.
//
// A fixed number of fixed-size physical blocks, each with a reference count
// (how many block-map leaves point at it) and a 128-bit content hash kept
// beside the data. A block is allocated with refcount 1 and returns to the
// free list when its count drops to zero. The store knows nothing about
// logical addresses; the block map (cow/block_map.h) does.
//
// Capacity is a hard limit: allocate() fails with out_of_space, never grows.
// Callers that must not half-apply an operation check free_blocks() first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cow/content_hash.h"
#include "cow/status.h"

namespace snapsim::cow {

using PhysBlock = uint32_t;

class BlockStore {
 public:
  // REQUIRES: block_size is a power of two in [512, 1 MiB]; capacity_blocks >= 1
  // and < 2^32 - 1 (checked by Pool::create, which validates options).
  BlockStore(uint32_t block_size, uint64_t capacity_blocks);

  uint32_t block_size() const { return block_size_; }
  uint64_t capacity_blocks() const { return capacity_; }
  uint64_t used_blocks() const { return used_; }
  uint64_t free_blocks() const { return capacity_ - used_; }

  // A zero-filled block with refcount 1, or out_of_space (nothing changes).
  Result<PhysBlock> allocate();
  void incref(PhysBlock b);
  // Frees the block when the count reaches zero. REQUIRES: refcount(b) > 0.
  void decref(PhysBlock b);
  uint32_t refcount(PhysBlock b) const { return refcount_[b]; }
  bool is_allocated(PhysBlock b) const { return b < refcount_.size() && refcount_[b] > 0; }
  // Number of block ids ever handed out (allocated or on the free list).
  size_t high_water() const { return refcount_.size(); }

  std::span<std::byte> data(PhysBlock b) { return {data_[b].get(), block_size_}; }
  std::span<const std::byte> data(PhysBlock b) const { return {data_[b].get(), block_size_}; }
  // Recomputes the stored hash after the caller changed data(b).
  void rehash(PhysBlock b);
  void set_hash(PhysBlock b, const Hash128& h) { hash_[b] = h; }
  const Hash128& hash(PhysBlock b) const { return hash_[b]; }
  // Hash of an all-zero block of this store's size: an unmapped block reads
  // as zeros, so a zero block and a hole must hash the same.
  const Hash128& zero_hash() const { return zero_hash_; }

 private:
  uint32_t block_size_;
  uint64_t capacity_;
  uint64_t used_ = 0;
  std::vector<uint32_t> refcount_;
  std::vector<std::unique_ptr<std::byte[]>> data_;
  std::vector<Hash128> hash_;
  std::vector<PhysBlock> free_list_;
  Hash128 zero_hash_;
};

}  // namespace snapsim::cow
