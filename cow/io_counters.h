// IoCounters: what the COW engine did, counted, so a cost model can turn it
// into device time and benchmarks can show write amplification.
#pragma once

#include <cstdint>

namespace snapsim::cow {

struct IoCounters {
  uint64_t logical_reads = 0;     // blocks read by the client
  uint64_t logical_writes = 0;    // blocks written by the client
  uint64_t physical_reads = 0;    // blocks read from the pool (data reads, RMW, copy-out reads)
  uint64_t physical_writes = 0;   // blocks written to the pool (new data, copies)
  uint64_t bytes_copied = 0;      // bytes moved by copy-out (old data preserved for a snapshot)
  uint64_t metadata_updates = 0;  // block-map nodes created/shadowed plus mapping changes
  uint64_t blocks_allocated = 0;
  uint64_t blocks_freed = 0;

  IoCounters& operator+=(const IoCounters& o);
  friend IoCounters operator-(IoCounters a, const IoCounters& b);
  friend bool operator==(const IoCounters&, const IoCounters&) = default;
};

}  // namespace snapsim::cow
