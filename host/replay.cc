#include "host/replay.h"

#include <cstring>

#include <fmt/format.h>

namespace snapsim::host {

using sim::FileRef;
using sim::FileType;

OpReplayer::OpReplayer(sim::GuestFs* fs, uint32_t recorded_root) : fs_(fs), recorded_root_(recorded_root) {}

bool OpReplayer::applies(OpKind k) {
  switch (k) {
    case OpKind::kLookup:
    case OpKind::kSetattr:
    case OpKind::kCreate:
    case OpKind::kOpen:
    case OpKind::kRelease:
    case OpKind::kWrite:
    case OpKind::kFsync:
    case OpKind::kUnlink:
    case OpKind::kRmdir:
    case OpKind::kRename:
    case OpKind::kLink:
    case OpKind::kFallocate:
    case OpKind::kSyncAll: return true;
    default: return false;
  }
}

FileRef OpReplayer::ref(uint32_t recorded) const {
  if (recorded == recorded_root_) return fs_->root();
  auto it = refs_.find(recorded);
  // An inode the replay has not seen: the same number (a fresh guest
  // numbers its inodes as the recorded one did).
  return it == refs_.end() ? FileRef{recorded, 0} : it->second;
}

cow::Status OpReplayer::expect(const Op& op, size_t index, const cow::Status& got) const {
  const int e = sim::errno_of(got);
  if (e == op.status) return cow::Status::ok();
  auto says = [](int err) { return err == 0 ? std::string("success") : std::string(std::strerror(err)); };
  return cow::Status::invalid_argument(fmt::format(
      "the replay diverged from the recording at request {} ({} of inode {}{}{}): the recording got {}, "
      "the replay got {}{}",
      index, op_kind_name(op.kind), op.ino, op.name.empty() ? "" : " '", op.name.empty() ? "" : op.name + "'",
      says(op.status), says(e), got.is_ok() ? "" : " (" + got.message() + ")"));
}

cow::Status OpReplayer::apply(const Op& op, size_t index) {
  sim::GuestFs& fs = *fs_;
  switch (op.kind) {
    case OpKind::kLookup: {
      if (op.status != 0) return cow::Status::ok();  // a failed lookup changes nothing
      auto r = fs.lookup_at(ref(op.ino), op.name);
      if (!r) return expect(op, index, r.status());
      refs_[op.result] = *r;
      return cow::Status::ok();
    }
    case OpKind::kSetattr: {
      const FileRef f = ref(op.ino);
      cow::Status st;
      if (op.flags & kSetSize) st = fs.truncate(f, op.offset);
      sim::SetAttr a;
      if (op.flags & kSetMode) a.mode = op.mode;
      if (op.flags & kSetUid) a.uid = op.uid;
      if (op.flags & kSetGid) a.gid = op.gid;
      if (op.flags & kSetAtime) a.atime_ns = op.atime_ns;
      if (op.flags & kSetMtime) a.mtime_ns = op.mtime_ns;
      if (st.is_ok() && (op.flags & ~kSetSize)) st = fs.setattr(f, a);
      return expect(op, index, st);
    }
    case OpKind::kCreate: {
      const auto type = static_cast<FileType>(op.flags & 0xff);
      if (type != FileType::kRegular && type != FileType::kDirectory && type != FileType::kSymlink) {
        return expect(op, index, cow::Status::fs(cow::Code::kNotPermitted, "not a file, directory or symlink"));
      }
      auto r = fs.create_at(ref(op.ino), op.name, sim::NewNode{type, op.mode, op.uid, op.gid, op.name2});
      if (!r) return expect(op, index, r.status());
      refs_[op.result] = *r;
      if (op.flags & kCreateOpen) return expect(op, index, fs.open_ref(*r));
      return expect(op, index, cow::Status::ok());
    }
    case OpKind::kOpen: return expect(op, index, fs.open_ref(ref(op.ino)));
    case OpKind::kRelease: return expect(op, index, fs.close_ref(ref(op.ino)));
    case OpKind::kWrite:
      return expect(op, index, fs.write(ref(op.ino), op.offset, std::as_bytes(std::span(op.data))));
    case OpKind::kFsync: {
      const FileRef f = ref(op.ino);
      return expect(op, index, op.flags & 1 ? fs.fdatasync(f) : fs.fsync(f));
    }
    case OpKind::kUnlink: return expect(op, index, fs.unlink_at(ref(op.ino), op.name));
    case OpKind::kRmdir: return expect(op, index, fs.rmdir_at(ref(op.ino), op.name));
    case OpKind::kRename:
      if (op.status != 0 && (op.flags & ~1u)) return cow::Status::ok();  // refused flags: never reached the guest
      return expect(op, index, fs.rename_at(ref(op.ino), op.name, ref(op.ino2), op.name2, op.flags & 1));
    case OpKind::kLink: return expect(op, index, fs.link_at(ref(op.ino), ref(op.ino2), op.name2));
    case OpKind::kFallocate: {
      sim::Falloc f;
      if (op.flags == 0) {
        f = sim::Falloc::kAllocate;
      } else if (op.flags == 1) {  // FALLOC_FL_KEEP_SIZE
        f = sim::Falloc::kKeepSize;
      } else if (op.flags == 3) {  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        f = sim::Falloc::kPunchHole;
      } else {
        return cow::Status::ok();  // refused by the server: never reached the guest
      }
      return expect(op, index, fs.fallocate(ref(op.ino), f, op.offset, op.length));
    }
    case OpKind::kSyncAll: return expect(op, index, fs.sync_all());
    default: return cow::Status::ok();
  }
}

}  // namespace snapsim::host
