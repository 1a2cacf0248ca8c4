// RapidCheck generators of snapsim run configurations, for property tests in
// a vendor's own suite:
//
//   RC_BOOST_PROP(my_app_recovers_from_any_snapshot, ()) {
//     auto o = *snapsim::api::gen::run_options("my-app.toml");
//     auto r = snapsim::api::run_workload(o);
//     RC_ASSERT(r.is_ok());
//     RC_ASSERT(r->failures("app") == 0u);
//   }
//
// A failing case shrinks toward seed 0, one schedule, fewer clients and
// transactions, and prints RC_PARAMS="reproduce=..." to replay it.
#pragma once

#include <rapidcheck.h>

#include <string>

#include "api/snapsim.h"

namespace snapsim::api::gen {

// Any journal mode with a durable synchronous level.
inline rc::Gen<std::string> journal_mode() {
  return rc::gen::element<std::string>("delete", "truncate", "persist", "wal");
}
inline rc::Gen<std::string> synchronous() {
  return rc::gen::element<std::string>("off", "normal", "full", "extra");
}
inline rc::Gen<std::string> writeback() {
  return rc::gen::element<std::string>("random", "lazy", "eager");
}

// Options for `workload` with random seed, schedules, writeback, clients and
// transactions ("clients"/"transactions" overrides, as scripts take them;
// built-in invoice workloads take "clients"/"invoices": set `per_client_key`).
inline rc::Gen<RunOptions> run_options(const std::string& workload,
                                       const std::string& per_client_key = "transactions") {
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange<uint64_t>(0, 1u << 20), rc::gen::inRange<uint32_t>(1, 3),
                     writeback(), rc::gen::inRange(1, 4), rc::gen::inRange(1, 4)),
      [workload, per_client_key](const auto& t) {
        RunOptions o;
        o.workload = workload;
        o.seed = std::get<0>(t);
        o.schedules = std::get<1>(t);
        o.writeback = std::get<2>(t);
        o.params = {"clients=" + std::to_string(std::get<3>(t)),
                    per_client_key + "=" + std::to_string(std::get<4>(t))};
        return o;
      });
}

}  // namespace snapsim::api::gen
