// OpReplayer: applies a recording's requests (host/trace.h) to a guest file
// system, in order, as the FUSE server applied them while the program ran.
//
// Requests that change nothing (lookup failures, getattr, read, readdir,
// readlink, statfs, flush) are not applied; a successful lookup is, since
// it tells which guest inode a recorded inode number is (the replay maps
// recorded inode numbers to its own, so a different file-system mode may
// number inodes differently). Every applied request must get the answer
// the recording got; a different one (a smaller disk that fills up, a trace
// edited by hand) stops the replay with an error naming the request, since
// the program would have gone another way.
#pragma once

#include <cstdint>
#include <map>

#include "host/trace.h"
#include "sim/guest_fs.h"

namespace snapsim::host {

using cow::Result;
using cow::Status;

class OpReplayer {
 public:
  // `recorded_root`: the root's inode number in the recording.
  OpReplayer(sim::GuestFs* fs, uint32_t recorded_root);
  void set_fs(sim::GuestFs* fs) { fs_ = fs; }
  // True for the requests apply() changes the file system with.
  static bool applies(OpKind k);
  // Applies request number `index` (for messages).
  cow::Status apply(const Op& op, size_t index);

 private:
  sim::FileRef ref(uint32_t recorded) const;
  cow::Status expect(const Op& op, size_t index, const cow::Status& got) const;

  sim::GuestFs* fs_;
  uint32_t recorded_root_;
  std::map<uint32_t, sim::FileRef> refs_;  // recorded inode number -> this guest's inode
};

}  // namespace snapsim::host
