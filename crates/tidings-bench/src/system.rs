//! What the tool reads from and asks of the operating system: the server's memory and CPU time
//! from `/proc`, its own CPU time, and a file-descriptor limit high enough for N connections.

use std::io;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::BenchError;

/// Memory and CPU time of a set of processes at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Resident set size, bytes (`VmRSS` in `/proc/<pid>/status`).
    pub rss: u64,
    /// User plus system CPU time, in clock ticks (`utime + stime` of `/proc/<pid>/stat`).
    pub ticks: u64,
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` times.
pub(crate) fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// Sums the usage of `pids`.
pub(crate) fn usage(pids: &[u32]) -> Result<Usage, BenchError> {
    let mut total = Usage::default();
    for &pid in pids {
        let read = |file: &str| {
            std::fs::read_to_string(format!("/proc/{pid}/{file}"))
                .map_err(|source| BenchError::Proc { pid, source })
        };
        total.rss += parse_rss(&read("status")?).ok_or_else(|| malformed(pid))?;
        total.ticks += parse_ticks(&read("stat")?).ok_or_else(|| malformed(pid))?;
    }
    Ok(total)
}

/// This process's own CPU time in clock ticks.
pub(crate) fn own_ticks() -> Result<u64, BenchError> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|source| BenchError::Proc { pid: std::process::id(), source })?;
    parse_ticks(&stat).ok_or_else(|| malformed(std::process::id()))
}

fn malformed(pid: u32) -> BenchError {
    BenchError::Proc {
        pid,
        source: io::Error::new(io::ErrorKind::InvalidData, "unexpected format"),
    }
}

/// `VmRSS:   1234 kB` → bytes.
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..].trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime, fields 14 and 15 of `stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // after[0] is field 3 (state); utime is field 14.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Raises the soft limit on open files to at least `wanted` (up to the hard limit) and
/// returns the new soft limit; an error when the hard limit is lower than `wanted`.
pub(crate) fn raise_fd_limit(wanted: u64) -> Result<u64, BenchError> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let current = current.unwrap_or(u64::MAX);
    if current >= wanted {
        return Ok(current);
    }
    let hard = maximum.unwrap_or(u64::MAX);
    if hard < wanted {
        return Err(BenchError::FdLimit { wanted, hard });
    }
    setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum }).map_err(|errno| {
        BenchError::Io { what: "raising the file-descriptor limit", source: errno.into() }
    })?;
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_found_after_an_awkward_command_name() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 27 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_ticks(stat), Some(177));
        assert_eq!(parse_ticks("4242 (x) S 1 2"), None);
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n";
        assert_eq!(parse_rss(status), Some(4321 * 1024));
        assert_eq!(parse_rss("Name:\tx\n"), None);
    }

    #[test]
    fn own_usage_is_readable_and_grows_with_work() {
        let pid = std::process::id();
        let before = usage(&[pid]).expect("own /proc entry");
        assert!(before.rss > 0);
        // Burn about 50 ms of CPU: at 100 ticks per second that is several ticks.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(own_ticks().expect("own ticks") > before.ticks);
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn a_missing_process_is_an_error_naming_it() {
        // Pid numbers never reach this on Linux (pid_max is at most 2^22).
        let error = usage(&[u32::MAX]).expect_err("no such process");
        assert!(matches!(error, BenchError::Proc { pid: u32::MAX, .. }));
    }

    #[test]
    fn the_fd_limit_is_kept_when_high_enough() {
        let Rlimit { current, .. } = getrlimit(Resource::Nofile);
        let current = current.unwrap_or(u64::MAX);
        assert_eq!(raise_fd_limit(1).expect("no change needed"), current);
        assert!(
            matches!(raise_fd_limit(u64::MAX - 1), Err(BenchError::FdLimit { .. }))
                || current == u64::MAX
        );
    }
}
