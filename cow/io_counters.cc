#include "cow/io_counters.h"

namespace snapsim::cow {

IoCounters& IoCounters::operator+=(const IoCounters& o) {
  logical_reads += o.logical_reads;
  logical_writes += o.logical_writes;
  physical_reads += o.physical_reads;
  physical_writes += o.physical_writes;
  bytes_copied += o.bytes_copied;
  metadata_updates += o.metadata_updates;
  blocks_allocated += o.blocks_allocated;
  blocks_freed += o.blocks_freed;
  return *this;
}

IoCounters operator-(IoCounters a, const IoCounters& b) {
  a.logical_reads -= b.logical_reads;
  a.logical_writes -= b.logical_writes;
  a.physical_reads -= b.physical_reads;
  a.physical_writes -= b.physical_writes;
  a.bytes_copied -= b.bytes_copied;
  a.metadata_updates -= b.metadata_updates;
  a.blocks_allocated -= b.blocks_allocated;
  a.blocks_freed -= b.blocks_freed;
  return a;
}

}  // namespace snapsim::cow
