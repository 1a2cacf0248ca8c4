#include "sim/prng.h"

#include <cassert>

#include <xxhash.h>

namespace snapsim::sim {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Prng::Prng(uint64_t seed) : seed_(seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

Prng Prng::fork(std::string_view name, uint64_t index) const {
  const uint64_t h = XXH3_64bits_withSeed(name.data(), name.size(), seed_);
  return Prng(h ^ (index * 0x9e3779b97f4a7c15ULL) ^ rotl(index, 17));
}

uint64_t Prng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Prng::uniform(uint64_t n) {
  assert(n > 0);
  // Rejection sampling: no modulo bias, deterministic across platforms.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

int64_t Prng::range(int64_t lo, int64_t hi) {
  assert(lo <= hi);
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<int64_t>(next_u64());  // full 64-bit range
  return lo + static_cast<int64_t>(uniform(span));
}

bool Prng::chance(uint64_t num, uint64_t den) { return uniform(den) < num; }

}  // namespace snapsim::sim
