#include <cassert>
#include <charconv>

#include <fmt/format.h>

#include "workloads/workload.h"

namespace snapsim::workloads {

Result<Params> Params::resolve(const std::string& workload, const std::vector<ParamSpec>& specs,
                               const std::vector<std::string>& overrides) {
  Params p;
  for (const auto& s : specs) {
    p.values_[s.name] = s.default_value;
    if (s.shrinkable) p.shrinkable_.push_back(s.name);
  }
  for (const auto& item : overrides) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::invalid_argument(
          fmt::format("parameter '{}' is not of the form key=value", item));
    }
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == key) spec = &s;
    }
    if (!spec) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      return Status::invalid_argument(fmt::format(
          "unknown parameter '{}' for workload '{}' (known: {})", key, workload, known));
    }
    switch (spec->kind) {
      case ParamKind::kInt: {
        int64_t v = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || ptr != value.data() + value.size() || v < spec->min ||
            v > spec->max) {
          return Status::invalid_argument(
              fmt::format("parameter '{}' must be an integer from {} to {}, got '{}'", key,
                          spec->min, spec->max, value));
        }
        p.values_[key] = std::to_string(v);
        break;
      }
      case ParamKind::kChoice: {
        bool ok = false;
        for (const auto& c : spec->choices) ok = ok || c == value;
        if (!ok) {
          return Status::invalid_argument(fmt::format("parameter '{}' must be one of {}, got '{}'",
                                                      key, fmt::join(spec->choices, ", "), value));
        }
        p.values_[key] = value;
        break;
      }
      case ParamKind::kText:
        p.values_[key] = value;
        break;
      case ParamKind::kBool:
        if (value != "true" && value != "false") {
          return Status::invalid_argument(
              fmt::format("parameter '{}' must be true or false, got '{}'", key, value));
        }
        p.values_[key] = value;
        break;
    }
  }
  return p;
}

int64_t Params::integer(const std::string& key) const {
  auto it = values_.find(key);
  assert(it != values_.end());
  return std::stoll(it->second);
}

const std::string& Params::text(const std::string& key) const {
  auto it = values_.find(key);
  assert(it != values_.end());
  return it->second;
}

bool Params::boolean(const std::string& key) const { return text(key) == "true"; }

std::string Params::to_flags() const {
  std::string out;
  for (const auto& [k, v] : values_) out += fmt::format("{}-p {}={}", out.empty() ? "" : " ", k, v);
  return out;
}

}  // namespace snapsim::workloads
