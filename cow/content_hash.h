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

struct XXH3_state_s;  // xxhash.h

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

// Streaming XXH3 that owns its state: no manual free on any path.
class Hasher128 {
 public:
  Hasher128();
  ~Hasher128();
  Hasher128(const Hasher128&) = delete;
  Hasher128& operator=(const Hasher128&) = delete;
  void reset();
  Hasher128& update(const void* data, size_t n);
  // The bytes of a trivially copyable value.
  template <typename T>
  Hasher128& update_value(const T& v) {
    return update(&v, sizeof v);
  }
  Hash128 digest() const;

 private:
  ::XXH3_state_s* state_;
};

// The same, 64 bits wide (trace hashes).
class Hasher64 {
 public:
  Hasher64();
  ~Hasher64();
  Hasher64(const Hasher64&) = delete;
  Hasher64& operator=(const Hasher64&) = delete;
  Hasher64& update(const void* data, size_t n);
  template <typename T>
  Hasher64& update_value(const T& v) {
    return update(&v, sizeof v);
  }
  uint64_t digest() const;

 private:
  ::XXH3_state_s* state_;
};
// The term one block adds to its image's hash. Zero for a zero block.
Hash128 block_contribution(uint64_t lba, const Hash128& block_hash, const Hash128& zero_hash);

}  // namespace snapsim::cow
