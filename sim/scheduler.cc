#include "sim/scheduler.h"

#include <fmt/format.h>

namespace snapsim::sim {

size_t ScriptedChoices::choose(size_t n) {
  const size_t i = made_.size();
  size_t c = i < prefix_.size() ? prefix_[i] : 0;
  if (c >= n) c = n - 1;  // defensive: a prefix from another run shape
  made_.emplace_back(c, n);
  return c;
}

bool ScriptedChoices::next_prefix(std::vector<size_t>* out) const {
  for (size_t i = made_.size(); i-- > 0;) {
    if (made_[i].first + 1 < made_[i].second) {
      out->clear();
      for (size_t j = 0; j < i; ++j) out->push_back(made_[j].first);
      out->push_back(made_[i].first + 1);
      return true;
    }
  }
  return false;
}

Status run_schedule(const std::vector<Client*>& clients, ChoiceSource& choices,
                    const std::function<Status()>& after_step, const ScheduleLimits& limits) {
  std::vector<bool> blocked(clients.size(), false);
  uint64_t steps = 0;
  while (true) {
    std::vector<size_t> runnable;
    bool any_left = false;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (clients[i]->done()) continue;
      any_left = true;
      if (!blocked[i] && clients[i]->can_run()) runnable.push_back(i);
    }
    if (!any_left) return Status::ok();
    if (runnable.empty()) {
      return Status::error(cow::Code::kBusy,
                           "deadlock: every remaining client is blocked on another");
    }
    if (++steps > limits.max_steps) {
      return Status::invalid_argument(
          fmt::format("run exceeded {} steps without finishing", limits.max_steps));
    }
    const size_t pick = runnable[choices.choose(runnable.size())];
    auto r = clients[pick]->step();
    if (!r) return r.status();
    if (*r == StepResult::kBlocked) {
      blocked[pick] = true;
    } else {
      std::fill(blocked.begin(), blocked.end(), false);
    }
    if (after_step) SNAPSIM_RETURN_IF_ERROR(after_step());
  }
}

}  // namespace snapsim::sim
