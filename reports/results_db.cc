#include "reports/results_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace snapsim::reports {

namespace {

const char* kSchema = R"SQL(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE run(
  id INTEGER PRIMARY KEY, workload TEXT NOT NULL, source TEXT NOT NULL, params TEXT NOT NULL,
  quiesce TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL, writeback TEXT NOT NULL,
  fs_data TEXT NOT NULL, schedules TEXT NOT NULL, schedules_run INTEGER NOT NULL,
  points INTEGER NOT NULL, distinct_images INTEGER NOT NULL,
  consistent INTEGER NOT NULL, recovered INTEGER NOT NULL, lost_committed INTEGER NOT NULL,
  torn_transaction INTEGER NOT NULL, invariant_violation INTEGER NOT NULL, corrupt INTEGER NOT NULL,
  unrecoverable INTEGER NOT NULL, freeze_window_ms REAL NOT NULL, freeze_window_ms_mean REAL NOT NULL,
  trace_hash TEXT NOT NULL, first_failure_point INTEGER, first_failure_verdict TEXT,
  first_failure_detail TEXT, first_failure_schedule INTEGER, replay TEXT,
  distinct_traces INTEGER NOT NULL, sim_time_ms REAL NOT NULL, crash_coverage TEXT, fs TEXT NOT NULL);
CREATE TABLE point(
  run_id INTEGER NOT NULL REFERENCES run(id), point INTEGER NOT NULL, schedule INTEGER NOT NULL,
  verdict TEXT NOT NULL, acked INTEGER NOT NULL, issued INTEGER NOT NULL, trace_pos INTEGER NOT NULL,
  time_ns INTEGER NOT NULL, freeze_ms REAL NOT NULL, detail TEXT NOT NULL, image TEXT NOT NULL,
  PRIMARY KEY(run_id, point));
CREATE VIEW summary AS SELECT
  workload, params, model, fs, quiesce, points,
  CASE WHEN lost_committed + torn_transaction + invariant_violation + corrupt + unrecoverable = 0
       THEN 'ok' ELSE 'FAIL' END AS result,
  lost_committed + torn_transaction + invariant_violation + corrupt + unrecoverable AS failures,
  consistent, recovered, lost_committed, torn_transaction, invariant_violation, corrupt, unrecoverable,
  freeze_window_ms, first_failure_verdict, first_failure_detail, replay
FROM run ORDER BY id;
INSERT INTO meta VALUES ('schema_version', '3'), ('generator', 'snapsim');
)SQL";

cow::Status db_error(sqlite3* db, const std::string& path) {
  return cow::Status::error(cow::Code::kIoError,
                            fmt::format("cannot write results database {}: {}", path, sqlite3_errmsg(db)));
}

}  // namespace

cow::Status write_results_db(const std::string& path, const std::vector<RunRecord>& runs,
                             const std::string& shard) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::remove(tmp.c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open(tmp.c_str(), &db) != SQLITE_OK) {
    cow::Status st = db_error(db, path);
    sqlite3_close(db);
    return st;
  }
  auto fail = [&]() {
    cow::Status st = db_error(db, path);
    sqlite3_close(db);
    std::remove(tmp.c_str());
    return st;
  };
  if (sqlite3_exec(db, "PRAGMA journal_mode=delete; BEGIN;", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail();
  }
  sqlite3_stmt* run_st = nullptr;
  sqlite3_stmt* point_st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO run VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         -1, &run_st, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO point VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1, &point_st, nullptr) !=
          SQLITE_OK) {
    sqlite3_finalize(run_st);
    return fail();
  }
  auto text = [](sqlite3_stmt* st, int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.c_str(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  };
  int64_t id = 0;
  bool ok = true;
  for (const auto& r : runs) {
    ++id;
    nlohmann::ordered_json params = nlohmann::ordered_json::object();
    for (const auto& [k, v] : r.params) params[k] = v;
    int i = 1;
    sqlite3_reset(run_st);
    sqlite3_clear_bindings(run_st);
    sqlite3_bind_int64(run_st, i++, id);
    text(run_st, i++, r.workload);
    text(run_st, i++, r.source);
    text(run_st, i++, params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    text(run_st, i++, explore::quiesce_name(r.level.level));
    text(run_st, i++, explore::model_name(r.model));
    sqlite3_bind_int64(run_st, i++, static_cast<int64_t>(r.seed));
    text(run_st, i++, r.writeback);
    text(run_st, i++, r.fs_data);
    text(run_st, i++, r.schedules);
    sqlite3_bind_int64(run_st, i++, r.schedules_run);
    sqlite3_bind_int64(run_st, i++, static_cast<int64_t>(r.level.points));
    sqlite3_bind_int64(run_st, i++, static_cast<int64_t>(r.level.distinct_images));
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      sqlite3_bind_int64(run_st, i++, static_cast<int64_t>(r.level.verdicts[v]));
    }
    sqlite3_bind_double(run_st, i++, r.level.freeze_window_ms);
    sqlite3_bind_double(run_st, i++, r.level.freeze_window_ms_mean);
    text(run_st, i++, fmt::format("{:016x}", r.trace_hash));
    if (r.level.first_failure) {
      const auto& f = *r.level.first_failure;
      sqlite3_bind_int64(run_st, i++, static_cast<int64_t>(f.point));
      text(run_st, i++, explore::verdict_name(f.verdict));
      text(run_st, i++, f.detail);
      sqlite3_bind_int64(run_st, i++, f.schedule);
      text(run_st, i++, r.replay);
    } else {
      i += 5;
    }
    sqlite3_bind_int64(run_st, i++, r.distinct_traces);
    sqlite3_bind_double(run_st, i++, r.sim_time_ms);
    if (r.model == explore::Model::kCrash) {
      const auto& c = r.crash;
      text(run_st, i++, nlohmann::ordered_json{{"points", c.points},
                                               {"sampled_points", c.points_sampled},
                                               {"states_possible", c.states_possible},
                                               {"states_possible_capped", c.states_possible_capped},
                                               {"states_explored", c.states_explored},
                                               {"max_unflushed_writes", c.max_unflushed_writes}}
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      ++i;
    }
    text(run_st, i++, r.fs);
    ok = ok && sqlite3_step(run_st) == SQLITE_DONE;
    for (const auto& p : r.level.records) {
      sqlite3_reset(point_st);
      int j = 1;
      sqlite3_bind_int64(point_st, j++, id);
      sqlite3_bind_int64(point_st, j++, static_cast<int64_t>(p.point));
      sqlite3_bind_int64(point_st, j++, p.schedule);
      text(point_st, j++, explore::verdict_name(p.verdict));
      sqlite3_bind_int64(point_st, j++, static_cast<int64_t>(p.acked));
      sqlite3_bind_int64(point_st, j++, static_cast<int64_t>(p.issued));
      sqlite3_bind_int64(point_st, j++, static_cast<int64_t>(p.trace_pos));
      sqlite3_bind_int64(point_st, j++, static_cast<int64_t>(p.time_ns));
      sqlite3_bind_double(point_st, j++, p.freeze_ms);
      text(point_st, j++, p.detail);
      text(point_st, j++, p.image);
      ok = ok && sqlite3_step(point_st) == SQLITE_DONE;
    }
    if (!ok) break;
  }
  sqlite3_finalize(run_st);
  sqlite3_finalize(point_st);
  const std::string meta =
      fmt::format("INSERT INTO meta VALUES ('shard', '{}')", shard.empty() ? "1/1" : shard);
  if (!ok || sqlite3_exec(db, meta.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail();
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    std::remove(tmp.c_str());
    return cow::Status::error(cow::Code::kIoError, fmt::format("cannot close results database {}", path));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return cow::Status::error(cow::Code::kIoError, fmt::format("cannot write results database {}", path));
  }
  return cow::Status::ok();
}

cow::Result<std::vector<RunRecord>> read_results_db(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string e = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return cow::Status::not_found(fmt::format("cannot read results database {}: {}", path, e));
  }
  std::vector<RunRecord> runs;
  sqlite3_stmt* st = nullptr;
  const char* q =
      "SELECT id, workload, source, params, quiesce, model, seed, writeback, fs_data, schedules, "
      "schedules_run, points, distinct_images, consistent, recovered, lost_committed, "
      "torn_transaction, invariant_violation, corrupt, unrecoverable, freeze_window_ms, "
      "freeze_window_ms_mean, trace_hash, first_failure_point, first_failure_verdict, "
      "first_failure_detail, first_failure_schedule, replay, distinct_traces, sim_time_ms, crash_coverage, fs "
      "FROM run ORDER BY id";
  if (sqlite3_prepare_v2(db, q, -1, &st, nullptr) != SQLITE_OK) {
    std::string e = sqlite3_errmsg(db);
    sqlite3_close(db);
    return cow::Status::invalid_argument(fmt::format("{} is not a snapsim results database: {}", path, e));
  }
  auto col = [&](int i) {
    const unsigned char* t = sqlite3_column_text(st, i);
    return std::string(t ? reinterpret_cast<const char*>(t) : "");
  };
  // A shard file may come from anywhere: every value is checked, and a bad
  // one is a one-line error naming the file and the run, never a crash.
  auto bad = [&](sqlite3_stmt* s, const std::string& why) {
    const std::string e = fmt::format("{} is not a snapsim results database: {}", path, why);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return cow::Status::invalid_argument(e);
  };
  std::vector<int64_t> ids;
  int rc = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    RunRecord r;
    const int64_t id = sqlite3_column_int64(st, 0);
    ids.push_back(id);
    r.workload = col(1);
    r.source = col(2);
    const nlohmann::json params = nlohmann::json::parse(col(3), nullptr, false);
    if (params.is_object()) {
      for (auto it = params.begin(); it != params.end(); ++it) {
        if (it.value().is_string()) r.params[it.key()] = it.value().get<std::string>();
      }
    }
    auto level = explore::parse_quiesce(col(4));
    if (!level) return bad(st, fmt::format("run {}: {}", id, level.status().message()));
    r.level.level = *level;
    auto model = explore::parse_model(col(5));
    if (!model) return bad(st, fmt::format("run {}: {}", id, model.status().message()));
    r.model = *model;
    r.seed = static_cast<uint64_t>(sqlite3_column_int64(st, 6));
    r.writeback = col(7);
    r.fs_data = col(8);
    r.fs = col(31);
    if (!sim::parse_fs_mode(r.fs)) return bad(st, fmt::format("run {}: unknown file system mode '{}'", id, r.fs));
    r.schedules = col(9);
    r.schedules_run = static_cast<uint32_t>(sqlite3_column_int64(st, 10));
    r.level.points = static_cast<uint64_t>(sqlite3_column_int64(st, 11));
    r.level.distinct_images = static_cast<uint64_t>(sqlite3_column_int64(st, 12));
    for (size_t v = 0; v < explore::kVerdictCount; ++v) {
      r.level.verdicts[v] = static_cast<uint64_t>(sqlite3_column_int64(st, 13 + static_cast<int>(v)));
    }
    r.level.freeze_window_ms = sqlite3_column_double(st, 20);
    r.level.freeze_window_ms_mean = sqlite3_column_double(st, 21);
    {
      const std::string h = col(22);
      auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), r.trace_hash, 16);
      if (h.empty() || ec != std::errc() || end != h.data() + h.size()) {
        return bad(st, fmt::format("run {}: trace hash '{}' is not hexadecimal", id, h));
      }
    }
    if (sqlite3_column_type(st, 23) != SQLITE_NULL) {
      explore::PointFailure f;
      f.point = static_cast<uint64_t>(sqlite3_column_int64(st, 23));
      auto verdict = explore::parse_verdict(col(24));
      if (!verdict) return bad(st, fmt::format("run {}: unknown verdict '{}'", id, col(24)));
      f.verdict = *verdict;
      f.detail = col(25);
      f.schedule = static_cast<uint32_t>(sqlite3_column_int64(st, 26));
      r.level.first_failure = f;
      r.replay = col(27);
    }
    r.distinct_traces = static_cast<uint32_t>(sqlite3_column_int64(st, 28));
    r.sim_time_ms = sqlite3_column_double(st, 29);
    const nlohmann::json cov = nlohmann::json::parse(col(30), nullptr, false);
    if (cov.is_object()) {
      auto u = [&](const char* k) { return cov.contains(k) && cov[k].is_number() ? cov[k].get<uint64_t>() : 0; };
      r.crash.points = u("points");
      r.crash.points_sampled = u("sampled_points");
      r.crash.states_possible = u("states_possible");
      r.crash.states_possible_capped = cov.value("states_possible_capped", false);
      r.crash.states_explored = u("states_explored");
      r.crash.max_unflushed_writes = u("max_unflushed_writes");
    }
    runs.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return bad(st, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_stmt* ps = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT point, schedule, verdict, acked, issued, trace_pos, time_ns, freeze_ms, detail, image "
                         "FROM point WHERE run_id = ? ORDER BY point",
                         -1, &ps, nullptr) != SQLITE_OK) {
    return bad(ps, sqlite3_errmsg(db));
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    sqlite3_reset(ps);
    sqlite3_bind_int64(ps, 1, ids[i]);
    while ((rc = sqlite3_step(ps)) == SQLITE_ROW) {
      explore::PointRecord p;
      p.point = static_cast<uint64_t>(sqlite3_column_int64(ps, 0));
      p.schedule = static_cast<uint32_t>(sqlite3_column_int64(ps, 1));
      const unsigned char* v = sqlite3_column_text(ps, 2);
      auto verdict = explore::parse_verdict(v ? reinterpret_cast<const char*>(v) : "");
      if (!verdict) return bad(ps, fmt::format("run {} point {}: unknown verdict", ids[i], p.point));
      p.verdict = *verdict;
      p.acked = static_cast<uint64_t>(sqlite3_column_int64(ps, 3));
      p.issued = static_cast<uint64_t>(sqlite3_column_int64(ps, 4));
      p.trace_pos = static_cast<uint64_t>(sqlite3_column_int64(ps, 5));
      p.time_ns = static_cast<uint64_t>(sqlite3_column_int64(ps, 6));
      p.freeze_ms = sqlite3_column_double(ps, 7);
      const unsigned char* d = sqlite3_column_text(ps, 8);
      p.detail = d ? reinterpret_cast<const char*>(d) : "";
      const unsigned char* im = sqlite3_column_text(ps, 9);
      p.image = im ? reinterpret_cast<const char*>(im) : "";
      runs[i].level.records.push_back(std::move(p));
    }
    if (rc != SQLITE_DONE) return bad(ps, sqlite3_errmsg(db));
  }
  sqlite3_finalize(ps);
  sqlite3_close(db);
  return runs;
}

cow::Result<std::vector<RunRecord>> merge_runs(const std::vector<std::vector<RunRecord>>& shards) {
  std::vector<RunRecord> out;
  std::map<std::string, size_t> index;
  std::map<size_t, std::set<std::string>> images;
  std::map<size_t, std::set<uint64_t>> seen;
  for (const auto& shard : shards) {
    for (const auto& r : shard) {
      std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", r.workload, r.source,
                                    explore::quiesce_name(r.level.level), explore::model_name(r.model), r.seed, r.writeback,
                                    r.fs, r.fs_data, r.schedules, r.trace_hash);
      for (const auto& [k, v] : r.params) key += "|" + k + "=" + v;
      auto it = index.find(key);
      if (it == index.end()) {
        it = index.emplace(key, out.size()).first;
        RunRecord m = r;
        m.level.points = 0;
        m.level.verdicts = {};
        m.level.records.clear();
        m.level.first_failure.reset();
        m.replay.clear();
        out.push_back(std::move(m));
      }
      RunRecord& m = out[it->second];
      m.level.points += r.level.points;
      for (size_t v = 0; v < explore::kVerdictCount; ++v) m.level.verdicts[v] += r.level.verdicts[v];
      for (const auto& p : r.level.records) {
        if (!seen[it->second].insert(p.point).second) {
          return cow::Status::invalid_argument(fmt::format(
              "point {} of {} ({}) is in more than one input: the inputs overlap", p.point,
              r.workload, explore::quiesce_name(r.level.level)));
        }
        images[it->second].insert(p.image);
        m.level.records.push_back(p);
      }
      if (r.level.first_failure &&
          (!m.level.first_failure || r.level.first_failure->point < m.level.first_failure->point)) {
        m.level.first_failure = r.level.first_failure;
        m.replay = r.replay;
      }
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    auto& recs = out[i].level.records;
    std::sort(recs.begin(), recs.end(),
              [](const explore::PointRecord& a, const explore::PointRecord& b) { return a.point < b.point; });
    out[i].level.distinct_images = images[i].size();
  }
  return out;
}

}  // namespace snapsim::reports
