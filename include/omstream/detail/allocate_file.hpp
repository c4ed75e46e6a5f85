// Backing a file with storage before it is mapped: blocks on disk for a
// log's segments, pages of /dev/shm for a ring. A page that cannot be backed
// when a mapping first touches it is a SIGBUS in whoever touches it
// (MAP_POPULATE gives up silently); allocated here, running out of room is
// an error the caller can report.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <fcntl.h>
#include <sys/stat.h>

namespace omstream::detail {

// Allocates the first `bytes` of the file behind `fd`. Returns 0 or an
// errno value (ENOSPC: no room).
inline int allocate_file(int fd, std::size_t bytes) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= bytes &&
        static_cast<std::uint64_t>(st.st_blocks) * 512 >= static_cast<std::uint64_t>(st.st_size))
        return 0;  // every block there already (the usual case for all but a file's creator)
    int rc = 0;
    do
        rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    while (rc == EINTR);
    return rc;
}

}  // namespace omstream::detail
