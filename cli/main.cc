// snapsim: the command. Thin: parses flags and calls the layers below.
#include <charconv>
#include <cstdint>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "api/commands.h"

namespace {

// Whole numbers only, within the option's type: CLI11 alone would wrap
// "-1" and clamp 2^64 into an unsigned option.
CLI::Validator whole_number(uint64_t max) {
  return CLI::Validator(
      [max](std::string& s) -> std::string {
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) {
          return fmt::format("must be a whole number from 0 to {}, got '{}'", max, s);
        }
        return {};
      },
      "UINT");
}

const CLI::Validator kUint64 = whole_number(UINT64_MAX);
const CLI::Validator kUint32 = whole_number(UINT32_MAX);

void add_run_flags(CLI::App* cmd, snapsim::api::RunFlags& f) {
  cmd->add_option("-p,--param", f.params, "workload parameter key=value (repeatable)");
  cmd->add_option("--quiesce", f.quiesce, "comma list of none,fsfreeze,app,hook");
  cmd->add_option("--model", f.model,
                  "failure model: snapshot (hypervisor snapshot, default) | crash (power loss: "
                  "unflushed writes lost in any subset, torn at sector granularity) | memory (a memory "
                  "snapshot reverted to: the VM resumes, its clients have moved on)");
  cmd->add_option("--revert-after-ms", f.revert_after_ms,
                  "memory model: the VM is reverted this long (simulated) after the snapshot moment "
                  "(default: at the end of the run)")
      ->check(kUint64);
  cmd->add_option("--keepalive-ms", f.keepalive_ms,
                  "memory model: when the guest detects a dead client's connection (default 7200000, "
                  "Linux's TCP keepalive)")
      ->check(kUint64);
  cmd->add_option("--crash-states", f.crash_states,
                  "crash model: images per crash point (every state when they fit, default 32)")
      ->check(kUint32);
  cmd->add_option("--sector-size", f.sector_size, "crash model: torn-write granularity in bytes (default 512)")
      ->check(kUint32);
  cmd->add_option("--seed", f.seed, "root seed of the run (0 to 2^64-1)")->check(kUint64);
  cmd->add_option("--schedules", f.schedules,
                  "seeded schedules, each its own world (interleaving, writeback order), or 'all' "
                  "(every interleaving of one world)");
  cmd->add_option("--writeback", f.writeback, "guest page-cache writeback: eager|lazy|random");
  cmd->add_option("--fs", f.fs, "guest file system: ext4 (journaled, default) | nojournal (metadata in any order)");
  cmd->add_option("--fs-data", f.fs_data, "ext4 data mode: ordered (default) | writeback (nojournal never orders data)");
  cmd->add_option("--json", f.json, "write results as JSON to FILE");
  cmd->add_option("--junit", f.junit, "write JUnit XML (one test case per run) to FILE");
  cmd->add_option("--html", f.html, "write a self-contained HTML report to FILE");
  cmd->add_option("--db", f.db, "write every run and point to an SQLite results FILE");
  cmd->add_option("--save-trace", f.save_trace,
                  "write a process workload's recording to FILE.trace (snapsim run FILE.trace explores it again)");
  cmd->add_option("--fail-on", f.fail_on, "comma list of verdicts that make the exit status 1");
  cmd->add_option("--pool-blocks", f.pool_blocks, "physical blocks in the COW pool")->check(kUint64);
  cmd->add_option("--max-memory", f.max_memory,
                  "stop a run whose resident memory would exceed SIZE (as 4g; 0: no limit; default: 3/4 of RAM)");
  cmd->add_flag("--progress", f.progress,
                "progress lines on stderr every 2 s even when it is not a terminal (default there: every 10 s after 10 s)");
  cmd->add_option("--max-points", f.max_points,
                  "judge at most N points per level and schedule: every FLUSH/FUA, sync, rename and "
                  "acknowledgement point first, then evenly spaced (default: all)")
      ->check(kUint64);
  cmd->add_option("--jobs", f.jobs, "parallel inspection workers (default: the number of cores)")
      ->check(kUint32);
  cmd->add_option("--shard", f.shard,
                  "run only slice K of N (K/N, 1-based); also read from JOB_COMPLETION_INDEX "
                  "(with --shard-count) or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT");
  cmd->add_option("--shard-count", f.shard_count, "total shards when the index comes from JOB_COMPLETION_INDEX")
      ->check(kUint32);
  cmd->add_flag("--shrink", f.shrink,
                "for a failing workload, find the smallest clients x invoices x lines that still fails");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace snapsim::api;
  CLI::App app{"snapsim: does a VM snapshot taken at any moment restore a consistent application?"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", snapsim::api::version_line(SNAPSIM_VERSION, SNAPSIM_GIT_REVISION));
  RunFlags suite_flags;
  add_run_flags(&app, suite_flags);

  auto* list = app.add_subcommand("list", "built-in workloads and their parameters");
  RunFlags run_flags;
  std::vector<std::string> run_names;
  auto* run = app.add_subcommand("run", "explore one or more workloads");
  run->add_option("workload", run_names, "workload name")->required();
  add_run_flags(run, run_flags);

  RunFlags replay_flags;
  std::string replay_name;
  uint64_t point = 0;
  auto* rep = app.add_subcommand("replay", "re-run to one snapshot point and describe it");
  rep->add_option("workload", replay_name, "workload name")->required();
  add_run_flags(rep, replay_flags);
  rep->add_option("--export", replay_flags.export_dir,
                  "write the restored files (before recovery) into DIR");
  rep->add_option("--point", point, "snapshot point (as in first_failure.point)")->required()->check(kUint64);

  auto* demo = app.add_subcommand("cow-demo", "a short tour of the COW engine");

  CowBenchFlags cb;
  auto* bench = app.add_subcommand("cow-bench", "what holding COW snapshots costs a running VM");
  bench->add_option("--pattern", cb.pattern, "seqwrite | randwrite | randrw:R (R% reads)");
  bench->add_option("--io-size", cb.io_size, "bytes per I/O (4k, 64k, ...)");
  bench->add_option("--ios", cb.ios, "number of I/Os");
  bench->add_option("--fsync-every", cb.fsync_every, "a FLUSH every N writes (0: never)");
  bench->add_option("--volume-size", cb.volume_size, "size of the volume (64m)");
  bench->add_option("--pool-size", cb.pool_size, "size of the block pool (default: enough)");
  bench->add_option("--workload", cb.workload, "use the block writes of a workload run instead of a pattern");
  bench->add_option("-p,--param", cb.params, "workload parameter key=value");
  bench->add_option("--snapshots", cb.snapshots, "comma list of snapshots held at once");
  bench->add_option("--policy", cb.policy, "comma list of copy_out, redirect_on_write");
  bench->add_option("--block-size", cb.block_size, "comma list of chunk sizes (4k,64k,1m)");
  bench->add_option("--device", cb.device, "comma list of hdd, ssd, nvme");
  bench->add_option("--every", cb.every, "take a snapshot every K writes (retention schedule)");
  bench->add_option("--keep", cb.keep, "keep the last R snapshots (with --every)");
  bench->add_option("--seed", cb.seed, "seed of the pattern")->check(kUint64);
  bench->add_option("--json", cb.json, "write results as JSON to FILE");
  bench->add_option("--html", cb.html, "write an HTML page with plots to FILE");

  std::string trace_path;
  auto* trc = app.add_subcommand("trace", "print a process workload's recording (FILE.trace), one line per request");
  trc->add_option("file", trace_path, "the recording")->required();
  RunFlags merge_flags;
  std::string merge_out;
  std::vector<std::string> merge_in;
  auto* mrg = app.add_subcommand("merge", "combine the results databases of shards: merge OUT.db IN.db...");
  mrg->add_option("out", merge_out, "merged results database to write")->required();
  mrg->add_option("inputs", merge_in, "shard results databases")->required();
  mrg->add_option("--json", merge_flags.json, "also write the merged results as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "snapsim: {}\n", e.what());
    return kExitBadInput;
  }
  if (*list) return list_workloads();
  if (*run) return run_workloads(run_names, run_flags);
  if (*rep) {
    replay_flags.point = point;
    return replay(replay_name, replay_flags);
  }
  if (*demo) return cow_demo();
  if (*mrg) return merge(merge_out, merge_in, merge_flags);
  if (*trc) return show_trace(trace_path);
  if (*bench) return cow_bench(cb);
  return run_suite(suite_flags);
}
