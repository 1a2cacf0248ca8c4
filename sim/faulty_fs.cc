#include "sim/faulty_fs.h"

#include <fmt/format.h>

namespace snapsim::sim {

Status FaultyFs::sync_fault(const char* call) {
  ++syncs_;
  if ((plan_.sync_eio_at != 0 && syncs_ == plan_.sync_eio_at) || (plan_.sticky_sync && sync_failed_)) {
    sync_failed_ = true;
    ++injected_;
    return Status::error(cow::Code::kIoError, fmt::format("injected EIO on {} (call {})", call, syncs_));
  }
  return Status::ok();
}

Status FaultyFs::write(FileRef f, uint64_t offset, std::span<const std::byte> data) {
  ++writes_;
  if (plan_.write_eio_at != 0 && writes_ == plan_.write_eio_at) {
    ++injected_;
    return Status::error(cow::Code::kIoError, fmt::format("injected EIO on write (call {})", writes_));
  }
  if (data.size() > plan_.space_bytes || bytes_ > plan_.space_bytes - data.size()) {
    ++injected_;
    return Status::fs_full(fmt::format("injected ENOSPC: {} of {} bytes written", bytes_, plan_.space_bytes));
  }
  SNAPSIM_RETURN_IF_ERROR(GuestFsWrapper::write(f, offset, data));
  bytes_ += data.size();
  return Status::ok();
}

Status FaultyFs::fsync(FileRef f) {
  SNAPSIM_RETURN_IF_ERROR(sync_fault("fsync"));
  return GuestFsWrapper::fsync(f);
}

Status FaultyFs::fdatasync(FileRef f) {
  SNAPSIM_RETURN_IF_ERROR(sync_fault("fdatasync"));
  return GuestFsWrapper::fdatasync(f);
}

Status FaultyFs::sync_all() {
  SNAPSIM_RETURN_IF_ERROR(sync_fault("sync_all"));
  return GuestFsWrapper::sync_all();
}

}  // namespace snapsim::sim
