//! `stats` and `processes`: what the container's scope and network namespace count.

use std::path::PathBuf;

use super::{Container, ContainerError, Status};
use crate::cgroups::{NetworkInterface, Stats};

impl Container {
    /// Host pids of every process in the container's scope.
    pub fn processes(&self) -> crate::Result<Vec<i32>> {
        self.manager.pids()
    }

    /// Resource usage of the scope plus the interface counters of the container's network
    /// namespace (read through init's `/proc/<pid>/net/dev`).
    pub fn stats(&mut self) -> crate::Result<Stats> {
        let mut stats = self.manager.stats()?;
        if self.refresh_status() != Status::Stopped {
            let path = PathBuf::from(format!("/proc/{}/net/dev", self.state.init_pid));
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ContainerError::NetDev { path, source })?;
            stats.network_interfaces = parse_net_dev(&text);
        }
        Ok(stats)
    }
}

/// Parses `/proc/net/dev`: two header lines, then `name: rx(8 fields) tx(8 fields)`.
fn parse_net_dev(text: &str) -> Vec<NetworkInterface> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let n: Vec<u64> = counters
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            if n.len() < 16 {
                return None;
            }
            Some(NetworkInterface {
                name: name.trim().to_owned(),
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_is_parsed_per_interface() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0
";
        let got = parse_net_dev(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "lo");
        assert_eq!((got[0].rx_bytes, got[0].tx_packets), (140, 2));
        assert_eq!(
            (
                got[1].rx_errors,
                got[1].rx_dropped,
                got[1].tx_bytes,
                got[1].tx_dropped
            ),
            (1, 2, 2000, 4)
        );
    }
}
