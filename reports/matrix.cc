#include "reports/matrix.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

namespace snapsim::reports {

namespace {

const char* kShort[explore::kVerdictCount] = {"cons", "rec", "lost", "torn", "inv", "corrupt", "unrec"};

std::string row_key(const RunRecord& r) {
  std::string k = r.workload;
  for (const auto& [p, v] : r.params) k += fmt::format(" {}={}", p, v);
  if (r.model != explore::Model::kSnapshot) k += std::string(" model=") + explore::model_name(r.model);
  return k;
}

}  // namespace

std::string render_matrix(const std::vector<RunRecord>& runs, bool color) {
  const std::string red = color ? "\033[31m" : "", green = color ? "\033[32m" : "",
                    bold = color ? "\033[1m" : "", reset = color ? "\033[0m" : "";
  // Rows in first-seen order.
  std::vector<std::string> order;
  std::map<std::string, std::map<explore::Quiesce, const RunRecord*>> rows;
  for (const auto& r : runs) {
    const std::string k = row_key(r);
    if (!rows.count(k)) order.push_back(k);
    rows[k][r.level.level] = &r;
  }
  // Cells as wide as the longest verdict breakdown.
  size_t kCell = 34;
  for (const auto& r : runs) {
    size_t len = 0;
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      if (r.level.verdicts[v]) len += std::strlen(kShort[v]) + fmt::formatted_size(" {} ", r.level.verdicts[v]);
    }
    kCell = std::max(kCell, len + 1);
  }
  // Row labels: the workload and the settings given for it (-p, or the
  // suite's), by name. Results read back from a database carry none: there,
  // the parameters whose values differ between the rows of one workload.
  std::map<std::string, std::set<std::string>> varying;
  std::map<std::string, std::map<std::string, std::string>> seen;
  for (const auto& r : runs) {
    auto& first = seen[r.workload];
    for (const auto& [k, v] : r.params) {
      auto [it, fresh] = first.emplace(k, v);
      if (!fresh && it->second != v) varying[r.workload].insert(k);
    }
  }
  std::map<std::string, std::string> labels;
  size_t width = 44;
  for (const auto& key : order) {
    const RunRecord* any = rows[key].begin()->second;
    std::string label = any->workload;
    if (!any->overrides.empty()) {
      for (const auto& [k, v] : any->overrides) label += fmt::format(" {}={}", k, v);
    } else {
      for (const auto& k : varying[any->workload]) label += fmt::format(" {}={}", k, any->params.at(k));
    }
    if (any->model != explore::Model::kSnapshot) label += fmt::format(" [{}]", explore::model_name(any->model));
    labels[key] = label;
    width = std::max(width, label.size() + 1);
  }
  const std::vector<explore::Quiesce> columns = report_columns(runs);
  std::string out;
  out += fmt::format("{}{:<{}}", bold, "WORKLOAD", width);
  for (auto q : columns) {
    out += fmt::format("{:<{}}", explore::quiesce_name(q), kCell);
  }
  out += reset + "\n";
  std::string summaries, details;
  for (const auto& key : order) {
    const auto& cells = rows[key];
    const RunRecord* any = cells.begin()->second;
    const std::string label = labels[key];
    std::string line1 = fmt::format("{:<{}}", label, width);
    std::string line2 = fmt::format("{:<{}}", "", width);
    for (auto q : columns) {
      auto it = cells.find(q);
      if (it == cells.end()) {
        line1 += fmt::format("{:<{}}", "-", kCell);
        line2 += fmt::format("{:<{}}", "", kCell);
        continue;
      }
      const auto& l = it->second->level;
      const uint64_t fails = explore::failure_count(l.verdicts);
      const std::string head =
          fails ? fmt::format("FAIL {}/{}", fails, l.points) : fmt::format("ok {}/{}", l.points, l.points);
      line1 += (fails ? red : green) + fmt::format("{:<{}}", head, kCell) + reset;
      std::string detail;
      for (size_t v = 0; v < explore::kVerdictCount; ++v) {
        if (l.verdicts[v]) detail += fmt::format("{}{} {}", detail.empty() ? "" : " ", kShort[v], l.verdicts[v]);
      }
      line2 += fmt::format("{:<{}}", detail, kCell);
    }
    out += line1 + "\n" + line2 + "\n";
    // Conclusion: weakest level with no failure (the vendor's own hook
    // before the ideal drain).
    std::string verdict;
    for (auto q : {explore::Quiesce::kNone, explore::Quiesce::kFsfreeze, explore::Quiesce::kHook,
                   explore::Quiesce::kApp}) {
      auto it = cells.find(q);
      if (it == cells.end()) continue;
      const auto& l = it->second->level;
      // Under a budget the claim is about the points judged, and says so.
      const std::string judged =
          l.points_budgeted_out ? fmt::format(" judged (of {})", l.points + l.points_budgeted_out) : "";
      if (explore::failure_count(l.verdicts) == 0 && l.client) {
        // A revert needs no recovery; what it costs is the clients'.
        const auto& c = *l.client;
        const bool hurt = c.points[1] || c.points[2] || (c.reverted_is_failure && c.points[0]);
        verdict = fmt::format("{}{}{}: every one of {} revert points{} restored consistent{}", hurt ? red : green,
                              hurt ? "the data survives a revert, its clients do not" : "survives a revert", reset,
                              l.points, judged,
                              hurt ? fmt::format(" ({} reissued an identifier a client holds, {} blocked new clients "
                                                 "on a dead session)",
                                                 c.points[1], c.points[2])
                                   : "");
        break;
      }
      if (explore::failure_count(l.verdicts) == 0 && it->second->model == explore::Model::kCrash) {
        verdict = fmt::format("{}survives power loss{}: every one of {} crash images{} restored consistent",
                              green, reset, l.points, judged);
        break;
      }
      if (explore::failure_count(l.verdicts) == 0) {
        verdict = fmt::format("{}safe at `{}`{}: every one of {} points{} restored consistent; "
                              "freeze window {:.3f} ms (worst)",
                              green, explore::quiesce_name(q), reset, l.points, judged, l.freeze_window_ms);
        break;
      }
    }
    if (verdict.empty()) {
      verdict = red + (any->model == explore::Model::kCrash ? std::string("does not survive power loss")
                                             : std::string("not safe at any explored level")) +
                reset;
    }
    // One summary line per row first (named as in the matrix: by the
    // parameters that distinguish it), then each row's details.
    summaries += fmt::format("  {}: {}\n", label, verdict);
    std::string conclusions;
    if (const std::string c = crash_coverage_line(*any); !c.empty()) conclusions += "    " + c + "\n";
    for (const std::string& c : client_outcome_lines(*any)) conclusions += "    " + c + "\n";
    if (any->schedules_run > 1 && any->distinct_traces > 0 && any->distinct_traces < any->schedules_run) {
      conclusions += fmt::format("    note: {} schedules ran {} distinct execution(s)\n", any->schedules_run,
                                 any->distinct_traces);
    }
    for (const auto& [q, r] : cells) {
      if (r->max_points > 0 && r->level.points_budgeted_out > 0) {
        conclusions += fmt::format("    {}: --max-points {} judged {} of {} points (syncs, renames and "
                                   "acknowledgements first, then evenly spaced)\n",
                                   explore::quiesce_name(q), r->max_points,
                                   r->level.points_existing - r->level.points_budgeted_out, r->level.points_existing);
      }
    }
    if (auto it = cells.find(explore::Quiesce::kHook); it != cells.end()) {
      const auto& h = it->second->level.hook;
      conclusions += fmt::format(
          "    hook: {} snapshot(s) requested, {} timed out ({} failed: no image; {} taken crash-consistent); "
          "longest hook {:.3f} ms\n",
          h.requested, h.timed_out, h.failed, h.crash_consistent, h.wait_ms_max);
    }
    for (const auto& [q, r] : cells) {
      if (r->level.first_failure) {
        const auto& f = *r->level.first_failure;
        conclusions += fmt::format("    {} first failure at point {}: {}: {}\n      replay: {}\n",
                                   explore::quiesce_name(q), f.point, explore::verdict_name(f.verdict),
                                   f.detail, r->replay);
      }
    }
    if (!conclusions.empty()) details += fmt::format("  {}:\n{}", label, conclusions);
  }
  out += "\n" + summaries;
  if (!details.empty()) out += "\ndetails:\n" + details;
  out += "\nlegend: cons consistent, rec recovered (both fine); lost lost_committed, torn "
         "torn_transaction,\n        inv invariant_violation, corrupt, unrec unrecoverable "
         "(failures).\n        Counts are snapshot points (crash images under --model crash, revert points under "
         "--model memory).\n";
  return out;
}

}  // namespace snapsim::reports
