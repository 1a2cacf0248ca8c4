// An in-memory POSIX file system model for the guest file system's
// properties: nodes with link counts, directories with parents, symlinks
// resolved as the kernel does (at most 40), open descriptions that keep an
// unlinked file alive. FsModel::apply runs one operation on the model and on
// a GuestFs and checks that both give the same error; the caller compares
// the trees.
#pragma once

#include <rapidcheck.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/guest_fs.h"
#include "tests/sim/test_machine.h"

namespace snapsim::testing {

using cow::Code;

struct FsOp {
  uint8_t kind = 0;
  uint8_t a = 0, b = 0;
  uint32_t off = 0;
  uint32_t len = 0;
  uint8_t seed = 0;
  uint8_t flag = 0;
};

inline const char* fs_op_name(uint8_t k) {
  static const char* kNames[] = {"create", "mkdir", "rmdir", "unlink", "rename", "link", "symlink",
                                 "write", "truncate", "fallocate", "open", "close", "write_open",
                                 "fsync", "syncfs", "chmod", "long_name"};
  return k < 17 ? kNames[k] : "?";
}

// 84 paths over the names a, b, c, d, up to three deep.
inline std::string fs_path(uint8_t i) {
  static const std::vector<std::string> kPaths = [] {
    std::vector<std::string> out;
    const char* n[] = {"a", "b", "c", "d"};
    for (auto x : n) out.emplace_back(x);
    for (auto x : n) for (auto y : n) out.push_back(std::string(x) + "/" + y);
    for (auto x : n) for (auto y : n) for (auto z : n) out.push_back(std::string(x) + "/" + y + "/" + z);
    return out;
  }();
  return kPaths[i % kPaths.size()];
}

inline void showValue(const FsOp& op, std::ostream& os) {
  os << fs_op_name(op.kind) << "(" << fs_path(op.a) << ", " << fs_path(op.b) << ", off " << op.off << ", len "
     << op.len << ", flag " << int(op.flag) << ")";
}

// Shallow paths more often, so trees grow deep through their parents.
inline rc::Gen<uint8_t> gen_fs_path() {
  return rc::gen::weightedOneOf<uint8_t>({{4, rc::gen::inRange<uint8_t>(0, 4)},
                                          {4, rc::gen::inRange<uint8_t>(4, 20)},
                                          {3, rc::gen::inRange<uint8_t>(20, 84)}});
}

inline rc::Gen<FsOp> gen_fs_op() {
  // Creates and writes are the commonest, so trees grow.
  return rc::gen::build<FsOp>(
      rc::gen::set(&FsOp::kind, rc::gen::weightedOneOf<uint8_t>({
                                    {12, rc::gen::just<uint8_t>(0)}, {8, rc::gen::just<uint8_t>(1)},
                                    {1, rc::gen::just<uint8_t>(2)}, {1, rc::gen::just<uint8_t>(3)},
                                    {3, rc::gen::just<uint8_t>(4)}, {2, rc::gen::just<uint8_t>(5)},
                                    {1, rc::gen::just<uint8_t>(6)}, {8, rc::gen::just<uint8_t>(7)},
                                    {2, rc::gen::just<uint8_t>(8)}, {2, rc::gen::just<uint8_t>(9)},
                                    {2, rc::gen::just<uint8_t>(10)}, {1, rc::gen::just<uint8_t>(11)},
                                    {2, rc::gen::just<uint8_t>(12)}, {2, rc::gen::just<uint8_t>(13)},
                                    {1, rc::gen::just<uint8_t>(14)}, {1, rc::gen::just<uint8_t>(15)},
                                    {1, rc::gen::just<uint8_t>(16)}})),
      rc::gen::set(&FsOp::a, gen_fs_path()),
      rc::gen::set(&FsOp::b, gen_fs_path()),
      rc::gen::set(&FsOp::off, rc::gen::weightedOneOf<uint32_t>({{4, rc::gen::inRange<uint32_t>(0, 9000)},
                                                                 {1, rc::gen::inRange<uint32_t>(0, 300000)}})),
      rc::gen::set(&FsOp::len, rc::gen::inRange<uint32_t>(1, 30000)),
      rc::gen::set(&FsOp::seed, rc::gen::arbitrary<uint8_t>()),
      rc::gen::set(&FsOp::flag, rc::gen::arbitrary<uint8_t>()));
}

inline std::string fs_payload(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed + i * 7) % 26);
  return s;
}

// What a tree looks like: path -> (type, mode, links, size, bytes or target).
struct NodeView {
  sim::FileType type = sim::FileType::kNone;
  uint32_t mode = 0;
  uint32_t nlink = 0;
  std::string content;
  friend bool operator==(const NodeView&, const NodeView&) = default;
};
using Tree = std::map<std::string, NodeView>;

inline std::string read_ref(sim::GuestFs& fs, sim::FileRef ref) {
  auto st = fs.stat(ref);
  if (!st) return "<stale>";
  if (st->type == sim::FileType::kDirectory) return "";
  if (st->type == sim::FileType::kSymlink) return fs.readlink(ref).value();
  std::string s(st->size, '\0');
  auto n = fs.read(ref, 0, std::as_writable_bytes(std::span(s)));
  if (!n || *n != s.size()) return "<unreadable>";
  return s;
}

inline Tree tree_of(sim::GuestFs& fs) {
  Tree t;
  for (const auto& e : fs.walk()) {
    t[e.path] = NodeView{e.stat.type, e.stat.mode, e.stat.nlink, read_ref(fs, e.stat.ref)};
  }
  return t;
}

struct Outcome {
  bool matched = true;
  bool no_space = false;
};

class FsModel {
 public:
  FsModel() {
    Node root;
    root.type = sim::FileType::kDirectory;
    root.mode = 0755;
    root.nlink = 2;
    root.parent = 0;
    nodes_[0] = root;
  }

  std::string content(int id) const {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? "<stale>" : it->second.data;
  }

  Tree tree() const {
    Tree t;
    visit(0, "", &t);
    return t;
  }

  // Runs `op` on the model and on `fs`; RC_ASSERTs that both report the
  // same error. ENOSPC from fs where the model succeeds is accepted (the
  // model does not count blocks) and reported as no_space.
  Outcome apply(const FsOp& op, std::vector<std::pair<sim::FileRef, int>>* handles, sim::GuestFs& fs) {
    // Half the operations aim at a path that exists (the first operand),
    // so data operations and renames find their targets.
    std::string pa = fs_path(op.a);
    const std::string pb = fs_path(op.b);
    const bool data_kind = op.kind >= 7 && op.kind != 11 && op.kind != 12 && op.kind != 14 && op.kind != 16;
    const bool aims = data_kind || op.kind == 2 || op.kind == 3 || op.kind == 4 || op.kind == 5;
    if ((op.seed & 1) && aims) {
      std::vector<std::string> targets;
      for (const auto& [p, v] : tree()) {
        const bool is_dir = v.type == sim::FileType::kDirectory;
        if (op.kind == 2 ? is_dir : (!data_kind || !is_dir)) targets.push_back(p);
      }
      if (!targets.empty()) pa = targets[op.a % targets.size()];
    }
    Outcome out;
    const auto expect = [&](Code want, const cow::Status& got) {
      if (got.code() == Code::kFsFull && want == Code::kOk) {
        out.no_space = true;
        return false;
      }
      RC_ASSERT(got.code() == want);
      return want == Code::kOk;
    };
    switch (op.kind) {
      case 0: {  // open(path, create)
        Code c = Code::kOk;
        auto r = resolve(pa, true);
        if (r.ok()) {
          c = nodes_[r.id].type == sim::FileType::kDirectory ? Code::kIsDir : Code::kOk;
          auto got = fs.open(pa, true);
          expect(c, got.is_ok() ? cow::Status::ok() : got.status());
          break;
        }
        if (r.err != Code::kNotFound) {
          auto got = fs.open(pa, true);
          expect(r.err, got.is_ok() ? cow::Status::ok() : got.status());
          break;
        }
        auto [dir, name, perr] = parent_of(pa);
        c = perr != Code::kOk ? perr : can_create(dir, name);
        auto got = fs.open(pa, true);
        if (expect(c, got.is_ok() ? cow::Status::ok() : got.status())) add(dir, name, make(sim::FileType::kRegular, 0644, ""));
        break;
      }
      case 1:
      case 6: {  // mkdir, symlink
        auto [dir, name, perr] = parent_of(pa);
        const bool is_dir = op.kind == 1;
        const std::string target = op.flag % 2 ? "/" + pb : std::string(1, "abc"[op.flag % 3]);
        Code c = perr != Code::kOk ? perr : can_create(dir, name);
        cow::Status got = is_dir ? status_of(fs.mkdir(pa)) : status_of(fs.symlink(target, pa));
        if (expect(c, got)) {
          add(dir, name, is_dir ? make(sim::FileType::kDirectory, 0755, "", dir) : make(sim::FileType::kSymlink, 0777, target));
        }
        break;
      }
      case 2: {  // rmdir
        auto [dir, name, perr] = parent_of(pa);
        Code c = perr;
        int victim = -1;
        if (c == Code::kOk) {
          if (nodes_[dir].type != sim::FileType::kDirectory) {
            c = Code::kNotDir;
          } else if (!nodes_[dir].entries.count(name)) {
            c = Code::kNotFound;
          } else {
            victim = nodes_[dir].entries[name];
            if (nodes_[victim].type != sim::FileType::kDirectory) c = Code::kNotDir;
            else if (!nodes_[victim].entries.empty()) c = Code::kNotEmpty;
          }
        }
        if (expect(c, fs.rmdir(pa))) {
          nodes_[dir].entries.erase(name);
          nodes_[dir].nlink -= 1;
          nodes_.erase(victim);
        }
        break;
      }
      case 3: {  // unlink
        auto [dir, name, perr] = parent_of(pa);
        Code c = perr;
        if (c == Code::kOk) {
          if (nodes_[dir].type != sim::FileType::kDirectory) c = Code::kNotDir;
          else if (!nodes_[dir].entries.count(name)) c = Code::kNotFound;
          else if (nodes_[nodes_[dir].entries[name]].type == sim::FileType::kDirectory) c = Code::kIsDir;
        }
        if (expect(c, fs.unlink(pa))) {
          const int id = nodes_[dir].entries[name];
          nodes_[dir].entries.erase(name);
          unref(id);
        }
        break;
      }
      case 4: rename(pa, pb, fs, expect); break;
      case 5: {  // link
        auto t = resolve(pa, false);
        auto [dir, name, perr] = parent_of(pb);
        Code c = t.err != Code::kOk ? t.err : perr;
        if (c == Code::kOk) {
          if (nodes_[t.id].type == sim::FileType::kDirectory) c = Code::kNotPermitted;
          else if (nodes_[dir].type != sim::FileType::kDirectory) c = Code::kNotDir;
          else if (nodes_[dir].entries.count(name)) c = Code::kExists;
        }
        if (expect(c, fs.link(pa, pb))) {
          nodes_[dir].entries[name] = t.id;
          nodes_[t.id].nlink += 1;
        }
        break;
      }
      case 7:
      case 8:
      case 9:
      case 15: {  // write, truncate, fallocate, chmod: on the file `pa` resolves to
        auto r = resolve(pa, true);
        if (!r.ok()) {
          RC_ASSERT(fs.lookup(pa).status().code() == r.err);
          break;
        }
        const sim::FileRef ref = fs.lookup(pa).value();
        data_op(op, r.id, ref, fs, expect);
        break;
      }
      case 10: {  // open description
        auto r = resolve(pa, true);
        auto got = fs.lookup(pa);
        RC_ASSERT(got.status().code() == r.err);
        if (!r.ok()) break;
        RC_ASSERT(fs.open_ref(*got).is_ok());
        nodes_[r.id].opens += 1;
        handles->emplace_back(*got, r.id);
        break;
      }
      case 11: {  // close
        if (handles->empty()) break;
        const size_t i = op.a % handles->size();
        auto [ref, id] = (*handles)[i];
        handles->erase(handles->begin() + static_cast<long>(i));
        if (!nodes_.count(id)) {  // a directory removed while open: the handle is stale
          RC_ASSERT(fs.close_ref(ref).code() == Code::kNotFound);
          break;
        }
        RC_ASSERT(fs.close_ref(ref).is_ok());
        nodes_[id].opens -= 1;
        if (nodes_[id].opens == 0 && nodes_[id].nlink == 0) nodes_.erase(id);
        break;
      }
      case 12: {  // write through an open description (maybe unlinked)
        if (handles->empty()) break;
        auto [ref, id] = (*handles)[op.a % handles->size()];
        if (!nodes_.count(id)) {
          RC_ASSERT(fs.write(ref, 0, bytes("x")).code() == Code::kNotFound);
          break;
        }
        FsOp w = op;
        w.kind = 7;
        data_op(w, id, ref, fs, expect);
        break;
      }
      case 13: {  // fsync / fdatasync of a file or directory
        auto r = resolve(pa, true);
        auto got = fs.lookup(pa);
        RC_ASSERT(got.status().code() == r.err);
        if (r.ok()) RC_ASSERT((op.flag % 2 ? fs.fdatasync(*got) : fs.fsync(*got)).is_ok());
        break;
      }
      case 14: RC_ASSERT(fs.sync_all().is_ok()); break;
      case 16: {  // a name over NAME_MAX
        const std::string p = pa + "/" + std::string(256, 'x');
        auto r = resolve(pa, true);
        // The length is checked before the kind of what holds it.
        Code c = r.err != Code::kOk ? r.err : Code::kNameTooLong;
        auto got = fs.open(p, true);
        RC_ASSERT(got.status().code() == c);
        break;
      }
      default: break;
    }
    return out;
  }

 private:
  struct Node {
    sim::FileType type = sim::FileType::kNone;
    uint32_t mode = 0;
    std::string data;  // file bytes or symlink target
    std::map<std::string, int> entries;
    int parent = 0;
    uint32_t nlink = 1;
    int opens = 0;
  };
  struct Resolved {
    int id = -1;
    Code err = Code::kOk;
    bool ok() const { return err == Code::kOk; }
  };

  static cow::Status status_of(const cow::Result<sim::FileRef>& r) { return r.is_ok() ? cow::Status::ok() : r.status(); }

  static std::vector<std::string> split(const std::string& p) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < p.size()) {
      while (i < p.size() && p[i] == '/') ++i;
      size_t j = i;
      while (j < p.size() && p[j] != '/') ++j;
      if (j > i) out.push_back(p.substr(i, j - i));
      i = j;
    }
    return out;
  }

  Resolved walk(int at, const std::vector<std::string>& parts, bool follow_last, int* links) const {
    int cur = at;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].size() > sim::kNameMax) return {-1, Code::kNameTooLong};
      const Node& n = nodes_.at(cur);
      if (n.type != sim::FileType::kDirectory) return {-1, Code::kNotDir};
      auto it = n.entries.find(parts[i]);
      if (it == n.entries.end()) return {-1, Code::kNotFound};
      const Node& next = nodes_.at(it->second);
      const bool last = i + 1 == parts.size();
      if (next.type == sim::FileType::kSymlink && (!last || follow_last)) {
        if (++*links > 40) return {-1, Code::kLoop};
        const int base = next.data[0] == '/' ? 0 : cur;
        auto t = walk(base, split(next.data), true, links);
        if (!t.ok()) return t;
        cur = t.id;
        continue;
      }
      cur = it->second;
    }
    return {cur, Code::kOk};
  }

  Resolved resolve(const std::string& p, bool follow_last) const {
    int links = 0;
    return walk(0, split(p), follow_last, &links);
  }

  // (directory node, last name, error).
  std::tuple<int, std::string, Code> parent_of(const std::string& p) const {
    auto parts = split(p);
    const std::string last = parts.back();
    parts.pop_back();
    int links = 0;
    auto d = walk(0, parts, true, &links);
    return {d.id, last, d.err};
  }

  Code can_create(int dir, const std::string& name) const {
    const Node& d = nodes_.at(dir);
    if (d.type != sim::FileType::kDirectory) return Code::kNotDir;
    if (d.entries.count(name)) return Code::kExists;
    (void)name;
    return Code::kOk;
  }

  int make(sim::FileType type, uint32_t mode, std::string data, int parent = 0) {
    Node n;
    n.type = type;
    n.mode = mode;
    n.data = std::move(data);
    n.parent = parent;
    n.nlink = type == sim::FileType::kDirectory ? 2 : 1;
    nodes_[next_] = n;
    return next_++;
  }

  void add(int dir, const std::string& name, int id) {
    nodes_[dir].entries[name] = id;
    if (nodes_[id].type == sim::FileType::kDirectory) nodes_[dir].nlink += 1;
  }

  void unref(int id) {
    Node& n = nodes_[id];
    n.nlink -= 1;
    if (n.nlink == 0 && n.opens == 0) nodes_.erase(id);
  }

  bool descendant_or_self(int node, int of) const {
    for (int a = node, guard = 0; guard < 1000; ++guard) {
      if (a == of) return true;
      if (a == 0) return false;
      a = nodes_.at(a).parent;
    }
    return false;
  }

  template <typename Expect>
  void rename(const std::string& pa, const std::string& pb, sim::GuestFs& fs, Expect& expect) {
    auto [fd, from, e1] = parent_of(pa);
    auto [td, to, e2] = parent_of(pb);
    Code c = e1 != Code::kOk ? e1 : e2;
    int src = -1, dst = -1;
    if (c == Code::kOk) {
      if (nodes_[fd].type != sim::FileType::kDirectory || nodes_[td].type != sim::FileType::kDirectory) {
        c = Code::kNotDir;
      } else if (!nodes_[fd].entries.count(from)) {
        c = Code::kNotFound;
      } else {
        src = nodes_[fd].entries[from];
        if (nodes_[td].entries.count(to)) dst = nodes_[td].entries[to];
        const bool sdir = nodes_[src].type == sim::FileType::kDirectory;
        if (dst == src) {
          c = Code::kOk;
        } else if (dst >= 0 && sdir && nodes_[dst].type != sim::FileType::kDirectory) {
          c = Code::kNotDir;
        } else if (dst >= 0 && !sdir && nodes_[dst].type == sim::FileType::kDirectory) {
          c = Code::kIsDir;
        } else if (dst >= 0 && nodes_[dst].type == sim::FileType::kDirectory && !nodes_[dst].entries.empty()) {
          c = Code::kNotEmpty;
        } else if (sdir && descendant_or_self(td, src)) {
          c = Code::kInvalidArgument;
        }
      }
    }
    if (!expect(c, fs.rename(pa, pb)) || dst == src) return;
    const bool sdir = nodes_[src].type == sim::FileType::kDirectory;
    nodes_[fd].entries.erase(from);
    if (sdir) nodes_[fd].nlink -= 1;
    if (dst >= 0) {
      if (nodes_[dst].type == sim::FileType::kDirectory) {
        nodes_[td].nlink -= 1;
        nodes_.erase(dst);
      } else {
        unref(dst);
      }
    }
    nodes_[td].entries[to] = src;
    if (sdir) {
      nodes_[td].nlink += 1;
      nodes_[src].parent = td;
    }
  }

  template <typename Expect>
  void data_op(const FsOp& op, int id, sim::FileRef ref, sim::GuestFs& fs, Expect& expect) {
    Node& n = nodes_[id];
    const bool dir = n.type == sim::FileType::kDirectory;
    switch (op.kind) {
      case 7: {
        const std::string data = fs_payload(op.len, op.seed);
        const uint64_t off = (op.flag & 0x40) ? n.data.size() : op.off;  // an append
        if (expect(dir ? Code::kIsDir : Code::kOk, fs.write(ref, off, bytes(data)))) {
          if (n.data.size() < off + data.size()) n.data.resize(off + data.size(), '\0');
          n.data.replace(off, data.size(), data);
        }
        break;
      }
      case 8: {
        const uint32_t size = op.off % 40000;
        if (expect(dir ? Code::kIsDir : Code::kOk, fs.truncate(ref, size))) n.data.resize(size, '\0');
        break;
      }
      case 9: {
        const auto mode = static_cast<sim::Falloc>(op.flag % 3);
        if (expect(dir ? Code::kIsDir : Code::kOk, fs.fallocate(ref, mode, op.off, op.len))) {
          const uint64_t end = uint64_t{op.off} + op.len;
          if (mode == sim::Falloc::kAllocate && end > n.data.size()) n.data.resize(end, '\0');
          if (mode == sim::Falloc::kPunchHole && op.off < n.data.size()) {
            const size_t stop = std::min<size_t>(end, n.data.size());
            std::fill(n.data.begin() + op.off, n.data.begin() + static_cast<long>(stop), '\0');
          }
        }
        break;
      }
      case 15: {
        const uint32_t mode = 0400u | (op.flag & 0777u);
        if (expect(Code::kOk, fs.setattr(ref, sim::SetAttr{.mode = mode, .uid = {}, .gid = {}, .atime_ns = {}, .mtime_ns = {}}))) {
          n.mode = mode;
        }
        break;
      }
      default: break;
    }
  }

  void visit(int dir, const std::string& prefix, Tree* t) const {
    for (const auto& [name, id] : nodes_.at(dir).entries) {
      const Node& n = nodes_.at(id);
      const std::string path = prefix.empty() ? name : prefix + "/" + name;
      (*t)[path] = NodeView{n.type, n.mode, n.nlink, n.type == sim::FileType::kDirectory ? "" : n.data};
      if (n.type == sim::FileType::kDirectory) visit(id, path, t);
    }
  }

  std::map<int, Node> nodes_;
  int next_ = 1;
};

}  // namespace snapsim::testing
