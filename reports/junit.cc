#include "reports/junit.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "cow/markup.h"

namespace snapsim::reports {

using cow::xml_escape;

std::string to_junit(const std::vector<RunRecord>& runs, const std::vector<explore::Verdict>& fail_on,
                     const std::vector<explore::ClientOutcome>& fail_on_client) {
  std::vector<explore::Verdict> gate = fail_on;
  const bool defaults = fail_on.empty() && fail_on_client.empty();
  if (defaults) {
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      if (explore::is_failure(static_cast<explore::Verdict>(v))) gate.push_back(static_cast<explore::Verdict>(v));
    }
  }
  size_t failures = 0;
  std::string cases;
  for (const auto& r : runs) {
    uint64_t bad = 0;
    for (auto v : gate) bad += r.level.verdicts[static_cast<size_t>(v)];
    std::string config;
    for (const auto& [k, v] : r.params) config += fmt::format("{}{}={}", config.empty() ? "" : " ", k, v);
    if (r.model != explore::Model::kSnapshot) config += std::string(" model=") + explore::model_name(r.model);
    cases += fmt::format("    <testcase classname=\"snapsim.{}\" name=\"{} quiesce={}\" time=\"{:.6f}\">\n",
                         xml_escape(r.workload), xml_escape(config), explore::quiesce_name(r.level.level),
                         r.sim_time_ms / 1000.0);
    // Memory model: the client outcomes gated on, the first one seen.
    std::optional<size_t> client;
    if (r.level.client) {
      const auto& c = *r.level.client;
      for (size_t k = 0; k < explore::kClientOutcomeCount; ++k) {
        const auto o = static_cast<explore::ClientOutcome>(k);
        const bool gated = defaults ? (o != explore::ClientOutcome::kRevertedAcknowledged || c.reverted_is_failure)
                                    : std::find(fail_on_client.begin(), fail_on_client.end(), o) != fail_on_client.end();
        if (gated && c.points[k] > 0 && (!client || c.first[k]->point < c.first[*client]->point)) client = k;
      }
    }
    if (bad == 0 && client) {
      ++failures;
      const auto& c = *r.level.client;
      const auto& f = *c.first[*client];
      cases += fmt::format(
          "      <failure type=\"{0}\" message=\"{1} of {2} revert points: {0}; first at point {3}: {4}\">"
          "replay: {5}</failure>\n",
          explore::client_outcome_name(static_cast<explore::ClientOutcome>(*client)), c.points[*client],
          r.level.points, f.point, xml_escape(f.detail), xml_escape(replay_command(r, f.point)));
    }
    if (bad > 0) {
      ++failures;
      const auto f = first_of(r, gate);
      if (f) {
        cases += fmt::format(
            "      <failure type=\"{}\" message=\"{} of {} points failed; first at point {}: {}: {}\">"
            "replay: {}</failure>\n",
            explore::verdict_name(f->verdict), bad, r.level.points, f->point, explore::verdict_name(f->verdict),
            xml_escape(f->detail), xml_escape(replay_command(r, f->point)));
      } else {
        cases += fmt::format("      <failure type=\"failure\" message=\"{} of {} points failed\"/>\n", bad,
                             r.level.points);
      }
    }
    std::string counts;
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      counts += fmt::format("{}={} ", explore::verdict_name(static_cast<explore::Verdict>(v)), r.level.verdicts[v]);
    }
    cases += fmt::format("      <system-out>seed={} writeback={} fs={} fs_data={} points={} distinct_images={} {}"
                         "freeze_window_ms={:.3f}</system-out>\n",
                         r.seed, xml_escape(r.writeback), xml_escape(r.fs), xml_escape(r.fs_data), r.level.points, r.level.distinct_images, counts,
                         r.level.freeze_window_ms);
    cases += "    </testcase>\n";
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"snapsim\" tests=\"{0}\" "
      "failures=\"{1}\">\n  <testsuite name=\"snapsim\" tests=\"{0}\" failures=\"{1}\" errors=\"0\" "
      "skipped=\"0\">\n{2}  </testsuite>\n</testsuites>\n",
      runs.size(), failures, cases);
}

}  // namespace snapsim::reports
