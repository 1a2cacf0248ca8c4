// The snapsim subcommands, as the command line runs them: cli/main.cc
// parses the flags (CLI11) and calls these, and nothing else. Each prints
// its results (matrix, tables, replay) and returns the exit status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace snapsim::api {

// Exit statuses (DESIGN.md): 0 ran, 1 --fail-on verdicts found, 2 bad input.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailOn = 1;
inline constexpr int kExitBadInput = 2;

struct RunFlags {
  std::vector<std::string> params;
  std::string quiesce = "none,fsfreeze,app";
  std::string model = "snapshot";
  uint32_t crash_states = 32;
  uint32_t sector_size = 512;
  std::optional<uint64_t> revert_after_ms;  // memory model
  uint64_t keepalive_ms = 7'200'000;        // memory model
  uint64_t seed = 1;
  std::string schedules = "1";
  std::string writeback = "random";
  std::string fs;       // "": the workload's own (ext4 unless a script says)
  std::string fs_data;  // "": the workload's own (ordered)
  std::string json;
  std::string junit;
  std::string html;
  std::string db;
  std::string save_trace;  // a process workload's recording, written here (.trace)
  bool shrink = false;
  uint32_t jobs = 0;        // 0: number of cores
  std::string shard;        // "K/N", 1-based
  uint32_t shard_count = 0; // total for JOB_COMPLETION_INDEX
  std::string fail_on;
  uint64_t pool_blocks = 1ull << 22;
  uint64_t max_points = 0;  // --max-points: points judged per level and schedule (0 = all)
  std::string max_memory;   // --max-memory SIZE ("" = three quarters of the machine's RAM; 0 = no limit)
  bool progress = false;    // --progress: progress lines on stderr even when it is not a terminal
  // replay
  std::optional<uint64_t> point;
  std::string export_dir;
};

int cow_demo();

// "snapsim 0.1.0 (git 1234abcd, SQLite 3.40.1, libfuse 3.14.0)".
std::string version_line(const std::string& version, const std::string& revision);

struct CowBenchFlags {
  std::string pattern = "randwrite";
  std::string io_size = "4k";
  int64_t ios = 10000;
  int64_t fsync_every = 0;
  std::string volume_size = "64m";
  std::string pool_size;
  std::string workload;
  std::vector<std::string> params;
  std::string snapshots = "0,1,2,4,8,16";
  std::string policy = "copy_out,redirect_on_write";
  std::string block_size = "4k";
  std::string device = "ssd";
  int64_t every = 0;
  int64_t keep = 0;
  uint64_t seed = 1;
  std::string json;
  std::string html;
};
int cow_bench(const CowBenchFlags& flags);
int list_workloads();
int run_workloads(const std::vector<std::string>& workloads, const RunFlags& flags);
int run_suite(const RunFlags& flags);
int replay(const std::string& workload, const RunFlags& flags);
// `snapsim trace FILE.trace`: the recording, one line per request or marker.
int show_trace(const std::string& path);
int merge(const std::string& out, const std::vector<std::string>& inputs, const RunFlags& flags);

}  // namespace snapsim::api
