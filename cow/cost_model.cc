#include "cow/cost_model.h"

#include <fmt/format.h>

namespace snapsim::cow {

const std::vector<DeviceProfile>& device_profiles() {
  static const std::vector<DeviceProfile> kProfiles = {
      {"hdd", 8000, 8000, 15000, 150, 2, 20000},
      {"ssd", 100, 60, 1000, 500, 1, 2000},
      {"nvme", 20, 15, 200, 3000, 0.5, 500},
  };
  return kProfiles;
}

Result<DeviceProfile> find_device(const std::string& name) {
  for (const auto& d : device_profiles()) {
    if (d.name == name) return d;
  }
  return Status::invalid_argument(
      fmt::format("unknown device '{}' (expected hdd, ssd or nvme)", name));
}

const DeviceProfile& default_device() { return device_profiles()[1]; }

double device_time_us(const IoCounters& c, uint32_t block_size, const DeviceProfile& d) {
  const double bytes = static_cast<double>(c.physical_reads + c.physical_writes) * block_size;
  return static_cast<double>(c.physical_reads) * d.read_us +
         static_cast<double>(c.physical_writes) * d.write_us + bytes / d.bandwidth_mb_s +
         static_cast<double>(c.metadata_updates) * d.metadata_update_us;
}

}  // namespace snapsim::cow
