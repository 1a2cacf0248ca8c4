#include "sim/trace.h"

#include <fmt/format.h>

namespace snapsim::sim {

const char* event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::kBlockWrite: return "block_write";
    case EventKind::kFlush: return "flush";
    case EventKind::kFileOp: return "file_op";
    case EventKind::kTxnBegin: return "txn_begin";
    case EventKind::kTxnCommit: return "txn_commit";
    case EventKind::kTxnAck: return "txn_ack";
    case EventKind::kTxnAbort: return "txn_abort";
    case EventKind::kStep: return "step";
    case EventKind::kNote: return "note";
  }
  return "?";
}

std::string Event::to_string() const {
  std::string s = fmt::format("{:>10.3f}ms {:<11}", static_cast<double>(time_ns) / 1e6,
                              event_kind_name(kind));
  switch (kind) {
    case EventKind::kBlockWrite:
      s += fmt::format(" disk {} lba {}{}", a, b & ~(1ull << 63), (b >> 63) ? " FUA" : "");
      break;
    case EventKind::kFlush: s += fmt::format(" disk {}", a); break;
    case EventKind::kTxnBegin: s += fmt::format(" client {} txn {}", a, b); break;
    case EventKind::kTxnCommit:
    case EventKind::kTxnAck: s += fmt::format(" client {} commit #{}", a, b); break;
    case EventKind::kTxnAbort: s += fmt::format(" client {}", a); break;
    default: s += fmt::format(" client {}", a); break;
  }
  if (!text.empty()) s += fmt::format(" {}", text);
  return s;
}


void Trace::add(EventKind kind, uint32_t a, uint64_t b, uint64_t time_ns, std::string text) {
  unsigned char buf[1 + 4 + 8 + 8 + 4];
  size_t n = 0;
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) buf[n++] = static_cast<unsigned char>(v >> (8 * i));
  };
  put(static_cast<uint8_t>(kind), 1);
  put(a, 4);
  put(b, 8);
  put(time_ns, 8);
  put(text.size(), 4);
  hash_.update(buf, n).update(text.data(), text.size());
  std::string_view view;
  if (!text.empty()) view = *texts_.insert(std::move(text)).first;
  events_.push_back(Event{kind, a, b, time_ns, view});
}

uint64_t Trace::hash() const { return hash_.digest(); }

}  // namespace snapsim::sim
