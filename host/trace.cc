#include "host/trace.h"

#include <zstd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace snapsim::host {

namespace {

constexpr char kMagic[8] = {'S', 'N', 'A', 'P', 'T', 'R', 'C', '\n'};
constexpr uint64_t kMaxBody = uint64_t{1} << 36;  // 64 GiB: anything larger is a damaged header

class Writer {
 public:
  void u(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void s(int64_t v) { u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void str(const std::string& v) {
    u(v.size());
    out_ += v;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool u(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      const auto b = static_cast<uint8_t>(in_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool u32(uint32_t* v) {
    uint64_t x;
    if (!u(&x) || x > UINT32_MAX) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool s(int64_t* v) {
    uint64_t x;
    if (!u(&x)) return false;
    *v = static_cast<int64_t>(x >> 1) ^ -static_cast<int64_t>(x & 1);
    return true;
  }
  bool s32(int32_t* v) {
    int64_t x;
    if (!s(&x) || x < INT32_MIN || x > INT32_MAX) return false;
    *v = static_cast<int32_t>(x);
    return true;
  }
  bool str(std::string* v) {
    uint64_t n;
    if (!u(&n) || n > in_.size() - pos_) return false;
    v->assign(in_, pos_, n);
    pos_ += n;
    return true;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  size_t pos_ = 0;
};

void put_op(Writer& w, const Op& op) {
  w.u(static_cast<uint8_t>(op.kind));
  w.s(op.status);
  w.u(op.ino);
  w.u(op.ino2);
  w.u(op.result);
  w.u(op.flags);
  w.u(op.mode);
  w.u(op.uid);
  w.u(op.gid);
  w.u(op.offset);
  w.u(op.length);
  w.s(op.atime_ns);
  w.s(op.mtime_ns);
  w.str(op.name);
  w.str(op.name2);
  w.str(op.data);
}

bool known_kind(uint64_t k) {
  return (k >= 1 && k <= static_cast<uint8_t>(OpKind::kSyncAll)) ||
         (k >= static_cast<uint8_t>(OpKind::kSetupBegin) && k <= static_cast<uint8_t>(OpKind::kHookBegin));
}

bool get_op(Reader& r, Op* op) {
  uint64_t kind;
  if (!r.u(&kind) || !known_kind(kind)) return false;
  op->kind = static_cast<OpKind>(kind);
  return r.s32(&op->status) && r.u32(&op->ino) && r.u32(&op->ino2) && r.u32(&op->result) &&
         r.u32(&op->flags) && r.u32(&op->mode) && r.u32(&op->uid) && r.u32(&op->gid) && r.u(&op->offset) &&
         r.u(&op->length) && r.s(&op->atime_ns) && r.s(&op->mtime_ns) && r.str(&op->name) &&
         r.str(&op->name2) && r.str(&op->data);
}

Status bad(const std::string& why) { return Status::invalid_argument("not a usable snapsim trace: " + why); }

}  // namespace

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::kLookup: return "lookup";
    case OpKind::kGetattr: return "getattr";
    case OpKind::kSetattr: return "setattr";
    case OpKind::kCreate: return "create";
    case OpKind::kOpen: return "open";
    case OpKind::kRelease: return "release";
    case OpKind::kRead: return "read";
    case OpKind::kWrite: return "write";
    case OpKind::kFlush: return "flush";
    case OpKind::kFsync: return "fsync";
    case OpKind::kUnlink: return "unlink";
    case OpKind::kRmdir: return "rmdir";
    case OpKind::kRename: return "rename";
    case OpKind::kLink: return "link";
    case OpKind::kReadlink: return "readlink";
    case OpKind::kFallocate: return "fallocate";
    case OpKind::kStatfs: return "statfs";
    case OpKind::kReaddir: return "readdir";
    case OpKind::kSyncAll: return "syncfs";
    case OpKind::kSetupBegin: return "setup-begin";
    case OpKind::kSetupEnd: return "setup-end";
    case OpKind::kTxnBegin: return "txn-begin";
    case OpKind::kTxnEnd: return "txn-end";
    case OpKind::kServerStart: return "server-start";
    case OpKind::kServerStop: return "server-stop";
    case OpKind::kHookEnd: return "hook-end";
    case OpKind::kHookBegin: return "hook-begin";
  }
  return "?";
}

bool is_marker(OpKind k) { return static_cast<uint8_t>(k) >= static_cast<uint8_t>(OpKind::kSetupBegin); }

std::string describe_op(const Op& op, size_t index) {
  std::string s = fmt::format("{:6} {}", index, op_kind_name(op.kind));
  auto quoted = [](const std::string& t) {
    std::string out = "'";
    for (char c : t) out += (c == '\n' ? std::string("\\n") : std::string(1, c));
    return out + "'";
  };
  switch (op.kind) {
    case OpKind::kSetupBegin:
    case OpKind::kHookBegin:
    case OpKind::kServerStart: return s + " " + quoted(op.name2);
    case OpKind::kSetupEnd:
    case OpKind::kHookEnd:
    case OpKind::kServerStop: return s + fmt::format(" exit {} {}", op.status, quoted(op.name2));
    case OpKind::kTxnBegin:
      return s + fmt::format(" client {} txn {} {} {}", op.ino, op.offset, op.name, quoted(op.name2));
    case OpKind::kTxnEnd: return s + fmt::format(" client {} exit {} {}", op.ino, op.status, quoted(op.name2));
    default: break;
  }
  s += fmt::format(" ino {}", op.ino);
  if (!op.name.empty()) s += " " + quoted(op.name);
  if (op.kind == OpKind::kRename || op.kind == OpKind::kLink) s += fmt::format(" -> ino {} {}", op.ino2, quoted(op.name2));
  if (op.kind == OpKind::kCreate && !op.name2.empty()) s += " -> " + quoted(op.name2);
  if (op.kind == OpKind::kCreate) s += fmt::format(" type {} mode {:o} uid {} gid {}", op.flags & 0xff, op.mode, op.uid, op.gid);
  if (op.kind == OpKind::kWrite) s += fmt::format(" {}+{}", op.offset, op.data.size());
  if (op.kind == OpKind::kRead || op.kind == OpKind::kFallocate) s += fmt::format(" {}+{}", op.offset, op.length);
  if (op.kind == OpKind::kSetattr) s += fmt::format(" set {:#x} size {} mode {:o} uid {} gid {}", op.flags, op.offset, op.mode, op.uid, op.gid);
  if (op.kind == OpKind::kFsync && op.flags) s += " datasync";
  if (op.result) s += fmt::format(" => ino {}", op.result);
  s += op.status == 0 ? " ok" : fmt::format(" errno {} ({})", op.status, std::strerror(op.status));
  return s;
}

bool is_trace_path(const std::string& path) {
  return path.size() > 6 && path.compare(path.size() - 6, 6, ".trace") == 0;
}

std::string encode_trace(const Recording& r) {
  Writer w;
  w.str(r.workload);
  w.u(r.params.size());
  for (const auto& [k, v] : r.params) {
    w.str(k);
    w.str(v);
  }
  w.str(r.fs_mode);
  w.str(r.fs_data);
  w.u(r.disk_mb);
  w.u(r.inodes);
  w.u(r.clients);
  w.str(r.check_run);
  w.str(r.check_committed);
  w.str(r.check_recover);
  w.u(r.check_timeout_ms);
  w.str(r.user);
  w.u(r.has_hook ? 1 : 0);
  w.u(r.hook_timeout_ms);
  w.u(r.hook_crash_consistent ? 1 : 0);
  w.u(r.pre_freeze.size());
  for (const auto& c : r.pre_freeze) w.str(c);
  w.u(r.hook_segments.size());
  for (const auto& seg : r.hook_segments) {
    w.u(seg.size());
    for (const auto& op : seg) put_op(w, op);
  }
  w.u(r.files.size());
  for (const auto& [name, content] : r.files) {
    w.str(name);
    w.str(content);
  }
  w.u(r.ops.size());
  for (const auto& op : r.ops) put_op(w, op);
  const std::string body = w.take();

  std::string out(kMagic, sizeof kMagic);
  auto le = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  le(kTraceVersion, 4);
  le(body.size(), 8);
  const size_t bound = ZSTD_compressBound(body.size());
  const size_t head = out.size();
  out.resize(head + bound);
  const size_t n = ZSTD_compress(out.data() + head, bound, body.data(), body.size(), 9);
  if (ZSTD_isError(n)) {
    // Compressing into a buffer of ZSTD_compressBound() bytes cannot fail.
    std::abort();
  }
  out.resize(head + n);
  return out;
}

cow::Result<Recording> decode_trace(const std::string& bytes) {
  if (bytes.size() < 20 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return bad("it does not start with snapsim's trace magic");
  }
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
    return v;
  };
  const uint64_t version = le(8, 4);
  if (version == 0 || version > kTraceVersion) {
    return bad(fmt::format("format version {} (this snapsim reads version {})", version, kTraceVersion));
  }
  const uint64_t size = le(12, 8);
  if (size > kMaxBody) return bad(fmt::format("its header claims a {}-byte body", size));
  std::string body(size, '\0');
  const size_t n = ZSTD_decompress(body.data(), body.size(), bytes.data() + 20, bytes.size() - 20);
  if (ZSTD_isError(n)) return bad(fmt::format("its body does not decompress ({})", ZSTD_getErrorName(n)));
  if (n != size) return bad(fmt::format("its body is {} bytes, the header says {}", n, size));

  Reader r(body);
  Recording rec;
  uint64_t count = 0;
  bool ok = r.str(&rec.workload) && r.u(&count);
  for (uint64_t i = 0; ok && i < count; ++i) {
    std::string k, v;
    ok = r.str(&k) && r.str(&v);
    rec.params[k] = v;
  }
  ok = ok && r.str(&rec.fs_mode) && r.str(&rec.fs_data) && r.u32(&rec.disk_mb) && r.u32(&rec.inodes) &&
       r.u32(&rec.clients) && r.str(&rec.check_run) && r.str(&rec.check_committed) &&
       (version < 2 || r.str(&rec.check_recover)) && r.u32(&rec.check_timeout_ms) && r.str(&rec.user);
  if (ok && version >= 3) {
    uint64_t flag = 0, cc = 0, n = 0;
    ok = r.u(&flag) && r.u(&rec.hook_timeout_ms) && r.u(&cc) && r.u(&n) && n <= body.size();
    rec.has_hook = flag != 0;
    rec.hook_crash_consistent = cc != 0;
    for (uint64_t i = 0; ok && i < n; ++i) {
      std::string c;
      ok = r.str(&c);
      rec.pre_freeze.push_back(std::move(c));
    }
    ok = ok && r.u(&n) && n <= body.size();
    for (uint64_t i = 0; ok && i < n; ++i) {
      uint64_t m = 0;
      ok = r.u(&m) && m <= body.size();
      rec.hook_segments.emplace_back();
      for (uint64_t j = 0; ok && j < m; ++j) {
        Op op;
        ok = get_op(r, &op);
        rec.hook_segments.back().push_back(std::move(op));
      }
    }
  }
  ok = ok && r.u(&count);
  for (uint64_t i = 0; ok && i < count; ++i) {
    std::pair<std::string, std::string> f;
    ok = r.str(&f.first) && r.str(&f.second);
    rec.files.push_back(std::move(f));
  }
  ok = ok && r.u(&count) && count <= body.size();
  if (ok) rec.ops.reserve(count);
  for (uint64_t i = 0; ok && i < count; ++i) {
    Op op;
    ok = get_op(r, &op);
    if (ok) rec.ops.push_back(std::move(op));
    if (!ok) return bad(fmt::format("operation {} does not decode", i));
  }
  if (!ok) return bad("its header fields do not decode");
  if (!r.at_end()) return bad("bytes follow the last operation");
  return rec;
}

cow::Result<Recording> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid_argument(fmt::format("cannot read trace '{}': {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = decode_trace(ss.str());
  if (!r) return Status::invalid_argument(fmt::format("{}: {}", path, r.status().message()));
  return r;
}

}  // namespace snapsim::host
