#include "explore/failure_model.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cassert>
#include <cstdio>
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
    {Model::kMemory, "memory", make_memory_model},
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

Result<std::vector<uint8_t>> run_on_fork(const std::function<std::vector<uint8_t>()>& child, const std::string& what) {
  int fds[2];
  if (::pipe(fds) != 0) return Status::error(cow::Code::kIoError, "cannot make a pipe for " + what);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::error(cow::Code::kIoError, "cannot fork " + what);
  }
  if (pid == 0) {
    ::close(fds[0]);
    const std::vector<uint8_t> bytes = child();
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fds[1], bytes.data() + done, bytes.size() - done);
      if (n <= 0) ::_exit(1);
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<uint8_t> in;
  uint8_t buf[65536];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) in.insert(in.end(), buf, buf + n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::error(cow::Code::kIoError, fmt::format("{} died (wait status {})", what, status));
  }
  return in;
}

Result<DiskBlocks> read_blocks(cow::Pool& pool, Machine& m, const std::vector<std::set<uint64_t>>& touched) {
  DiskBlocks out(m.disk_count());
  const uint32_t bs = pool.block_size();
  for (uint32_t d = 0; d < m.disk_count() && d < touched.size(); ++d) {
    for (uint64_t lba : touched[d]) {
      std::vector<uint8_t> data(bs);
      SNAPSIM_RETURN_IF_ERROR(pool.read_blocks(m.disk(d).volume(), lba, std::as_writable_bytes(std::span(data))));
      out[d].emplace_back(lba, std::move(data));
    }
  }
  return out;
}

Result<std::vector<cow::SnapshotId>> with_blocks(cow::Pool& pool, const std::vector<cow::SnapshotId>& base,
                                                 const DiskBlocks& blocks) {
  std::vector<cow::SnapshotId> out;
  const uint32_t bs = pool.block_size();
  for (size_t d = 0; d < base.size(); ++d) {
    if (d >= blocks.size() || blocks[d].empty()) {
      out.push_back(base[d]);
      continue;
    }
    auto clone = pool.clone(base[d]);
    if (!clone) return clone.status();
    for (const auto& [lba, data] : blocks[d]) {
      if (data.size() != bs) return Status::error(cow::Code::kIoError, "a forked run sent a partial block");
      SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*clone, lba, std::as_bytes(std::span(data))));
    }
    auto snap = pool.snapshot(*clone);
    if (!snap) return snap.status();
    SNAPSIM_RETURN_IF_ERROR(pool.delete_volume(*clone));
    SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(base[d]));
    out.push_back(*snap);
  }
  return out;
}

namespace {
constexpr const char* kClientOutcomeNames[kClientOutcomeCount] = {"reverted_acknowledged", "reissued_identifier",
                                                                  "blocked_session"};
}

const char* client_outcome_name(ClientOutcome o) { return kClientOutcomeNames[static_cast<size_t>(o)]; }

std::optional<ClientOutcome> parse_client_outcome(const std::string& name) {
  for (size_t i = 0; i < kClientOutcomeCount; ++i) {
    if (name == kClientOutcomeNames[i]) return static_cast<ClientOutcome>(i);
  }
  return std::nullopt;
}

cow::Result<Model> parse_model(const std::string& name) {
  std::string known;
  for (const auto& e : kModels) {
    if (name == e.name) return e.id;
    known += fmt::format("{}{}", known.empty() ? "" : " or ", e.name);
  }
  return Status::invalid_argument(fmt::format("unknown model '{}' (expected {})", name, known));
}

}  // namespace snapsim::explore
