// Crash semantics of the guest file system, per mode, as properties over
// random operation sequences and random crash images: every block write
// and FLUSH is logged, and an image is the writes before the last FLUSH at a
// random moment, a random subset of those since (FUA writes always), and
// sometimes one of them torn at 512-byte sectors.
//   - Any image mounts, and the file system's check finds nothing after.
//   - ext4: the tree (names, types, link counts, sizes) is exactly the one
//     after the last commit the image holds; with data=ordered the files'
//     bytes are too (writes here only append; truncated files are left out).
//   - Both modes: a file whose fsync returned is there with the bytes it
//     had then (as a prefix); an entry of a directory whose fsync returned
//     is there, unless a later operation touched it.
#define BOOST_TEST_MODULE simfs_crash
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <map>
#include <set>

#include "tests/sim/test_machine.h"

using namespace snapsim;
using namespace snapsim::testing;
using sim::FsMode;
using sim::Writeback;

namespace {

struct Op {
  uint8_t kind;  // 0 create, 1 append, 2 rename, 3 unlink, 4 link, 5 fsync file, 6 fsync dir, 7 syncfs, 8 truncate
  uint8_t a, b;
  uint16_t len;
  uint8_t seed;
};

void showValue(const Op& op, std::ostream& os) {
  static const char* k[] = {"create", "append", "rename", "unlink", "link", "fsync", "fsync_dir", "syncfs", "truncate"};
  os << k[op.kind] << "(" << int(op.a) << ", " << int(op.b) << ", " << op.len << ")";
}

const char* kDirs[] = {"", "d", "d/e"};
std::string path_of(uint8_t i) {
  const std::string dir = kDirs[i % 3];
  const std::string name = "f" + std::to_string(i / 3 % 4);
  return dir.empty() ? name : dir + "/" + name;
}

struct File {
  std::string data;
  uint32_t nlink = 1;
  bool relinked = false;   // ever renamed or linked: its creation name is not tracked
};

struct State {
  std::map<std::string, int> names;  // path -> file id
  std::map<int, File> files;
  std::map<std::string, std::string> view() const {  // path -> "nlink:size"
    std::map<std::string, std::string> out;
    for (const auto& [p, id] : names) {
      const File& f = files.at(id);
      out[p] = std::to_string(f.nlink) + ":" + std::to_string(f.data.size());
    }
    return out;
  }
};

struct Write {
  uint64_t lba;
  std::vector<std::byte> data;
  bool fua;
};

std::map<std::string, std::string> view_of(sim::GuestFs& fs) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs.walk()) {
    if (e.stat.type != sim::FileType::kRegular) continue;
    out[e.path] = std::to_string(e.stat.nlink) + ":" + std::to_string(e.stat.size);
  }
  return out;
}

void run_property(FsMode mode) {
  auto c = small_config(*rc::gen::element(Writeback::kEager, Writeback::kLazy, Writeback::kRandom),
                        *rc::gen::arbitrary<bool>(), mode);
  c.fs.commit_interval_ms = 1u << 30;  // commits only where an operation asks
  const uint32_t bs = *rc::gen::element(1024u, 4096u);
  auto t = make_machine(c, *rc::gen::arbitrary<uint64_t>(), bs);
  auto& m = *t.machine;
  auto& fs = m.fs();
  RC_ASSERT(fs.mkdirs("d/e").is_ok());
  RC_ASSERT(m.sync_all().is_ok());
  const auto base = t.pool->snapshot(m.disk().volume()).value();

  std::vector<Write> log;
  std::vector<size_t> flushes;  // log sizes at each FLUSH
  m.set_write_hook([&](uint32_t) {
    auto w = m.disk().last_write();
    log.push_back(Write{w.lba, std::move(w.data), m.disk().writes_durable() == m.disk().writes_issued()});
  });
  m.set_flush_hook([&](uint32_t) { flushes.push_back(log.size()); });
  State s;
  std::vector<std::pair<size_t, State>> commits;  // (log size after the commit block, state)
  m.simfs().set_commit_hook([&] { commits.emplace_back(log.size(), s); });
  // Durability promises: (log size when the sync returned, path, expected).
  struct Promise {
    size_t at;
    size_t op;
    std::string path;
    int id;
    std::string prefix;  // a file's bytes, or "" for an entry of a synced directory
    bool entry_only;
  };
  std::vector<Promise> promises;
  std::vector<std::pair<size_t, std::set<std::string>>> touches;  // (log size before op, paths it changes)
  int next_id = 1;
  std::set<int> truncated;  // files shrunk at any time: their bytes are not checked

  // Elements at full size (inRange scales with it); 10 to 80 of them.
  const size_t count = *rc::gen::resize(100, rc::gen::inRange<size_t>(10, 80));
  const auto ops = *rc::gen::container<std::vector<Op>>(count, rc::gen::resize(100, rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::inRange<uint8_t>(0, 9)), rc::gen::set(&Op::a, rc::gen::inRange<uint8_t>(0, 12)),
      rc::gen::set(&Op::b, rc::gen::inRange<uint8_t>(0, 12)), rc::gen::set(&Op::len, rc::gen::inRange<uint16_t>(1, 9000)),
      rc::gen::set(&Op::seed, rc::gen::arbitrary<uint8_t>()))));
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    const std::string pa = path_of(op.a), pb = path_of(op.b);
    const bool has_a = s.names.count(pa) != 0;
    std::set<std::string> touched;
    const size_t before = log.size();
    switch (op.kind) {
      case 0:
        if (has_a) break;
        RC_ASSERT(fs.open(pa, true).is_ok());
        s.names[pa] = next_id;
        s.files[next_id++] = File{};
        touched.insert(pa);
        break;
      case 1: {
        if (!has_a) break;
        File& f = s.files[s.names[pa]];
        const std::string data(op.len, static_cast<char>('a' + op.seed % 26));
        RC_ASSERT(fs.write(fs.lookup(pa).value(), f.data.size(), bytes(data)).is_ok());
        f.data += data;
        break;
      }
      case 2: {
        if (!has_a || pa == pb) break;
        RC_ASSERT(fs.rename(pa, pb).is_ok());
        const int id = s.names[pa];
        if (s.names.count(pb) && s.names[pb] == id) break;  // two names of one file: nothing happens
        if (s.names.count(pb)) {
          const int old = s.names[pb];
          if (old != id && --s.files[old].nlink == 0) s.files.erase(old);
        }
        s.names.erase(pa);
        s.names[pb] = id;
        s.files[id].relinked = true;
        touched = {pa, pb};
        break;
      }
      case 3: {
        if (!has_a) break;
        RC_ASSERT(fs.unlink(pa).is_ok());
        const int id = s.names[pa];
        s.names.erase(pa);
        if (--s.files[id].nlink == 0) s.files.erase(id);
        touched.insert(pa);
        break;
      }
      case 4: {
        if (!has_a || s.names.count(pb)) break;
        RC_ASSERT(fs.link(pa, pb).is_ok());
        const int id = s.names[pa];
        s.names[pb] = id;
        s.files[id].nlink += 1;
        s.files[id].relinked = true;
        touched.insert(pb);
        break;
      }
      case 5: {
        if (!has_a) break;
        RC_ASSERT(fs.fsync(fs.lookup(pa).value()).is_ok());
        const int id = s.names[pa];
        if (!s.files[id].relinked) promises.push_back({log.size(), i, pa, id, s.files[id].data, false});
        break;
      }
      case 6: {
        const std::string dir = kDirs[op.a % 3];
        RC_ASSERT(fs.fsync(fs.lookup(dir).value()).is_ok());
        for (const auto& [p, id] : s.names) {
          const auto slash = p.rfind('/');
          if ((slash == std::string::npos ? std::string() : p.substr(0, slash)) == dir) {
            promises.push_back({log.size(), i, p, id, "", true});
          }
        }
        break;
      }
      case 7: RC_ASSERT(m.sync_all().is_ok()); break;
      case 8: {
        if (!has_a) break;
        File& f = s.files[s.names[pa]];
        const size_t size = f.data.size() / 2;
        RC_ASSERT(fs.truncate(fs.lookup(pa).value(), size).is_ok());
        f.data.resize(size);
        truncated.insert(s.names[pa]);
        break;
      }
      default: break;
    }
    if (!touched.empty()) touches.emplace_back(before, touched);
  }

  RC_CLASSIFY(commits.size() > 3, "over 3 commits");
  RC_CLASSIFY(log.size() > 100, "over 100 writes");
  const State initial;
  const int images = 12;
  for (int k = 0; k < images; ++k) {
    const size_t w = *rc::gen::inRange<size_t>(0, log.size() + 1);
    size_t f = 0;
    for (size_t x : flushes) {
      if (x <= w) f = x;
    }
    auto vol = t.pool->clone(base).value();
    std::vector<size_t> maybe;
    for (size_t i = 0; i < w; ++i) {
      const bool keep = i < f || log[i].fua || *rc::gen::arbitrary<bool>();
      if (keep) {
        RC_ASSERT(t.pool->write_blocks(vol, log[i].lba, log[i].data).is_ok());
      } else {
        maybe.push_back(i);
      }
    }
    if (!maybe.empty() && *rc::gen::arbitrary<bool>()) {
      // One write the image lost, torn: its first sectors made it.
      const Write& torn = log[*rc::gen::elementOf(maybe)];
      std::vector<std::byte> cur(bs);
      RC_ASSERT(t.pool->read_blocks(vol, torn.lba, cur).is_ok());
      const size_t sectors = *rc::gen::inRange<size_t>(1, bs / 512);
      std::copy(torn.data.begin(), torn.data.begin() + static_cast<long>(sectors * 512), cur.begin());
      RC_ASSERT(t.pool->write_blocks(vol, torn.lba, cur).is_ok());
    }
    auto r = sim::Machine::boot_restored(t.pool.get(), m.config(), {vol}, sim::Prng(7));
    RC_ASSERT(r.is_ok());
    auto& rfs = (*r)->fs();
    const auto problems = (*r)->simfs().check();
    RC_ASSERT(problems.empty());
    const auto got = view_of(rfs);
    if (mode == FsMode::kExt4) {
      size_t held = 0;
      while (held < commits.size() && commits[held].first <= w) ++held;
      const State& want = held == 0 ? initial : commits[held - 1].second;
      RC_ASSERT(got == want.view());
      if (c.fs.ordered_data) {
        for (const auto& [p, id] : want.names) {
          if (truncated.count(id)) continue;
          RC_ASSERT(read_file(rfs, p) == want.files.at(id).data);
        }
      }
    }
    for (const auto& pr : promises) {
      if (pr.at > w) continue;
      bool changed = false;
      for (const auto& [at, paths] : touches) {
        if (at >= pr.at && at < w && paths.count(pr.path)) changed = true;
      }
      if (changed) continue;
      RC_ASSERT(rfs.exists(pr.path));
      if (pr.entry_only) continue;
      bool truncated_later = false;
      for (size_t j = pr.op + 1; j < ops.size(); ++j) {
        if (ops[j].kind == 8 && path_of(ops[j].a) == pr.path) truncated_later = true;
      }
      if (truncated_later) continue;
      const std::string data = read_file(rfs, pr.path);
      RC_ASSERT(data.size() >= pr.prefix.size());
      RC_ASSERT(data.compare(0, pr.prefix.size(), pr.prefix) == 0);
    }
    RC_ASSERT(t.pool->delete_volume(vol).is_ok());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(SimFsCrash)

RC_BOOST_PROP(ext4_images_are_a_prefix_of_committed_transactions, ()) { run_property(FsMode::kExt4); }

RC_BOOST_PROP(nojournal_images_keep_what_was_synced, ()) { run_property(FsMode::kNoJournal); }

BOOST_AUTO_TEST_SUITE_END()
