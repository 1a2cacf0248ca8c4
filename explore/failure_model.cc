#include "explore/failure_model.h"

#include <cassert>
#include <cstdlib>

#include <fmt/format.h>

namespace snapsim::explore {

namespace {

// Every failure model: its id, its name on the command line and in reports,
// and its factory. Adding a model adds one line here.
struct ModelEntry {
  Model id;
  const char* name;
  std::unique_ptr<FailureModel> (*make)();
};
const ModelEntry kModels[] = {
    {Model::kSnapshot, "snapshot", make_snapshot_model},
    {Model::kCrash, "crash", make_crash_model},
};

const ModelEntry& entry(Model m) {
  for (const auto& e : kModels) {
    if (e.id == m) return e;
  }
  assert(false && "a Model without an entry in kModels");
  std::abort();
}

}  // namespace

std::unique_ptr<FailureModel> make_failure_model(Model m) { return entry(m).make(); }

const char* model_name(Model m) { return entry(m).name; }

cow::Result<Model> parse_model(const std::string& name) {
  std::string known;
  for (const auto& e : kModels) {
    if (name == e.name) return e.id;
    known += fmt::format("{}{}", known.empty() ? "" : " or ", e.name);
  }
  return Status::invalid_argument(fmt::format("unknown model '{}' (expected {})", name, known));
}

}  // namespace snapsim::explore
