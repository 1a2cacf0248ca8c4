#include "cow/content_hash.h"

#include <fmt/format.h>
#include <xxhash.h>

namespace snapsim::cow {

namespace {
uint64_t mix64(uint64_t x) {  // splitmix64 finaliser: a bijection with good avalanche
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
}  // namespace

std::string Hash128::hex() const { return fmt::format("{:016x}{:016x}", hi, lo); }

Hash128 hash_bytes(std::span<const std::byte> bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Hash128{h.low64, h.high64};
}

Hasher128::Hasher128() : state_(XXH3_createState()) { XXH3_128bits_reset(state_); }
Hasher128::~Hasher128() { XXH3_freeState(state_); }
void Hasher128::reset() { XXH3_128bits_reset(state_); }
Hasher128& Hasher128::update(const void* data, size_t n) {
  XXH3_128bits_update(state_, data, n);
  return *this;
}
Hash128 Hasher128::digest() const {
  const XXH128_hash_t h = XXH3_128bits_digest(state_);
  return Hash128{h.low64, h.high64};
}

Hasher64::Hasher64() : state_(XXH3_createState()) { XXH3_64bits_reset(state_); }
Hasher64::~Hasher64() { XXH3_freeState(state_); }
Hasher64& Hasher64::update(const void* data, size_t n) {
  XXH3_64bits_update(state_, data, n);
  return *this;
}
uint64_t Hasher64::digest() const { return XXH3_64bits_digest(state_); }

Hash128 block_contribution(uint64_t lba, const Hash128& block_hash, const Hash128& zero_hash) {
  if (block_hash == zero_hash) return Hash128{};
  const uint64_t a = mix64(lba * 0x9e3779b97f4a7c15ULL + 1);
  return Hash128{mix64(block_hash.lo ^ a), mix64(block_hash.hi + mix64(a))};
}

}  // namespace snapsim::cow
