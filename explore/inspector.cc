#include "explore/inspector.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xxhash.h>

namespace snapsim::explore {

namespace {

Status os_error(const std::string& what) {
  return Status::error(cow::Code::kIoError, fmt::format("{}: {}", what, std::strerror(errno)));
}

// Writes the restored tree of every disk under dir/disk<N>/.
Status export_files(Machine& m, const std::string& dir, std::vector<std::string>* written) {
  for (uint32_t d = 0; d < m.disk_count(); ++d) {
    SNAPSIM_RETURN_IF_ERROR(
        export_tree(m.fs(d), (std::filesystem::path(dir) / fmt::format("disk{}", d)).string(), written));
  }
  return Status::ok();
}

// Every field of AppState travels. A field added to AppState changes its
// size and stops the build here until it is added to to_wire and from_wire
// (then update the size).
static_assert(sizeof(AppState) == 240, "AppState changed: add the new field to the workers' wire format");

nlohmann::json to_wire(const AppState& s) {
  return nlohmann::json{{"opened", s.opened},
                        {"open_error", s.open_error},
                        {"recovered", s.recovered},
                        {"recovery_detail", s.recovery_detail},
                        {"integrity_error", s.integrity_error},
                        {"invariant_failures", s.invariant_failures},
                        {"digest", {s.digest.lo, s.digest.hi}},
                        {"store_digest", {s.store_digest.lo, s.store_digest.hi}},
                        {"summary", s.summary},
                        {"digest_known", s.digest_known},
                        {"reported", s.reported},
                        {"reported_detail", s.reported_detail}};
}

AppState from_wire(const nlohmann::json& j) {
  AppState s;
  s.opened = j.at("opened").get<bool>();
  s.open_error = j.at("open_error").get<std::string>();
  s.recovered = j.at("recovered").get<bool>();
  s.recovery_detail = j.at("recovery_detail").get<std::string>();
  s.integrity_error = j.at("integrity_error").get<std::string>();
  s.invariant_failures = j.at("invariant_failures").get<std::vector<std::string>>();
  s.digest = Digest{j.at("digest").at(0).get<uint64_t>(), j.at("digest").at(1).get<uint64_t>()};
  s.store_digest = Digest{j.at("store_digest").at(0).get<uint64_t>(), j.at("store_digest").at(1).get<uint64_t>()};
  s.summary = j.at("summary").get<std::string>();
  s.digest_known = j.at("digest_known").get<bool>();
  s.reported = j.at("reported").get<int>();
  s.reported_detail = j.at("reported_detail").get<std::string>();
  return s;
}

}  // namespace

Status export_tree(sim::GuestFs& fs, const std::string& dir, std::vector<std::string>* written) {
  std::error_code ec;
  const std::filesystem::path root(dir);
  auto fail = [](const std::filesystem::path& p, const std::string& why) {
    return Status::error(cow::Code::kIoError, fmt::format("cannot export {}: {}", p.string(), why));
  };
  std::filesystem::create_directories(root, ec);
  if (ec) return fail(root, ec.message());
  const bool root_user = ::geteuid() == 0;
  std::vector<std::pair<std::filesystem::path, sim::Stat>> dirs;  // modes set last, deepest first
  if (auto st = fs.stat(fs.root())) dirs.emplace_back(root, *st);
  std::string chunk;
  for (const auto& e : fs.walk()) {
    const auto path = root / e.path;
    if (e.stat.type == sim::FileType::kDirectory) {
      std::filesystem::create_directories(path, ec);
      if (ec) return fail(path, ec.message());
      dirs.emplace_back(path, e.stat);
      continue;
    }
    std::filesystem::remove(path, ec);
    if (e.stat.type == sim::FileType::kSymlink) {
      auto target = fs.readlink(e.stat.ref);
      if (!target) return target.status();
      std::filesystem::create_symlink(*target, path, ec);
      if (ec) return fail(path, ec.message());
      if (root_user) (void)::lchown(path.c_str(), e.stat.uid, e.stat.gid);
      if (written) written->push_back(path.string());
      continue;
    }
    {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return fail(path, std::strerror(errno));
      // A MiB at a time, never more in memory; 4 KiB blocks of zeros stay
      // holes (they read back as zeros), so a preallocated file such as a
      // 16 MiB PostgreSQL WAL segment costs what it holds, not its size.
      chunk.resize(1u << 20);
      constexpr size_t kBlock = 4096;
      static const std::array<char, kBlock> zeros{};
      std::string why;
      uint64_t off = 0;
      while (off < e.stat.size && why.empty()) {
        auto n = fs.read(e.stat.ref, off, std::as_writable_bytes(std::span(chunk)));
        if (!n) {
          ::close(fd);
          return n.status();
        }
        if (*n == 0) break;
        for (size_t at = 0; at < *n && why.empty();) {
          size_t run = 0;  // a run of non-zero blocks, written at once
          while (at + run < *n) {
            const size_t len = std::min(kBlock, *n - (at + run));
            if (std::memcmp(chunk.data() + at + run, zeros.data(), len) == 0) break;
            run += len;
          }
          if (run == 0) {
            at += std::min(kBlock, *n - at);
            continue;
          }
          for (size_t done = 0; done < run;) {
            const ssize_t w = ::pwrite(fd, chunk.data() + at + done, run - done, static_cast<off_t>(off + at + done));
            if (w <= 0) {
              why = w < 0 ? std::strerror(errno) : "short write";
              break;
            }
            done += static_cast<size_t>(w);
          }
          at += run;
        }
        off += *n;
      }
      if (why.empty() && ::ftruncate(fd, static_cast<off_t>(off)) != 0) why = std::strerror(errno);
      if (::close(fd) != 0 && why.empty()) why = std::strerror(errno);
      if (!why.empty()) return fail(path, "write failed: " + why);
    }
    if (root_user) (void)::chown(path.c_str(), e.stat.uid, e.stat.gid);
    if (::chmod(path.c_str(), e.stat.mode & 07777) != 0) return fail(path, std::strerror(errno));
    if (written) written->push_back(path.string());
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (root_user) (void)::chown(it->first.c_str(), it->second.uid, it->second.gid);
    // The export's own top directory stays usable by whoever exported it.
    const uint32_t mode = it->first == root && !root_user ? (it->second.mode | 0700) : it->second.mode;
    if (::chmod(it->first.c_str(), mode & 07777) != 0) return fail(it->first, std::strerror(errno));
  }
  return Status::ok();
}

ImageKey image_key(cow::Pool& pool, const std::vector<cow::SnapshotId>& snaps) {
  uint64_t lo = 0x9e3779b97f4a7c15ULL, hi = 0;
  for (size_t d = 0; d < snaps.size(); ++d) {
    const cow::Hash128 h = pool.content_hash(snaps[d]).value();
    const uint64_t buf[3] = {h.lo, h.hi, d};
    lo = XXH3_64bits_withSeed(buf, sizeof buf, lo);
    hi = XXH3_64bits_withSeed(buf, sizeof buf, hi ^ lo);
  }
  return {lo, hi};
}

std::vector<uint8_t> encode_reply(const std::vector<AppState>& states, const Learned& learned) {
  nlohmann::json j;
  j["states"] = nlohmann::json::array();
  for (const auto& s : states) j["states"].push_back(to_wire(s));
  j["visible"] = nlohmann::json::array();
  for (const auto& [k, s] : learned.visible) j["visible"].push_back({k.first, k.second, to_wire(s)});
  j["checks"] = nlohmann::json::array();
  for (const auto& [k, s] : learned.checks) j["checks"].push_back({k.lo, k.hi, to_wire(s)});
  return nlohmann::json::to_msgpack(j);
}

Result<std::pair<std::vector<AppState>, Learned>> decode_reply(const std::vector<uint8_t>& bytes) {
  const nlohmann::json j = nlohmann::json::from_msgpack(bytes, true, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::error(cow::Code::kIoError, "an inspection worker sent a malformed message");
  }
  std::pair<std::vector<AppState>, Learned> out;
  try {
    for (const auto& e : j.at("states")) out.first.push_back(from_wire(e));
    for (const auto& e : j.at("visible")) {
      out.second.visible.emplace_back(ImageKey{e.at(0).get<uint64_t>(), e.at(1).get<uint64_t>()}, from_wire(e.at(2)));
    }
    for (const auto& e : j.at("checks")) {
      out.second.checks.emplace_back(Digest{e.at(0).get<uint64_t>(), e.at(1).get<uint64_t>()}, from_wire(e.at(2)));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::error(cow::Code::kIoError, fmt::format("an inspection worker's message lacks a field: {}", e.what()));
  }
  return out;
}

AppState Inspector::inspect(cow::Pool& pool, const MachineConfig& config, const std::vector<cow::SnapshotId>& snaps,
                            std::vector<std::string>* files, const std::string& export_dir,
                            std::vector<std::string>* exported, Status* export_status) {
  std::vector<cow::VolumeId> vols;
  AppState state;
  for (auto s : snaps) {
    auto c = pool.clone(s);
    if (!c) {
      state.open_error = c.status().to_string();
      break;
    }
    vols.push_back(*c);
  }
  if (vols.size() == snaps.size()) {
    auto m = Machine::boot_restored(&pool, config, vols, Prng(seed_).fork("restore"));
    if (!m) {
      state.open_error = "file system does not mount: " + m.status().to_string();
    } else {
      if (files) {
        for (uint32_t d = 0; d < (*m)->disk_count(); ++d) {
          for (const auto& f : (*m)->fs(d).list()) {
            auto ref = (*m)->fs(d).lookup(f);
            const uint64_t size = ref ? (*m)->fs(d).size(*ref).value() : 0;
            files->push_back(fmt::format("disk{}:{} ({} bytes)", d, f, size));
          }
        }
      }
      if (!export_dir.empty()) *export_status = export_files(**m, export_dir, exported);
      const std::optional<Digest> v = (*m)->visible_files();
      const AppState* hit = v ? visible_.find({v->lo, v->hi}) : nullptr;
      if (hit && export_dir.empty()) {
        probes_->hit(Probe::kVisibleMemoHit);
        state = *hit;
      } else {
        const uint64_t hits = check_memo_.hits();
        state = scenario_.inspect(**m, &check_memo_);
        probes_->hit(Probe::kRecoveredMemoHit, check_memo_.hits() - hits);
        if (v) visible_.put({v->lo, v->hi}, state);
        if (v && learning_) learning_->visible.emplace_back(ImageKey{v->lo, v->hi}, state);
      }
    }
  }
  for (auto v : vols) (void)pool.delete_volume(v);
  return state;
}

namespace {

// A forked worker: inspects `todo[from, to)`, sends the states down `fd` in
// one message and exits.
[[noreturn]] void run_worker(Inspector& inspector, cow::Pool& pool, const MachineConfig& config,
                             const std::vector<Todo>& todo, size_t from, size_t to, int fd) {
  Learned learned;
  inspector.start_learning(&learned);
  std::vector<AppState> states;
  for (size_t i = from; i < to; ++i) states.push_back(inspector.inspect(pool, config, todo[i].snaps));
  const std::vector<uint8_t> out = encode_reply(states, learned);
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n <= 0) ::_exit(1);
    done += static_cast<size_t>(n);
  }
  ::_exit(0);
}

// Forks a worker for todo[from, to); returns its pid and the pipe's read end.
Result<std::pair<pid_t, int>> fork_worker(Inspector& inspector, cow::Pool& pool, const MachineConfig& config,
                                          const std::vector<Todo>& todo, size_t from, size_t to) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return os_error("cannot make a pipe for an inspection worker");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return os_error("cannot fork an inspection worker");
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_worker(inspector, pool, config, todo, from, to, fds[1]);
  }
  ::close(fds[1]);
  return std::pair<pid_t, int>{pid, fds[0]};
}

// Waits for a worker whose pipe is at its end and decodes what it sent:
// `want` states, or an error naming how the worker ended.
Result<std::vector<AppState>> finish_worker(Inspector& inspector, pid_t pid, const std::vector<uint8_t>& in,
                                            size_t want, uint32_t index, Probes* probes) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto reply = decode_reply(in);
  if (reply && reply->first.size() == want) {
    inspector.learn(reply->second);
    return std::move(reply->first);
  }
  const Status states = reply ? Status::ok() : reply.status();
  probes->hit(Probe::kWorkerFailed);
  const std::string how = WIFEXITED(status)     ? fmt::format("exit status {}", WEXITSTATUS(status))
                          : WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                                : fmt::format("wait status {}", status);
  return Status::error(cow::Code::kIoError, fmt::format("inspection worker {} failed ({}{})", index, how,
                                                        states.is_ok() ? "" : "; " + states.message()));
}

}  // namespace

namespace {

uint64_t state_hash(const AppState& s) {
  cow::Hasher64 h;
  auto str = [&](const std::string& t) { h.update_value(t.size()).update(t.data(), t.size()); };
  h.update_value(s.opened).update_value(s.recovered).update_value(s.digest_known).update_value(s.reported);
  str(s.open_error);
  str(s.recovery_detail);
  str(s.integrity_error);
  for (const auto& f : s.invariant_failures) str(f);
  h.update_value(s.digest).update_value(s.store_digest);
  str(s.summary);
  str(s.reported_detail);
  return h.digest();
}

}  // namespace

const AppState& StateCache::put(const ImageKey& key, AppState state) {
  const uint64_t h = state_hash(state);
  uint32_t index = static_cast<uint32_t>(states_.size());
  for (auto [it, end] = by_hash_.equal_range(h); it != end; ++it) {
    if (states_[it->second] == state) {
      index = it->second;
      break;
    }
  }
  if (index == states_.size()) {
    states_.push_back(std::move(state));
    by_hash_.emplace(h, index);
  }
  index_[key] = index;
  return states_[index];
}

Status Inspector::inspect_parallel(cow::Pool& pool, const MachineConfig& config, const std::vector<Todo>& todo,
                                   uint32_t jobs, StateCache* cache) {
  std::vector<std::pair<pid_t, int>> workers;
  auto slice = [&](uint32_t w) { return todo.size() * w / jobs; };
  Status result;
  for (uint32_t w = 0; w < jobs && result.is_ok(); ++w) {
    auto wk = fork_worker(*this, pool, config, todo, slice(w), slice(w + 1));
    if (!wk) {
      result = wk.status();
      break;
    }
    workers.push_back(*wk);
  }
  for (uint32_t w = 0; w < workers.size(); ++w) {
    std::vector<uint8_t> in;
    uint8_t buf[65536];
    ssize_t n;
    while ((n = ::read(workers[w].second, buf, sizeof buf)) > 0) in.insert(in.end(), buf, buf + n);
    ::close(workers[w].second);
    auto states = finish_worker(*this, workers[w].first, in, slice(w + 1) - slice(w), w, probes_);
    if (!result.is_ok()) continue;
    if (!states) {
      result = states.status();
      continue;
    }
    for (size_t i = 0; i < states->size(); ++i) cache->put(todo[slice(w) + i].key, std::move((*states)[i]));
  }
  return result;
}

StreamInspector::~StreamInspector() {
  for (auto& w : workers_) {
    if (w.pid <= 0) continue;  // already reaped (never kill(-1))
    ::kill(w.pid, SIGKILL);
    ::close(w.fd);
    ::waitpid(w.pid, nullptr, 0);
  }
}

Status StreamInspector::submit(cow::Pool& pool, const MachineConfig& config, const ImageKey& key,
                               std::vector<cow::SnapshotId> snaps, bool wanted,
                               StateCache* cache) {
  SNAPSIM_RETURN_IF_ERROR(failed_);
  cache_ = cache;
  auto release = [&](const std::vector<cow::SnapshotId>& ss) -> Status {
    for (auto s : ss) SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(s));
    return Status::ok();
  };
  if (!wanted || cache->contains(key) || queued_.count(key)) return release(snaps);
  if (jobs_ <= 1 || in_place_s_ * 1000.0 < in_place_ms_) {
    const auto t0 = std::chrono::steady_clock::now();
    cache->put(key, inspector_.inspect(pool, config, snaps));
    in_place_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++in_place_n_;
    return release(snaps);
  }
  queued_.insert(key);
  batch_.push_back(Todo{key, std::move(snaps)});
  // A batch goes out once it is worth a fork and a worker is free; while
  // every worker is busy it grows (so slow checks get long contiguous
  // batches, whose memos keep hitting), up to about kMaxBatchMs of work or
  // kMaxBatch images; then the run waits for a worker. A worker lives as
  // long as its batch, and every page the run writes meanwhile is copied
  // (the worker keeps the old one): short lives keep the copies few.
  const double estimate = static_cast<double>(batch_.size()) * per_image_ms();
  if (estimate >= batch_ms_) {
    SNAPSIM_RETURN_IF_ERROR(collect(false));
    if (workers_.size() < jobs_ || estimate >= kMaxBatchMs || batch_.size() >= kMaxBatch) {
      SNAPSIM_RETURN_IF_ERROR(fork_batch(pool, config));
    }
  } else if (++submits_ % 64 == 0) {
    SNAPSIM_RETURN_IF_ERROR(collect(false));
  }
  return failed_;
}

Status StreamInspector::fork_batch(cow::Pool& pool, const MachineConfig& config) {
  if (batch_.empty()) return Status::ok();
  while (workers_.size() >= jobs_) SNAPSIM_RETURN_IF_ERROR(collect(true));
  auto wk = fork_worker(inspector_, pool, config, batch_, 0, batch_.size());
  if (!wk) return wk.status();
  Worker w;
  w.started = std::chrono::steady_clock::now();
  w.pid = wk->first;
  w.fd = wk->second;
  ::fcntl(w.fd, F_SETFL, ::fcntl(w.fd, F_GETFL) | O_NONBLOCK);
  for (auto& t : batch_) {
    w.keys.push_back(t.key);
    for (auto s : t.snaps) SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(s));
  }
  batch_.clear();
  workers_.push_back(std::move(w));
  return Status::ok();
}

Status StreamInspector::reap(Worker& w) {
  ::close(w.fd);
  auto states = finish_worker(inspector_, w.pid, w.in, w.keys.size(), static_cast<uint32_t>(finished_workers_++), probes_);
  w.pid = -1;
  if (!states) return failed_ = states.status();
  // What an image costs now, as the workers see it (checks grow with the
  // application's data, so the first images inspected here underestimate).
  if (!w.keys.empty()) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w.started).count() /
                      static_cast<double>(w.keys.size());
    worker_image_ms_ = worker_image_ms_ < 0 ? ms : 0.5 * worker_image_ms_ + 0.5 * ms;
  }
  for (size_t i = 0; i < w.keys.size(); ++i) {
    queued_.erase(w.keys[i]);
    cache_->put(w.keys[i], std::move((*states)[i]));
  }
  return Status::ok();
}

Status StreamInspector::collect(bool block) {
  while (!workers_.empty()) {
    if (block) {
      std::vector<pollfd> fds;
      for (const auto& w : workers_) fds.push_back(pollfd{w.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return os_error("cannot wait for an inspection worker");
    }
    bool reaped = false;
    for (size_t i = 0; i < workers_.size();) {
      Worker& w = workers_[i];
      uint8_t buf[65536];
      ssize_t n;
      while ((n = ::read(w.fd, buf, sizeof buf)) > 0) w.in.insert(w.in.end(), buf, buf + n);
      if (n == 0) {
        const Status st = reap(w);
        workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
        SNAPSIM_RETURN_IF_ERROR(st);
        reaped = true;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return os_error("cannot read from an inspection worker");
      ++i;
    }
    if (!block || reaped) return Status::ok();
  }
  return Status::ok();
}

Status StreamInspector::finish(cow::Pool& pool, const MachineConfig& config, StateCache* cache) {
  SNAPSIM_RETURN_IF_ERROR(failed_);
  cache_ = cache;
  // A last batch too small to be worth a fork is inspected here.
  if (static_cast<double>(batch_.size()) * per_image_ms() < in_place_ms_) {
    for (auto& t : batch_) {
      cache->put(t.key, inspector_.inspect(pool, config, t.snaps));
      queued_.erase(t.key);
      for (auto s : t.snaps) SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(s));
    }
    batch_.clear();
  }
  SNAPSIM_RETURN_IF_ERROR(fork_batch(pool, config));
  while (!workers_.empty()) SNAPSIM_RETURN_IF_ERROR(collect(true));
  return failed_;
}

}  // namespace snapsim::explore
