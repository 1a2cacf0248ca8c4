// SimClock: simulated time in nanoseconds. Never the wall clock.
#pragma once

#include <cstdint>

namespace snapsim::sim {

class SimClock {
 public:
  uint64_t now_ns() const { return now_ns_; }
  double now_ms() const { return static_cast<double>(now_ns_) / 1e6; }
  void advance_ns(uint64_t ns) { now_ns_ += ns; }
  void advance_us(double us) { now_ns_ += static_cast<uint64_t>(us * 1000.0); }

 private:
  uint64_t now_ns_ = 0;
};

}  // namespace snapsim::sim
