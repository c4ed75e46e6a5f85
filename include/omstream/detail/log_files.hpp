// The files of a mapped_log: where logs live, file descriptors, flock, and
// segment files preallocated before they are mapped (so that a full disk is
// an error on append, never a SIGBUS).
#pragma once

#include <omstream/detail/allocate_file.hpp>
#include <omstream/error.hpp>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace omstream::detail {

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
    if (err == EACCES || err == EPERM || err == EROFS)
        throw error(errc::permission_denied,
                    what + ": permission denied (" + std::strerror(err) +
                        "); use a root directory this user may write (om::root)");
    if (err == ENOSPC || err == EDQUOT)
        throw error(errc::no_space, what +
                                        ": no space left on the device; free some space, or "
                                        "bound the log with om::max_bytes or om::max_age");
    throw error(errc::io_error, what + ": " + std::strerror(err));
}

// Where logs live unless om::root says otherwise: $OMSTREAM_HOME, else
// $XDG_DATA_HOME/omstream, else ~/.local/share/omstream.
inline std::filesystem::path default_log_root() {
    auto env = [](const char* name) -> std::string {
        const char* v = std::getenv(name);
        return v != nullptr ? std::string(v) : std::string();
    };
    if (auto home = env("OMSTREAM_HOME"); !home.empty())
        return home;
    if (auto data = env("XDG_DATA_HOME"); !data.empty())
        return std::filesystem::path(data) / "omstream";
    if (auto home = env("HOME"); !home.empty())
        return std::filesystem::path(home) / ".local" / "share" / "omstream";
    throw error(errc::invalid_option,
                "no root directory for mapped_log: set om::root, $OMSTREAM_HOME or $HOME");
}

class file_descriptor {
  public:
    file_descriptor() = default;
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    file_descriptor(file_descriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    file_descriptor& operator=(file_descriptor&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    ~file_descriptor() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    int get() const noexcept { return fd_; }

  private:
    int fd_ = -1;
};

inline file_descriptor open_file(const std::filesystem::path& path, int flags, unsigned mode,
                                 const std::string& what) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw_errno(errno, what);
    return file_descriptor(fd);
}

// A log's files get exactly the mode it was created with (the umask would
// take the group's bits of 0660 away). Only on what this process created:
// another user's file keeps its mode.
inline void give_mode(int fd, unsigned mode) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 07777) != mode && st.st_uid == ::geteuid())
        (void)::fchmod(fd, mode);
}

// The mode of a log's files for a permissions option (or a header's record
// of it): read and write bits only, the owner's always.
constexpr unsigned log_file_mode(unsigned requested) noexcept {
    return (requested & 0666) | 0600;
}

// The mode of a log's directory for its files' mode: whoever may read or
// write the files must be able to list and enter the directory and create
// segments in it (0600 gives 0700, 0660 gives 0770).
constexpr unsigned directory_mode(unsigned file_mode) noexcept {
    unsigned mode = 0700;
    if (file_mode & 0060)
        mode |= 0070;
    if (file_mode & 0006)
        mode |= 0007;
    return mode;
}

// Held while a log is opened (flock: the kernel drops it when the holder
// dies, so a crash never leaves it held). Only open() and recovery take it;
// appends and reads never do.
class flock_guard {
  public:
    flock_guard(int fd, int operation) : fd_(fd) {
        while (::flock(fd_, operation) != 0) {
            if (errno != EINTR)
                throw_errno(errno, "locking a log directory");
        }
    }
    flock_guard(const flock_guard&) = delete;
    flock_guard& operator=(const flock_guard&) = delete;
    ~flock_guard() { ::flock(fd_, LOCK_UN); }

  private:
    int fd_;
};

// A file mapped read-write, whole.
struct mapped_file {
    boost::interprocess::mapped_region region;
    std::byte* base = nullptr;
    std::size_t size = 0;
    std::atomic<bool> populated{false};  // every page faulted in (see populate_for_reading)
};

enum class populate { none, for_reading, for_writing };

// Faults every page of `f` in for reading, once: a reader about to read a
// segment through pays one call instead of a fault every 4 KiB, while a
// seek that only looks at a segment's index maps it without reading 64 MiB.
inline void populate_for_reading(mapped_file& f) noexcept {
    if (f.populated.load(std::memory_order_relaxed))
        return;
#ifdef MADV_POPULATE_READ
    if (::madvise(f.base, f.size, MADV_POPULATE_READ) != 0)
#endif
        ::madvise(f.base, f.size, MADV_WILLNEED);
    f.populated.store(true, std::memory_order_relaxed);
}

// Faults every page in now, so that appends and reads do not take a page
// fault every 4 KiB (a few microseconds each on a virtual machine).
inline std::shared_ptr<mapped_file> map_whole_file(const std::filesystem::path& path,
                                                   const std::string& what,
                                                   populate how = populate::none) {
    namespace bip = boost::interprocess;
    auto m = std::make_shared<mapped_file>();
    try {
        // The mapping outlives the file's descriptor, which closes here: a
        // log keeps one mapping per segment it reads or writes, and one open
        // descriptor each would exhaust the process's limit (often 1,024).
        const bip::file_mapping file(path.c_str(), bip::read_write);
        m->region = bip::mapped_region(file, bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        const int native = e.get_native_error();
        throw_errno(native != 0 ? native : EIO, what);
    }
    m->base = static_cast<std::byte*>(m->region.get_address());
    m->size = m->region.get_size();
    // Writable for writers, so that file systems that track dirty pages
    // (ext4, xfs) do not take a write fault per page later either (Linux
    // 5.14+; older kernels fault pages in as they are touched).
    if (how == populate::for_writing) {
#ifdef MADV_POPULATE_WRITE
        if (::madvise(m->base, m->size, MADV_POPULATE_WRITE) != 0)
#endif
            ::madvise(m->base, m->size, MADV_WILLNEED);
    } else if (how == populate::for_reading) {
        populate_for_reading(*m);
    }
    m->populated.store(how != populate::none, std::memory_order_relaxed);
    return m;
}

// Makes the file at least `size` bytes with every block allocated.
inline void preallocate(int fd, std::size_t size, const std::string& what) {
    if (const int err = allocate_file(fd, size))
        throw_errno(err, what);
}

// Zeroes [offset, offset + length) of a mapped file, giving whole pages back
// to the file system and allocating them again (recovery cuts a log this way
// without writing megabytes of zeros).
inline void zero_range(int fd, std::byte* mapped, std::size_t offset, std::size_t length) {
    constexpr std::size_t page = 4096;
    const std::size_t first_page = (offset + page - 1) & ~(page - 1);
    const std::size_t end = offset + length;
    const std::size_t last_page = end & ~(page - 1);
    if (first_page >= last_page ||
        ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(first_page),
                    static_cast<off_t>(last_page - first_page)) != 0) {
        std::memset(mapped + offset, 0, length);
        return;
    }
    std::memset(mapped + offset, 0, first_page - offset);
    std::memset(mapped + last_page, 0, end - last_page);
    ::posix_fallocate(fd, static_cast<off_t>(first_page),
                      static_cast<off_t>(last_page - first_page));
}

}  // namespace omstream::detail
