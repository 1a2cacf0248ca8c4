// Trace: every event of a simulated run, in order, with a stable hash.
//
// The hash is XXH3-64 over a canonical encoding of each event (kind, numbers,
// text, little-endian), so the same seed and configuration give the same hash
// on every machine. Events are kept in memory so a replay can print the ones
// around a snapshot point. A long run has millions of them (a few per
// snapshot point), so each is small: its text is interned by the Trace
// (most texts repeat: "fsync invoice.db") and only viewed by the event, and
// events live in a deque, which grows without copying them all.
#pragma once

#include "cow/content_hash.h"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>


namespace snapsim::sim {

enum class EventKind : uint8_t {
  kBlockWrite,   // disk, lba, fua
  kFlush,        // disk
  kFileOp,       // op text (e.g. "write invoices.dat 0+96"), client
  kTxnBegin,     // client, txn index
  kTxnCommit,    // client, commit number (1-based, global order)
  kTxnAck,       // client, commit number
  kTxnAbort,     // client
  kStep,         // client, step text
  kNote,         // free text (setup, recovery)
};
const char* event_kind_name(EventKind k);

struct Event {
  EventKind kind;
  uint32_t a = 0;
  uint64_t b = 0;
  uint64_t time_ns = 0;
  // Interned by the Trace that recorded the event: valid while it lives
  // (copy to_string() to keep an event beyond it).
  std::string_view text;
  std::string to_string() const;
};

class Trace {
 public:
  Trace() = default;
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  void add(EventKind kind, uint32_t a, uint64_t b, uint64_t time_ns, std::string text = {});
  uint64_t hash() const;
  size_t size() const { return events_.size(); }
  const std::deque<Event>& events() const { return events_; }

 private:
  std::deque<Event> events_;
  std::unordered_set<std::string> texts_;  // node-based: a text's address is stable
  cow::Hasher64 hash_;
};

}  // namespace snapsim::sim
