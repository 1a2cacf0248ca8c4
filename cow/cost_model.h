// CostModel: turns IoCounters into simulated device time.
//
// The figures are typical orders of magnitude for 4 KiB random I/O on each
// device class (vendor datasheets and common fio results), not measurements
// of any one device. What matters for snapsim is their ratios: an HDD pays a
// seek per random I/O, flash pays little for reads, and every physical I/O a
// COW policy adds shows up as time.
//
//   time_us = physical_reads  * read_us
//           + physical_writes * write_us
//           + bytes moved      / bandwidth
//           + metadata_updates * metadata_update_us
//   flush / snapshot create are charged per call by the simulator.
//
// | profile | read_us | write_us | flush_us | bandwidth MB/s | meta_us |
// |---------|---------|----------|----------|----------------|---------|
// | hdd     | 8000    | 8000     | 15000    | 150            | 2       |
// | ssd     | 100     | 60       | 1000     | 500            | 1       |
// | nvme    | 20      | 15       | 200      | 3000           | 0.5     |
#pragma once

#include <string>
#include <vector>

#include "cow/io_counters.h"
#include "cow/status.h"

namespace snapsim::cow {

struct DeviceProfile {
  std::string name;
  double read_us;
  double write_us;
  double flush_us;
  double bandwidth_mb_s;
  double metadata_update_us;
  double snapshot_create_us;  // hypervisor: pause + metadata commit
};

const std::vector<DeviceProfile>& device_profiles();
Result<DeviceProfile> find_device(const std::string& name);
// The profile used when none is named: ssd.
const DeviceProfile& default_device();

// Modeled time for the I/O in `c` with block size `block_size`.
double device_time_us(const IoCounters& c, uint32_t block_size, const DeviceProfile& d);

}  // namespace snapsim::cow
