//! Giving start-up's code pages back to the kernel once the daemon runs (issue 11 point 6).
//!
//! A page of a file mapping counts in the process's resident memory from the moment it
//! is mapped, and the kernel maps code in whole windows (fault-around, 64 KB here)
//! around each page a fault touches. Starting runs code a running daemon never runs
//! again: the command line, the workflow's parsing and validation, the migrations, the
//! tracker's checks, the HTTP client's root certificates. That code stayed mapped for the
//! daemon's whole life, windows around it included.
//!
//! So once started, the daemon drops its mappings of the executable's and the shared
//! libraries' read-only pages (`madvise(MADV_DONTNEED)`), and the kernel maps back only
//! what runs after. The linker lays the functions a running daemon uses first and the
//! start-up-only ones after them (`link/README.md`), so what comes back is the running
//! code's windows, not start-up's interleaved with them.
//!
//! Why this is safe: on a private mapping, `MADV_DONTNEED` of a page that is still the
//! file's (never written) only unmaps it; the next access maps the same bytes from the
//! page cache, as after the kernel's own reclaim, which does this to such pages under
//! memory pressure at any time. A written page of a private mapping (copy-on-write: the
//! relocated `.data.rel.ro`, which is read-only again after relocation) would be lost,
//! so a mapping holding any anonymous page is left alone, as is any writable, shared,
//! locked or non-file mapping. Only the executable and shared objects are considered
//! (no data file mapped by a library), and only once per process. Between reading the
//! mappings and dropping them, none may be replaced: karajan unloads no shared object
//! (glibc keeps the modules it loads itself, such as NSS's, for the process's life).
//!
//! `KARAJAN_KEEP_STARTUP_PAGES=1` turns it off (to measure with and without).

use std::sync::Once;

/// One mapping of `/proc/self/smaps`, what deciding needs of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mapping {
    pub start: usize,
    pub end: usize,
    pub perms: String,
    pub path: String,
    pub rss_kb: u64,
    pub anonymous_kb: u64,
    pub locked_kb: u64,
}

impl Mapping {
    /// Whether its pages can be dropped and come back as they were: a private,
    /// non-writable mapping of the executable or a shared object with every page still
    /// the file's, and some resident.
    pub fn droppable(&self, exe: &str) -> bool {
        let perms = self.perms.as_bytes();
        let name = self.path.rsplit('/').next().unwrap_or_default();
        let object = self.path == exe || name.ends_with(".so") || name.contains(".so.");
        perms.len() == 4
            && perms[1] == b'-'
            && perms[3] == b'p'
            && self.path.starts_with('/')
            && object
            && self.anonymous_kb == 0
            && self.locked_kb == 0
            && self.rss_kb > 0
    }
}

/// The mappings of an smaps text (header lines, then `Key: N kB` fields).
pub(crate) fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut all: Vec<Mapping> = vec![];
    for line in text.lines() {
        if let Some(m) = header(line) {
            all.push(m);
            continue;
        }
        let Some(last) = all.last_mut() else { continue };
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let kb = || {
            rest.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match key {
            "Rss" => last.rss_kb = kb(),
            "Anonymous" => last.anonymous_kb = kb(),
            "Locked" => last.locked_kb = kb(),
            _ => {}
        }
    }
    all
}

/// `start-end perms offset dev inode [path]`, or `None` for a field line.
fn header(line: &str) -> Option<Mapping> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.to_string();
    let (_offset, _dev, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let path = fields.collect::<Vec<_>>().join(" ");
    Some(Mapping {
        start,
        end,
        perms,
        path,
        rss_kb: 0,
        anonymous_kb: 0,
        locked_kb: 0,
    })
}

/// Drop the droppable mappings' pages, once per process; the resident KB dropped.
///
/// Never inlined: the drain bench's profile tells start-up from the running daemon by
/// callgrind's dump on entering it (`benches/drain/order.rs`).
#[inline(never)]
pub fn release_startup_pages() -> u64 {
    static ONCE: Once = Once::new();
    let mut released = 0;
    ONCE.call_once(|| {
        if std::env::var_os("KARAJAN_KEEP_STARTUP_PAGES").is_some_and(|v| v != "0") {
            return;
        }
        released = release_now();
    });
    released
}

/// Drop the droppable mappings' pages now; the resident KB dropped.
pub(crate) fn release_now() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut released = 0;
    for m in parse_smaps(&text).iter().filter(|m| m.droppable(&exe)) {
        if dont_need(m.start, m.end - m.start) {
            released += m.rss_kb;
        }
    }
    tracing::debug!(released_kb = released, "start-up pages given back");
    released
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn dont_need(start: usize, len: usize) -> bool {
    // SAFETY: the range is one whole mapping that `droppable` found private, read-only,
    // file-backed and without a written page: dropping its pages changes no byte a
    // later read sees (see the module docs). No Rust reference is invalidated: the bytes
    // behind any pointer into it stay the same.
    #[allow(unsafe_code)]
    let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    r == 0
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn dont_need(_start: usize, _len: usize) -> bool {
    false
}

/// Give the heap's free pages back to the kernel (`malloc_trim(0)`; see
/// `orchestrator::heap_trim` for when).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn trim_heap() {
    // SAFETY: `malloc_trim` is thread-safe (it takes each arena's lock) and only
    // releases memory no allocation holds.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn trim_heap() {}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0200000 r--p 00000000 fe:01 123 /usr/bin/karajan
Rss:                1900 kB
Anonymous:             0 kB
Locked:                0 kB
55d0c0200000-55d0c0700000 r-xp 00200000 fe:01 123 /usr/bin/karajan
Rss:                4200 kB
Anonymous:             0 kB
Locked:                0 kB
55d0c0700000-55d0c0780000 r--p 00700000 fe:01 123 /usr/bin/karajan
Rss:                 512 kB
Anonymous:           512 kB
Locked:                0 kB
55d0c0780000-55d0c0790000 rw-p 00780000 fe:01 123 /usr/bin/karajan
Rss:                  56 kB
Anonymous:            40 kB
7f00000000-7f00100000 r-xp 00028000 fe:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1200 kB
Anonymous:             0 kB
Locked:                0 kB
7f0f000000-7f0f100000 r--p 00000000 fe:01 81 /tmp/repo.sources/objects/pack/pack-1.pack
Rss:                  40 kB
Anonymous:             0 kB
7f10000000-7f10100000 r--p 00000000 fe:01 78 /usr/lib/locale/locale-archive
Rss:                  40 kB
Anonymous:             0 kB
7f20000000-7f20100000 r--s 00000000 fe:01 79 /tmp/k.db-shm
Rss:                  32 kB
Anonymous:             0 kB
7f30000000-7f30100000 r-xp 00000000 fe:01 80 /usr/lib/libpinned.so
Rss:                  64 kB
Anonymous:             0 kB
Locked:               64 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_unwritten_private_read_only_pages_of_code_objects_are_dropped() {
        let all = parse_smaps(SMAPS);
        assert_eq!(all.len(), 10);
        let dropped: Vec<(&str, &str)> = all
            .iter()
            .filter(|m| m.droppable("/usr/bin/karajan"))
            .map(|m| (m.perms.as_str(), m.path.as_str()))
            .collect();
        assert_eq!(
            dropped,
            vec![
                ("r--p", "/usr/bin/karajan"),
                ("r-xp", "/usr/bin/karajan"),
                ("r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            ],
            "the relocated (written) read-only part, the writable part, data files (one \
             under a folder whose name holds `.so`), a shared mapping, a locked one and \
             the vDSO stay"
        );
        assert_eq!(all[2].anonymous_kb, 512);
        assert_eq!(all[1].start, 0x55d0c0200000);
    }

    /// The resident KB of the mapping starting at `start`, from this process's smaps.
    fn rss_at(start: usize) -> u64 {
        let text = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        parse_smaps(&text)
            .into_iter()
            .find(|m| m.start == start)
            .map_or(0, |m| m.rss_kb)
    }

    /// Map `path` privately (`writable`: read-write, else read-only); the address.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    fn map(path: &std::path::Path, len: usize, writable: bool) -> *mut u8 {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .expect("open");
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        // SAFETY: a fresh mapping of a file this test made; the test alone uses it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p.cast()
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    #[allow(unsafe_code)]
    fn dropped_pages_read_back_the_same_and_written_ones_are_kept() {
        const LEN: usize = 256 * 1024;
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let (clean, written) = (dir.path().join("clean.so"), dir.path().join("written.so"));
        std::fs::write(&clean, &bytes).expect("write");
        std::fs::write(&written, &bytes).expect("write");
        let a = map(&clean, LEN, false);
        let b = map(&written, LEN, true);
        // SAFETY: both mappings are LEN bytes long and only this test touches them.
        let (a_bytes, b_bytes) = unsafe {
            *b = 7; // a copy-on-write page, as relocation makes
            assert_eq!(libc::mprotect(b.cast(), LEN, libc::PROT_READ), 0);
            (
                std::slice::from_raw_parts(a, LEN),
                std::slice::from_raw_parts(b, LEN),
            )
        };
        let sum = |s: &[u8]| s.iter().map(|&x| u64::from(x)).sum::<u64>();
        let before = sum(a_bytes);
        sum(b_bytes);
        assert!(rss_at(a as usize) > 0, "the clean mapping is resident");
        let b_rss = rss_at(b as usize);
        assert!(b_rss > 0);

        assert!(release_now() > 0);

        assert_eq!(
            rss_at(a as usize),
            0,
            "the clean mapping's pages were dropped"
        );
        assert_eq!(
            rss_at(b as usize),
            b_rss,
            "a mapping with a written page stays"
        );
        assert_eq!(b_bytes[0], 7, "the written byte is still there");
        assert_eq!(&b_bytes[1..], &bytes[1..]);
        assert_eq!(
            sum(a_bytes),
            before,
            "dropped pages read back the same bytes"
        );
        assert_eq!(a_bytes, &bytes[..]);
        // SAFETY: unmapping the test's own mappings; the slices are not used after.
        unsafe {
            libc::munmap(a.cast(), LEN);
            libc::munmap(b.cast(), LEN);
        }
    }
}
