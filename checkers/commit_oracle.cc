#include "checkers/commit_oracle.h"

#include <fmt/format.h>

namespace snapsim::checkers {

std::optional<Finding> CommitOracle::check(const AppState& s, const PointContext& ctx) const {
  if (!s.digest_known) return std::nullopt;  // the application cannot say which commit it holds
  const auto& d = *ctx.digests;
  const uint64_t hi = std::min<uint64_t>(ctx.issued, d.size() - 1);
  for (uint64_t k = ctx.acked; k <= hi; ++k) {
    if (d[k] == s.digest) return std::nullopt;
  }
  // Newest earlier commit first: the least data lost.
  for (uint64_t k = std::min<uint64_t>(ctx.acked, d.size()); k-- > 0;) {
    if (d[k] == s.digest) {
      return Finding{Verdict::kLostCommitted,
                     fmt::format("state is that after commit {} but {} commit(s) were acknowledged "
                                 "before the snapshot ({})",
                                 k, ctx.acked, s.summary)};
    }
  }
  // An application with data outside its main store: say whether the store
  // itself is at a commit and only the data beside it is out of step.
  if (ctx.store_digests && !(s.store_digest == explore::Digest{})) {
    const auto& sd = *ctx.store_digests;
    for (uint64_t k = std::min<uint64_t>(hi, sd.size() - 1) + 1; k-- > 0;) {
      if (sd[k] == s.store_digest) {
        return Finding{Verdict::kTornTransaction,
                       fmt::format("the databases are at commit {} ({} acknowledged, {} issued) but "
                                   "the files outside them are not: data outside the database is "
                                   "out of step with it ({})",
                                   k, ctx.acked, ctx.issued, s.summary)};
      }
    }
  }
  return Finding{Verdict::kTornTransaction,
                 fmt::format("state matches no commit between {} (acknowledged) and {} (issued): "
                             "part of a transaction is visible ({})",
                             ctx.acked, ctx.issued, s.summary)};
}

}  // namespace snapsim::checkers
