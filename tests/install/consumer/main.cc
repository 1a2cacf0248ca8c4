// Runs the built-in invoice-sqlite workload through the installed public
// API and prints what a vendor's gate would read.
#include <cstdio>

#include "api/snapsim.h"

int main() {
  snapsim::api::RunOptions o;
  o.workload = "invoice-sqlite";
  o.params = {"synchronous=off"};
  o.quiesce = "none,app";
  auto r = snapsim::api::run_workload(o);
  if (!r.is_ok()) {
    std::fprintf(stderr, "consumer: %s\n", r.status().message().c_str());
    return 2;
  }
  for (const auto& l : r->levels) {
    std::printf("%s points=%llu failures=%llu\n", l.quiesce.c_str(), static_cast<unsigned long long>(l.points),
                static_cast<unsigned long long>(l.failures));
  }
  return 0;
}
