#include "reports/html_report.h"

#include "cow/markup.h"

#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

// The timeline of a run's first schedule, as data for the page's script
// (kTimelineScript): points by trace position with their simulated time,
// verdict, detail and point number; transactions per client with their
// names and acknowledgements; the first failure; the replay command with
// "{P}" for the point. A few bytes per point, so 10,000 points stay small;
// the script draws lanes, axis, markers and tooltips, and zooms and pans.
std::string timeline(const RunRecord& r, int n) {
  // The timeline starts where exploration does (the first point), not at setup.
  uint64_t start = r.trace_events;
  for (const auto& p : r.level.records) {
    if (p.schedule == 0) start = std::min(start, p.trace_pos);
  }
  for (const auto& t : r.txns) start = std::min(start, t.begin_pos);
  if (start >= r.trace_events) start = 0;
  nlohmann::json d;
  d["crash"] = r.model == explore::Model::kCrash;
  d["start"] = start;
  d["end"] = std::max<uint64_t>(r.trace_events, start + 1);
  std::set<uint32_t> clients;
  for (const auto& t : r.txns) clients.insert(t.client);
  d["clients"] = std::vector<uint32_t>(clients.begin(), clients.end());
  nlohmann::json txns = nlohmann::json::array();
  for (const auto& t : r.txns) txns.push_back({t.client, t.begin_pos, t.end_pos, t.name});
  d["txns"] = std::move(txns);
  nlohmann::json points = nlohmann::json::array(), details = nlohmann::json::object();
  for (const auto& p : r.level.records) {
    if (p.schedule != 0) continue;
    points.push_back({p.trace_pos, std::round(static_cast<double>(p.time_ns) / 1e3) / 1e3,
                      static_cast<int>(p.verdict), p.point});
    std::string detail = p.detail;
    if (!p.note.empty()) detail += (detail.empty() ? "" : "; ") + p.note;
    if (!detail.empty()) details[std::to_string(p.point)] = detail;
  }
  d["points"] = std::move(points);
  d["details"] = std::move(details);
  d["first"] = r.level.first_failure ? nlohmann::json(r.level.first_failure->point) : nlohmann::json();
  constexpr uint64_t kMark = 987654321987654321ULL;
  std::string replay = replay_command(r, kMark);
  if (auto at = replay.find(std::to_string(kMark)); at != std::string::npos) {
    replay.replace(at, std::to_string(kMark).size(), "{P}");
  }
  d["replay"] = replay;
  std::string json = d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Inside <script>, "</" could close it.
  for (size_t at = 0; (at = json.find("</", at)) != std::string::npos; at += 3) json.replace(at, 2, "<\\/");
  return fmt::format(
      "<div class=\"timeline\" id=\"timeline{}\"><div class=\"tl-bar\"><button type=\"button\" class=\"tl-reset\">"
      "whole run</button> <span class=\"tl-help\">wheel: zoom, drag: pan; hover a point for its verdict, detail and "
      "replay command</span></div><svg class=\"timeline-svg\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
      "aria-label=\"timeline\"></svg><script type=\"application/json\" class=\"tl-data\">{}</script></div>\n",
      n, json);
}

// Draws every timeline from its data. Positions are trace positions (the
// axis also gives the simulated time of the nearest point); one lane per
// client; a point is a coloured tick whose tooltip has its verdict, detail
// and replay command; the first failure is outlined and labelled. Zoom with
// the wheel, pan by dragging, "whole run" resets; #zoom=A,B (fractions of
// the run) opens every timeline zoomed there.
const char* kTimelineScript = R"JS(
(function () {
  var W = 960, L = 74;
  var VERDICTS = ["consistent", "recovered", "lost_committed", "torn_transaction", "invariant_violation",
                  "corrupt", "unrecoverable"];
  var COLORS = ["#2e7d32", "#66bb6a", "#f9a825", "#ef6c00", "#d84315", "#b71c1c", "#4a148c"];
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }
  function setup(div) {
    var d = JSON.parse(div.querySelector(".tl-data").textContent);
    var svg = div.querySelector("svg");
    var full = [d.start, d.end], z = full.slice();
    var m = /zoom=([0-9.]+),([0-9.]+)/.exec(location.hash);
    if (m) {
      var a = parseFloat(m[1]), b = parseFloat(m[2]);
      if (b > a) z = [full[0] + (full[1] - full[0]) * a, full[0] + (full[1] - full[0]) * b];
    }
    var byPos = d.points.slice().sort(function (p, q) { return p[0] - q[0]; });
    function msAt(pos) {
      if (!byPos.length) return 0;
      var lo = 0, hi = byPos.length - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (byPos[mid][0] < pos) lo = mid + 1; else hi = mid; }
      return byPos[lo][1];
    }
    function draw() {
      var lanes = d.clients.length, H = 64 + 16 * lanes, span = Math.max(1, z[1] - z[0]);
      var x = function (p) { return L + W * (p - z[0]) / span; };
      var s = "";
      var axisY = H - 22;
      s += '<line class="axis" x1="' + L + '" y1="' + axisY + '" x2="' + (L + W) + '" y2="' + axisY + '" stroke="#999"/>';
      for (var i = 0; i <= 5; i++) {
        var p = z[0] + span * i / 5, tx = L + W * i / 5;
        s += '<g class="tick"><line x1="' + tx + '" y1="' + axisY + '" x2="' + tx + '" y2="' + (axisY + 4) +
             '" stroke="#999"/><text x="' + tx + '" y="' + (axisY + 15) + '" font-size="10" text-anchor="' +
             (i == 0 ? "start" : i == 5 ? "end" : "middle") + '">event ' + Math.round(p) + ' \u00b7 ' +
             msAt(p).toFixed(1) + ' ms</text></g>';
      }
      s += '<text class="lane-label" x="2" y="24" font-size="10">' + (d.crash ? "crash points" : "snapshots") + '</text>';
      d.clients.forEach(function (c, i) {
        s += '<text class="lane-label" x="2" y="' + (45 + 16 * i) + '" font-size="10">client ' + c + '</text>';
      });
      d.txns.forEach(function (t) {
        if (t[2] < z[0] || t[1] > z[1]) return;
        var lane = d.clients.indexOf(t[0]), y = 36 + 16 * lane;
        var x0 = Math.max(L, x(t[1])), x1 = Math.min(L + W, x(t[2])), w = Math.max(1, x1 - x0);
        var name = t[3] || "transaction";
        s += '<rect class="txn" x="' + x0.toFixed(1) + '" y="' + y + '" width="' + w.toFixed(1) +
             '" height="11" fill="#90caf9" stroke="#1565c0"><title>client ' + t[0] + ': ' + esc(name) +
             ' (events ' + t[1] + ' to ' + t[2] + ')</title></rect>';
        if (w > 6 * name.length) {
          s += '<text class="txn-name" x="' + (x0 + 2).toFixed(1) + '" y="' + (y + 9) + '" font-size="9">' +
               esc(name) + '</text>';
        }
        if (t[2] <= z[1]) {
          s += '<path class="ack" d="M' + x(t[2]).toFixed(1) + ',' + (y + 12) + ' l-3,4 h6 z" fill="#1565c0">' +
               '<title>acknowledged to client ' + t[0] + '</title></path>';
        }
      });
      var first = null;
      d.points.forEach(function (p) {
        if (p[0] < z[0] || p[0] > z[1]) return;
        var v = VERDICTS[p[2]], isFirst = d.first !== null && p[3] === d.first, px = x(p[0]);
        var detail = d.details[String(p[3])];
        var title = "point " + p[3] + " (" + (d.crash ? "crash image" : "snapshot") + ", " + p[1] + " ms): " + v +
                    (detail ? ": " + detail : "") + "\nreplay: " + d.replay.replace("{P}", p[3]);
        var el = '<rect class="point ' + v + (isFirst ? ' first-failure-marker' : '') + '" x="' +
                 (px - (isFirst ? 2 : 1)).toFixed(1) + '" y="12" width="' + (isFirst ? 4 : 2) +
                 '" height="16" fill="' + COLORS[p[2]] + '"' + (isFirst ? ' stroke="#000" stroke-width="1.5"' : '') +
                 '><title>' + esc(title) + '</title></rect>';
        if (isFirst) first = [px, el]; else s += el;
      });
      if (first) {
        s += first[1] + '<text class="first-failure-label" x="' + Math.min(first[0] + 4, L + W - 70).toFixed(1) +
             '" y="10" font-size="10" fill="#b71c1c">first failure</text>';
      }
      svg.setAttribute("width", L + W + 8);
      svg.setAttribute("height", H);
      svg.setAttribute("viewBox", "0 0 " + (L + W + 8) + " " + H);
      svg.innerHTML = s;
    }
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = svg.getBoundingClientRect(), f = Math.min(1, Math.max(0, (e.clientX - r.left - L) / W));
      var span = z[1] - z[0], at = z[0] + span * f, k = e.deltaY < 0 ? 0.8 : 1.25;
      var ns = Math.min(full[1] - full[0], Math.max(4, span * k));
      z = [Math.max(full[0], at - ns * f), 0];
      z[1] = Math.min(full[1], z[0] + ns);
      z[0] = z[1] - ns;
      draw();
    }, {passive: false});
    var drag = null;
    svg.addEventListener("mousedown", function (e) { drag = [e.clientX, z[0], z[1]]; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      var span = drag[2] - drag[1], dp = -(e.clientX - drag[0]) * span / W;
      dp = Math.max(full[0] - drag[1], Math.min(full[1] - drag[2], dp));
      z = [drag[1] + dp, drag[2] + dp];
      draw();
    });
    div.querySelector(".tl-reset").addEventListener("click", function () { z = full.slice(); draw(); });
    draw();
  }
  Array.prototype.forEach.call(document.querySelectorAll("div.timeline"), setup);
})();
)JS";

// The weakest level every point of which restored fine, as the terminal's
// conclusion says it.
std::string conclusion(const std::map<explore::Quiesce, const RunRecord*>& cells) {
  for (auto q : {explore::Quiesce::kNone, explore::Quiesce::kFsfreeze, explore::Quiesce::kHook,
                 explore::Quiesce::kApp}) {
    auto it = cells.find(q);
    if (it == cells.end() || failures(*it->second) != 0) continue;
    const RunRecord& r = *it->second;
    if (r.model == explore::Model::kCrash) {
      return fmt::format("<span class=\"ok\">survives power loss</span>: every one of {} crash images restored "
                         "consistent", r.level.points);
    }
    return fmt::format("<span class=\"ok\">safe at <code>{}</code></span>: every one of {} points restored "
                       "consistent; freeze window {:.3f} ms (worst)",
                       explore::quiesce_name(q), r.level.points, r.level.freeze_window_ms);
  }
  return cells.begin()->second->model == explore::Model::kCrash
             ? "<span class=\"fail\">does not survive power loss</span>"
             : "<span class=\"fail\">not safe at any explored level</span>";
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
#conclusions li{margin:2px 0}svg.timeline-svg{cursor:grab;user-select:none}.tl-help{font-size:12px;color:#777}
</style></head><body>
)";
  h += fmt::format("<h1>{}</h1>\n", xml_escape(title));
  h += "<p class=\"legend\">";
  for (size_t v = 0; v < explore::kVerdictCount; ++v) {
    h += fmt::format("<span style=\"background:{}\">{}</span>", kColor[v],
                     explore::verdict_name(static_cast<explore::Verdict>(v)));
  }
  const std::vector<explore::Quiesce> columns = report_columns(runs);
  std::vector<std::string> order;
  std::map<std::string, std::map<explore::Quiesce, const RunRecord*>> rows;
  for (const auto& r : runs) {
    const std::string key = r.workload + " " + config_of(r);
    if (!rows.count(key)) order.push_back(key);
    rows[key][r.level.level] = &r;
  }
  h += "</p>\n<ul id=\"conclusions\">\n";
  for (const auto& key : order) {
    const RunRecord* any = rows[key].begin()->second;
    h += fmt::format("<li><b>{}</b> <span class=\"counts\">{}</span>: {}</li>\n", xml_escape(any->workload),
                     xml_escape(config_of(*any)), conclusion(rows[key]));
  }
  h += "</ul>\n<table id=\"matrix\"><tr><th>workload</th><th>configuration</th>";
  for (auto q : columns) h += fmt::format("<th>{}</th>", explore::quiesce_name(q));
  h += "</tr>\n";
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
    const bool crash = r.model == explore::Model::kCrash;
    h += fmt::format(
        "<p>{} {} ({} distinct images), seed {}, writeback {}, file system {} (data={}), {} schedule(s){}. "
        "Timeline of the first schedule: {} by trace position, transactions per client below.</p>\n",
        r.level.points, crash ? "crash images" : "points", r.level.distinct_images, r.seed, xml_escape(r.writeback),
        xml_escape(r.fs), xml_escape(r.fs_data), r.schedules_run,
        crash ? std::string()
              : fmt::format("; freeze window {:.3f} ms worst, {:.3f} ms mean", r.level.freeze_window_ms,
                            r.level.freeze_window_ms_mean),
        crash ? "crash points" : "snapshot points");
    h += timeline(r, n - 1);
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
  h += fmt::format("<script>{}</script>\n</body></html>\n", kTimelineScript);
  return h;
}

}  // namespace snapsim::reports
