// Prng: the one source of randomness in a simulated run.
//
// One root seed per run; named streams are forked from it
// (`prng.fork("writeback")`), so adding a draw in one place never shifts the
// draws of another. xoshiro256** seeded through splitmix64; no std
// distributions (their output differs between standard libraries).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace snapsim::sim {

class Prng {
 public:
  explicit Prng(uint64_t seed);
  uint64_t seed() const { return seed_; }
  // A new independent stream named `name` (and optionally numbered).
  Prng fork(std::string_view name, uint64_t index = 0) const;

  uint64_t next_u64();
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t uniform(uint64_t n);
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t range(int64_t lo, int64_t hi);
  // True with probability num/den.
  bool chance(uint64_t num, uint64_t den);
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform(i)]);
  }

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

}  // namespace snapsim::sim
