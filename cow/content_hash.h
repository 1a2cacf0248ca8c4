// Content hashes of blocks and of whole images.
//
// A block's hash is XXH3-128 of its bytes. An image's hash is the sum (mod
// 2^64 per lane) of contribution(lba, block hash) over its non-zero blocks, so
// a single block write updates it in O(1): subtract the old contribution, add
// the new one. Holes and all-zero blocks contribute nothing, so two images
// with equal bytes have equal hashes however they were written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>

namespace snapsim::cow {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
  Hash128& operator+=(const Hash128& o) {
    lo += o.lo;
    hi += o.hi;
    return *this;
  }
  Hash128& operator-=(const Hash128& o) {
    lo -= o.lo;
    hi -= o.hi;
    return *this;
  }
  std::string hex() const;
};

inline std::ostream& operator<<(std::ostream& os, const Hash128& h) { return os << h.hex(); }

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return static_cast<size_t>(h.lo ^ (h.hi * 31)); }
};

Hash128 hash_bytes(std::span<const std::byte> bytes);
// The term one block adds to its image's hash. Zero for a zero block.
Hash128 block_contribution(uint64_t lba, const Hash128& block_hash, const Hash128& zero_hash);

}  // namespace snapsim::cow
