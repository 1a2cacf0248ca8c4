// CommitLog: the generic oracle's record of a run.
//
// The workload reports transaction begin and commit acknowledgement; at each
// acknowledgement it passes the digest of the application's whole logical
// state as read right after that commit. Commits are serialized, so
// digests()[k] is the state after k commits (digests()[0]: after setup).
// A snapshot point records acked() and issued(): a restored state is correct
// iff it equals digests()[k] for some acked <= k <= issued.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cow/content_hash.h"

namespace snapsim::explore {

using Digest = cow::Hash128;

// What a client was told when its commit was acknowledged (the memory
// model's view from outside the VM): when, what the transaction carried
// (its parameters, hashed: equal for a transaction that is redone with the
// same data) and the client-visible identifiers it was handed (name, value:
// the invoice number printed and mailed).
struct Receipt {
  uint32_t client = 0;
  uint64_t time_ns = 0;
  uint64_t content = 0;
  std::vector<std::pair<std::string, std::string>> ids;
};

class CommitLog {
 public:
  // `store`: for an application that keeps data outside its main store
  // (files beside its databases), the digest of the main store alone, so a
  // torn state can be explained; zero otherwise.
  void set_initial(const Digest& d, const Digest& store = {}) {
    digests_.assign(1, d);
    store_digests_.assign(1, store);
  }
  void begin(uint32_t client, uint64_t now_ns) {
    if (in_flight_.empty()) busy_since_ns_ = now_ns;
    in_flight_.insert(client);
  }
  // When the current run of overlapping transactions began (valid while
  // !quiescent(), and after it until the next begin).
  uint64_t busy_since_ns() const { return busy_since_ns_; }
  void abort(uint32_t client) { in_flight_.erase(client); }
  // Returns the commit number (1-based).
  uint64_t ack(uint32_t client, const Digest& d, const Digest& store = {}) {
    in_flight_.erase(client);
    digests_.push_back(d);
    store_digests_.push_back(store);
    return digests_.size() - 1;
  }
  uint64_t acked() const { return digests_.empty() ? 0 : digests_.size() - 1; }
  uint64_t issued() const { return acked() + in_flight_.size(); }
  bool quiescent() const { return in_flight_.empty(); }
  bool in_transaction(uint32_t client) const { return in_flight_.count(client) > 0; }
  const std::vector<Digest>& digests() const { return digests_; }
  const std::vector<Digest>& store_digests() const { return store_digests_; }
  // The receipt of commit `commit` (1-based, as ack() returned), recorded by
  // the workload right after its ack(); receipts()[commit - 1].
  void receipt(uint64_t commit, Receipt r) {
    if (receipts_.size() < commit) receipts_.resize(commit);
    receipts_[commit - 1] = std::move(r);
  }
  const std::vector<Receipt>& receipts() const { return receipts_; }

 private:
  std::vector<Receipt> receipts_;
  std::vector<Digest> digests_;
  std::vector<Digest> store_digests_;
  std::set<uint32_t> in_flight_;
  uint64_t busy_since_ns_ = 0;
};

}  // namespace snapsim::explore
