#include "explore/shrinker.h"

#include <charconv>
#include <cstdint>

namespace snapsim::explore {

Shrunk shrink(ParamMap start, const std::vector<std::string>& order,
              const std::function<bool(const ParamMap&)>& fails) {
  Shrunk out{std::move(start), false};
  for (const auto& key : order) {
    auto it = out.params.find(key);
    if (it == out.params.end()) continue;
    int64_t current = 0;
    const std::string& text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), current);
    if (ec != std::errc() || end != text.data() + text.size()) continue;
    for (int64_t v = 1; v < current; ++v) {
      ParamMap trial = out.params;
      trial[key] = std::to_string(v);
      if (fails(trial)) {
        out.params = std::move(trial);
        out.fails = true;
        break;
      }
    }
  }
  if (!out.fails) out.fails = fails(out.params);
  return out;
}

}  // namespace snapsim::explore
