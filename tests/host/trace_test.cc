// The trace file: what is written is what is read, whatever the recording
// holds; a damaged or foreign file is an error naming the problem, never a
// crash or a silently different recording.
#define BOOST_TEST_MODULE host_trace
#include <boost/test/unit_test.hpp>
#include <rapidcheck/boost_test.h>

#include "host/trace.h"

using namespace snapsim::host;

namespace {

rc::Gen<std::string> small_text() {
  return rc::gen::resize(40, rc::gen::container<std::string>(rc::gen::arbitrary<char>()));
}

rc::Gen<Op> op_gen() {
  return rc::gen::apply(
      [](int kind, int32_t status, uint32_t ino, uint32_t ino2, uint32_t result, uint32_t flags, uint64_t offset,
         int64_t t, std::string name, std::string data) {
        static const OpKind kinds[] = {OpKind::kLookup,  OpKind::kCreate,   OpKind::kWrite,     OpKind::kRename,
                                       OpKind::kFsync,   OpKind::kSetattr,  OpKind::kFallocate, OpKind::kTxnBegin,
                                       OpKind::kTxnEnd,  OpKind::kSyncAll,  OpKind::kServerStop, OpKind::kHookEnd};
        Op op;
        op.kind = kinds[static_cast<size_t>(kind) % std::size(kinds)];
        op.status = status;
        op.ino = ino;
        op.ino2 = ino2;
        op.result = result;
        op.flags = flags;
        op.mode = flags & 07777;
        op.uid = ino2;
        op.gid = result;
        op.offset = offset;
        op.length = offset / 3;
        op.atime_ns = t;
        op.mtime_ns = -t;
        op.name = name;
        op.name2 = name + "2";
        op.data = data;
        return op;
      },
      rc::gen::inRange(0, 100), rc::gen::arbitrary<int32_t>(), rc::gen::arbitrary<uint32_t>(),
      rc::gen::arbitrary<uint32_t>(), rc::gen::arbitrary<uint32_t>(), rc::gen::arbitrary<uint32_t>(),
      rc::gen::arbitrary<uint64_t>(), rc::gen::arbitrary<int64_t>(), small_text(),
      rc::gen::resize(300, rc::gen::container<std::string>(rc::gen::arbitrary<char>())));
}

Recording recording_gen() {
  Recording r;
  r.workload = *small_text();
  r.params = *rc::gen::resize(5, rc::gen::container<std::map<std::string, std::string>>(small_text(), small_text()));
  r.fs_mode = *rc::gen::element<std::string>("ext4", "nojournal");
  r.disk_mb = *rc::gen::arbitrary<uint32_t>();
  r.inodes = *rc::gen::arbitrary<uint32_t>();
  r.clients = *rc::gen::arbitrary<uint32_t>();
  r.check_run = *small_text();
  r.check_committed = *small_text();
  r.check_timeout_ms = *rc::gen::arbitrary<uint32_t>();
  r.user = *small_text();
  r.files = *rc::gen::resize(4, rc::gen::container<std::vector<std::pair<std::string, std::string>>>(
                                    rc::gen::pair(small_text(), small_text())));
  r.ops = *rc::gen::resize(60, rc::gen::container<std::vector<Op>>(op_gen()));
  r.has_hook = *rc::gen::arbitrary<bool>();
  r.hook_timeout_ms = *rc::gen::arbitrary<uint64_t>();
  r.hook_crash_consistent = *rc::gen::arbitrary<bool>();
  r.pre_freeze = *rc::gen::resize(3, rc::gen::container<std::vector<std::string>>(small_text()));
  r.hook_segments = *rc::gen::resize(
      4, rc::gen::container<std::vector<std::vector<Op>>>(rc::gen::resize(8, rc::gen::container<std::vector<Op>>(op_gen()))));
  return r;
}

}  // namespace

RC_BOOST_PROP(what_is_written_is_read, ()) {
  const Recording r = recording_gen();
  auto back = decode_trace(encode_trace(r));
  RC_ASSERT(back.is_ok());
  RC_ASSERT(*back == r);
}

RC_BOOST_PROP(a_damaged_trace_is_an_error_or_the_same_recording, ()) {
  const Recording r = recording_gen();
  std::string bytes = encode_trace(r);
  const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
  if (*rc::gen::arbitrary<bool>()) {
    bytes.resize(at);  // truncated
  } else {
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + *rc::gen::inRange(0, 255)));  // one byte changed
  }
  auto back = decode_trace(bytes);
  // zstd frames carry no checksum by default, so a flipped byte may still
  // decode; then it must decode to a whole recording, never crash.
  if (back.is_ok()) RC_SUCCEED("decoded");
  RC_ASSERT(back.status().message().find("not a usable snapsim trace") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(foreign_and_newer_files_are_refused_by_name) {
  auto r = decode_trace("PK\x03\x04 this is a zip file, not a trace");
  BOOST_REQUIRE(!r.is_ok());
  BOOST_CHECK(r.status().message().find("magic") != std::string::npos);
  std::string bytes = encode_trace(Recording{});
  bytes[8] = static_cast<char>(kTraceVersion + 1);
  r = decode_trace(bytes);
  BOOST_REQUIRE(!r.is_ok());
  BOOST_CHECK(r.status().message().find("version") != std::string::npos);
  BOOST_CHECK(!read_trace("/nonexistent/x.trace").is_ok());
}

BOOST_AUTO_TEST_CASE(a_recording_compresses) {
  Recording r;
  Op w;
  w.kind = OpKind::kWrite;
  w.data = std::string(4096, 'a');
  for (int i = 0; i < 1000; ++i) {
    w.offset = static_cast<uint64_t>(i) * 4096;
    r.ops.push_back(w);
  }
  // 4 MB of writes of one repeated page: the file is a small fraction of it.
  BOOST_CHECK_LT(encode_trace(r).size(), 100u * 1024);
}
