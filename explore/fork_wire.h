// The wire format of a forked run's image (explore/failure_model.h,
// run_on_fork): its blocks and commit digests as MessagePack-ready JSON,
// shared by the hook level (explorer.cc) and the memory model. Internal to
// the explore library (nlohmann-json is its private dependency).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "explore/failure_model.h"

namespace snapsim::explore {

inline nlohmann::json digests_json(const std::vector<Digest>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& d : v) a.push_back({d.lo, d.hi});
  return a;
}

inline std::vector<Digest> digests_from_json(const nlohmann::json& j) {
  std::vector<Digest> out;
  for (const auto& d : j) out.push_back(Digest{d.at(0).get<uint64_t>(), d.at(1).get<uint64_t>()});
  return out;
}

inline nlohmann::json blocks_json(const DiskBlocks& blocks) {
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : blocks) {
    nlohmann::json b = nlohmann::json::array();
    for (const auto& [lba, data] : d) b.push_back({lba, nlohmann::json::binary(data)});
    disks.push_back(std::move(b));
  }
  return disks;
}

inline DiskBlocks blocks_from_json(const nlohmann::json& j) {
  DiskBlocks out;
  for (const auto& d : j) {
    out.emplace_back();
    for (const auto& b : d) out.back().emplace_back(b.at(0).get<uint64_t>(), b.at(1).get_binary());
  }
  return out;
}

}  // namespace snapsim::explore
