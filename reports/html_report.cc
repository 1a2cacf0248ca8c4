#include "reports/html_report.h"

#include "cow/markup.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "reports/junit.h"

namespace snapsim::reports {

using cow::xml_escape;

namespace {

const char* kColor[explore::kVerdictCount] = {"#2e7d32", "#66bb6a", "#f9a825", "#ef6c00",
                                          "#d84315", "#b71c1c", "#4a148c"};

std::string config_of(const RunRecord& r) {
  std::string c;
  for (const auto& [k, v] : r.params) c += fmt::format("{}{}={}", c.empty() ? "" : " ", k, v);
  if (r.model != explore::Model::kSnapshot) c += std::string(" model=") + explore::model_name(r.model);
  return c;
}

uint64_t failures(const RunRecord& r) { return explore::failure_count(r.level.verdicts); }

std::string timeline(const RunRecord& r) {
  constexpr double kW = 960;
  // The timeline starts where exploration does (the first point), not at setup.
  uint64_t start = r.trace_events;
  for (const auto& p : r.level.records) {
    if (p.schedule == 0) start = std::min(start, p.trace_pos);
  }
  for (const auto& t : r.txns) start = std::min(start, t.begin_pos);
  if (start >= r.trace_events) start = 0;
  const double events = static_cast<double>(std::max<uint64_t>(r.trace_events - start, 1));
  auto xpos = [&](uint64_t pos) {
    return 10 + kW * static_cast<double>(pos > start ? pos - start : 0) / events;
  };
  std::set<uint32_t> clients;
  for (const auto& t : r.txns) clients.insert(t.client);
  std::map<uint32_t, int> row;
  for (uint32_t c : clients) row[c] = static_cast<int>(row.size());
  const int h = 34 + 14 * static_cast<int>(clients.size());
  std::string svg = fmt::format(
      "<svg class=\"timeline\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"timeline\">\n",
      kW + 20, h, kW + 20, h);
  svg += fmt::format("<line x1=\"10\" y1=\"20\" x2=\"{}\" y2=\"20\" stroke=\"#999\"/>\n", kW + 10);
  for (const auto& t : r.txns) {
    const double x0 = xpos(t.begin_pos);
    const double x1 = xpos(t.end_pos);
    svg += fmt::format(
        "<rect class=\"txn\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"10\" fill=\"#90caf9\" "
        "stroke=\"#1565c0\"><title>client {} transaction</title></rect>\n",
        x0, 30 + 14 * row[t.client], std::max(1.0, x1 - x0), t.client);
  }
  for (const auto& p : r.level.records) {
    if (p.schedule != 0) continue;
    const double x = xpos(p.trace_pos);
    svg += fmt::format(
        "<rect class=\"point {}\" x=\"{:.1f}\" y=\"12\" width=\"2\" height=\"16\" fill=\"{}\">"
        "<title>point {}: {}{}{}</title></rect>\n",
        explore::verdict_name(p.verdict), x - 1, kColor[static_cast<size_t>(p.verdict)], p.point,
        explore::verdict_name(p.verdict), p.detail.empty() ? "" : ": ", xml_escape(p.detail));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace

std::string to_html(const std::vector<RunRecord>& runs, const std::string& title) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += fmt::format("<title>{}</title>\n", xml_escape(title));
  h += R"(<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eee}.fail{background:#ffebee;color:#b71c1c;font-weight:bold}
.ok{background:#e8f5e9;color:#1b5e20;font-weight:bold}.counts{font-size:12px;color:#555}
code{background:#f4f4f4;padding:2px 4px;word-break:break-all}
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;color:#fff;border-radius:3px}
section{border-top:1px solid #ddd;margin-top:18px;padding-top:8px}
</style></head><body>
)";
  h += fmt::format("<h1>{}</h1>\n", xml_escape(title));
  h += "<p class=\"legend\">";
  for (size_t v = 0; v < explore::kVerdictCount; ++v) {
    h += fmt::format("<span style=\"background:{}\">{}</span>", kColor[v],
                     explore::verdict_name(static_cast<explore::Verdict>(v)));
  }
  const std::vector<explore::Quiesce> columns = report_columns(runs);
  h += "</p>\n<table id=\"matrix\"><tr><th>workload</th><th>configuration</th>";
  for (auto q : columns) h += fmt::format("<th>{}</th>", explore::quiesce_name(q));
  h += "</tr>\n";
  std::vector<std::string> order;
  std::map<std::string, std::map<explore::Quiesce, const RunRecord*>> rows;
  for (const auto& r : runs) {
    const std::string key = r.workload + " " + config_of(r);
    if (!rows.count(key)) order.push_back(key);
    rows[key][r.level.level] = &r;
  }
  for (const auto& key : order) {
    const auto& cells = rows[key];
    const RunRecord* any = cells.begin()->second;
    h += fmt::format("<tr><td>{}</td><td class=\"counts\">{}</td>", xml_escape(any->workload),
                     xml_escape(config_of(*any)));
    for (auto q : columns) {
      auto it = cells.find(q);
      if (it == cells.end()) {
        h += "<td>-</td>";
        continue;
      }
      const RunRecord& r = *it->second;
      const uint64_t bad = failures(r);
      std::string counts;
      for (size_t v = 0; v < explore::kVerdictCount; ++v) {
        if (r.level.verdicts[v]) {
          counts += fmt::format("{} {}<br>", explore::verdict_name(static_cast<explore::Verdict>(v)), r.level.verdicts[v]);
        }
      }
      h += fmt::format("<td class=\"{}\">{}<div class=\"counts\">{}freeze {:.3f} ms</div></td>",
                       bad ? "fail" : "ok",
                       bad ? fmt::format("FAIL {}/{}", bad, r.level.points)
                           : fmt::format("ok {}/{}", r.level.points, r.level.points),
                       counts, r.level.freeze_window_ms);
    }
    h += "</tr>\n";
  }
  h += "</table>\n";
  int n = 0;
  for (const auto& r : runs) {
    h += fmt::format("<section class=\"run\" id=\"run{}\"><h2>{} <small>{} &middot; quiesce {}</small></h2>\n",
                     n++, xml_escape(r.workload), xml_escape(config_of(r)), explore::quiesce_name(r.level.level));
    h += fmt::format(
        "<p>{} points ({} distinct images), seed {}, writeback {}, file system {} (data={}), {} schedule(s); "
        "freeze window {:.3f} ms worst, {:.3f} ms mean. Timeline of the first schedule: points by trace "
        "position, transactions per client below.</p>\n",
        r.level.points, r.level.distinct_images, r.seed, xml_escape(r.writeback), xml_escape(r.fs),
        xml_escape(r.fs_data), r.schedules_run,
        r.level.freeze_window_ms, r.level.freeze_window_ms_mean);
    h += timeline(r);
    if (r.level.first_failure) {
      const auto& f = *r.level.first_failure;
      h += fmt::format("<p class=\"first-failure\">First failure at point {}: <b>{}</b>: {}<br>"
                       "replay: <code>{}</code></p>\n",
                       f.point, explore::verdict_name(f.verdict), xml_escape(f.detail), xml_escape(r.replay));
    } else {
      h += "<p class=\"no-failure\">Every point restored consistent or recovered.</p>\n";
    }
    h += "</section>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace snapsim::reports
