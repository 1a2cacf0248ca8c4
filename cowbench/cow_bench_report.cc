#include "cowbench/cow_bench_report.h"

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cow/markup.h"

namespace snapsim::cowbench {

using cow::xml_escape;

namespace {

std::string size_text(uint64_t b) {
  if (b % (1024 * 1024) == 0) return fmt::format("{}m", b / (1024 * 1024));
  if (b % 1024 == 0) return fmt::format("{}k", b / 1024);
  return std::to_string(b);
}

double r6(double v) { return std::round(v * 1e6) / 1e6; }

}  // namespace

std::string cow_bench_table(const CowBenchRun& run) {
  std::string out = fmt::format("cow-bench: {}\n\n", run.source);
  out += fmt::format("{:<18} {:>5} {:>5} {:<5} {:>6} {:>6} {:>6} {:>6} {:>10} {:>9} {:>8} {:>9} {:>9} {:>11} {:>8}\n",
                     "policy", "block", "snaps", "dev", "WA", "rd/w", "wr/w", "meta/w", "device ms",
                     "IOPS", "MB/s", "first us", "rewr us", "snap space", "cpu ns");
  for (const auto& r : run.results) {
    const uint64_t excl = r.snapshot_space_blocks;
    out += fmt::format(
        "{:<18} {:>5} {:>5} {:<5} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f} {:>10.1f} {:>9.0f} {:>8.1f} {:>9.1f} {:>9.1f} {:>11} {:>8.0f}\n",
        cow::policy_name(r.config.policy), size_text(r.config.block_size),
        r.config.every ? fmt::format("{}/{}", r.config.keep, r.config.every) : std::to_string(r.config.snapshots),
        r.config.device.name, r.write_amplification, r.reads_per_write, r.writes_per_write,
        r.metadata_per_write, r.device_time_ms, r.iops, r.throughput_mb_s, r.first_write_us,
        r.rewrite_us, fmt::format("{}/{}", excl, r.volume_blocks), r.cpu_ns_per_op);
  }
  out += "\nWA: physical bytes written per logical byte; rd/w, wr/w, meta/w: physical reads, writes and\n"
         "metadata updates per logical write; first/rewr us: modeled device time of a write to a block\n"
         "a snapshot still shares, and of any other write; snap space: blocks held only by snapshots /\n"
         "the volume's blocks (copy_out keeps one copy per snapshot); cpu ns: the engine's own time per\n"
         "operation (wall clock, the only figure that varies between runs).\n";
  return out;
}

std::string cow_bench_json(const CowBenchRun& run) {
  using json = nlohmann::ordered_json;
  json out;
  out["schema"] = 1;
  out["kind"] = "cow-bench";
  out["source"] = run.source;
  out["configs"] = json::array();
  for (const auto& r : run.results) {
    json j;
    j["policy"] = cow::policy_name(r.config.policy);
    j["block_size"] = r.config.block_size;
    j["snapshots"] = r.config.snapshots;
    j["every"] = r.config.every;
    j["keep"] = r.config.keep;
    j["device"] = r.config.device.name;
    j["logical_writes"] = r.logical_writes;
    j["logical_reads"] = r.logical_reads;
    j["logical_bytes_written"] = r.logical_bytes_written;
    j["flushes"] = r.flushes;
    j["physical_reads"] = r.io.physical_reads;
    j["physical_writes"] = r.io.physical_writes;
    j["physical_bytes_written"] = r.io.physical_writes * static_cast<uint64_t>(r.config.block_size);
    j["bytes_copied"] = r.io.bytes_copied;
    j["metadata_updates"] = r.io.metadata_updates;
    j["write_amplification"] = r6(r.write_amplification);
    j["reads_per_write"] = r6(r.reads_per_write);
    j["writes_per_write"] = r6(r.writes_per_write);
    j["metadata_per_write"] = r6(r.metadata_per_write);
    j["device_time_ms"] = r6(r.device_time_ms);
    j["iops"] = r6(r.iops);
    j["throughput_mb_s"] = r6(r.throughput_mb_s);
    j["first_writes"] = r.first_writes;
    j["rewrites"] = r.rewrites;
    j["first_write_us"] = r6(r.first_write_us);
    j["rewrite_us"] = r6(r.rewrite_us);
    j["volume_blocks"] = r.volume_blocks;
    j["volume_mapped_blocks"] = r.volume_mapped_blocks;
    j["snapshot_exclusive_blocks"] = r.snapshot_exclusive_blocks;
    j["snapshot_space_blocks"] = r.snapshot_space_blocks;
    j["space_timeline"] = json::array();
    for (const auto& [op, b] : r.space_timeline) j["space_timeline"].push_back({op, b});
    j["cpu_ns_per_op"] = r6(r.cpu_ns_per_op);
    out["configs"].push_back(j);
  }
  return out.dump(2) + "\n";
}

std::string cow_bench_html(const CowBenchRun& run) {
  const char* colors[] = {"#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"};
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>snapsim cow-bench</title>\n"
                  "<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}"
                  "svg{border:1px solid #ddd;margin:8px 0}</style></head><body>\n";
  h += fmt::format("<h1>snapsim cow-bench</h1><p>{}</p>\n", xml_escape(run.source));
  // Plot 1: device time per logical write against snapshots held, one line
  // per policy x block size x device.
  std::map<std::string, std::vector<std::pair<double, double>>> lines;
  double max_y = 0, max_x = 1;
  for (const auto& r : run.results) {
    if (r.config.every) continue;
    const std::string key = fmt::format("{} {} {}", cow::policy_name(r.config.policy),
                                        size_text(r.config.block_size), r.config.device.name);
    const double y = r.logical_writes ? r.device_time_ms * 1000.0 / static_cast<double>(r.logical_writes) : 0;
    lines[key].emplace_back(r.config.snapshots, y);
    max_y = std::max(max_y, y);
    max_x = std::max(max_x, static_cast<double>(r.config.snapshots));
  }
  const double W = 640, H = 300, L = 60, B = 40;
  auto plot = [&](const std::string& id, const std::string& title, const std::string& xl, const std::string& yl,
                  const std::map<std::string, std::vector<std::pair<double, double>>>& series, double mx, double my) {
    std::string s = fmt::format("<h2>{}</h2><svg id=\"{}\" width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\n",
                                title, id, W + 220, H + 20);
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/><line x1=\"{0}\" y1=\"10\" x2=\"{0}\" y2=\"{1}\" stroke=\"#333\"/>\n",
                     L, H - B + 10, W);
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>", W / 2, H + 12, xl);
    s += fmt::format("<text x=\"4\" y=\"20\" font-size=\"12\">{}</text>", yl);
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\">0</text><text x=\"{}\" y=\"{}\" font-size=\"11\">{:.4g}</text>",
                     L - 12, H - B + 14, W - 20, H - B + 24, mx);
    s += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"11\">{:.4g}</text>", 36, my);
    int c = 0;
    for (const auto& [name, pts] : series) {
      std::string path;
      for (const auto& [x, y] : pts) {
        const double px = L + (W - L) * (mx > 0 ? x / mx : 0);
        const double py = H - B + 10 - (H - B - 10) * (my > 0 ? y / my : 0);
        path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px, py);
        s += fmt::format("<circle class=\"pt\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{}: {:.4g}</title></circle>",
                         px, py, colors[c % 6], xml_escape(name), y);
      }
      s += fmt::format("<path class=\"series\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, colors[c % 6]);
      s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{}\">{}</text>\n", W + 10, 20 + 16 * c,
                       colors[c % 6], xml_escape(name));
      ++c;
    }
    return s + "</svg>\n";
  };
  h += plot("overhead", "Device time per logical write against snapshots held", "snapshots held",
            "us / write", lines, max_x, max_y);
  // Plot 2: the oldest snapshot's exclusive space over the run.
  std::map<std::string, std::vector<std::pair<double, double>>> space;
  double sx = 1, sy = 1;
  for (const auto& r : run.results) {
    if (r.snapshot_exclusive_blocks.empty() && !r.config.every) continue;
    const std::string key = fmt::format("{} {} snaps={}{}", cow::policy_name(r.config.policy),
                                        size_text(r.config.block_size), r.config.snapshots,
                                        r.config.every ? fmt::format(" every={} keep={}", r.config.every, r.config.keep) : "");
    if (space.count(key)) continue;
    for (const auto& [op, b] : r.space_timeline) {
      space[key].emplace_back(op, b);
      sx = std::max(sx, static_cast<double>(op));
      sy = std::max(sy, static_cast<double>(r.volume_blocks));
    }
  }
  h += plot("space", "Blocks held by snapshots over the run (the top is the source's size)",
            "operations", "blocks", space, sx, sy);
  h += "<h2>Configurations</h2><table id=\"configs\"><tr><th>policy</th><th>block</th><th>snapshots</th><th>device</th>"
       "<th>write amp.</th><th>reads/write</th><th>writes/write</th><th>device ms</th><th>IOPS</th>"
       "<th>first write us</th><th>rewrite us</th></tr>\n";
  for (const auto& r : run.results) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td><td>{:.2f}</td>"
                     "<td>{:.1f}</td><td>{:.0f}</td><td>{:.1f}</td><td>{:.1f}</td></tr>\n",
                     cow::policy_name(r.config.policy), size_text(r.config.block_size), r.config.snapshots,
                     r.config.device.name, r.write_amplification, r.reads_per_write, r.writes_per_write,
                     r.device_time_ms, r.iops, r.first_write_us, r.rewrite_us);
  }
  h += "</table></body></html>\n";
  return h;
}

}  // namespace snapsim::cowbench
