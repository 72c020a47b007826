//! Network interfaces: parses `/proc/net/dev` (the counters of the probe's network namespace,
//! the same file node_exporter's netdev collector reads).

/// The counters of one interface that Lookout reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevCounters {
    pub interface: String,
    pub receive_bytes: u64,
    pub receive_packets: u64,
    pub receive_errs: u64,
    pub receive_drop: u64,
    pub transmit_bytes: u64,
    pub transmit_packets: u64,
    pub transmit_errs: u64,
    pub transmit_drop: u64,
}

/// Parses `/proc/net/dev`. The two header lines have no colon-separated counters and are
/// skipped like any other line that does not have the 16 counters.
pub fn parse_net_dev(text: &str) -> Vec<NetDevCounters> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<NetDevCounters> {
    // "  eth0: 149238632 5729 ..." — with large counters the kernel writes no space after the
    // colon ("eth0:149238632"), so split on the colon rather than on whitespace.
    let (name, counters) = line.split_once(':')?;
    let interface = name.trim();
    if interface.is_empty() || interface.contains(char::is_whitespace) {
        return None;
    }
    let mut values = [0u64; 16];
    let mut seen = 0;
    for (slot, field) in values.iter_mut().zip(counters.split_ascii_whitespace()) {
        *slot = field.parse().ok()?;
        seen += 1;
    }
    if seen < values.len() {
        return None;
    }
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // transmit: bytes packets errs drop fifo colls carrier compressed.
    Some(NetDevCounters {
        interface: interface.to_string(),
        receive_bytes: values[0],
        receive_packets: values[1],
        receive_errs: values[2],
        receive_drop: values[3],
        transmit_bytes: values[8],
        transmit_packets: values[9],
        transmit_errs: values[10],
        transmit_drop: values[11],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   49413     634    0    0    0     0          0         0    49413     634    0    0    0     0       0          0
  eth0:149238632    5729    1    2    0     0          0         0   337732    3454    3    4    0     0       0          0
docker0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
";

    #[test]
    fn parses_every_interface_including_ones_glued_to_the_colon() {
        let devs = parse_net_dev(NET_DEV);
        let names: Vec<_> = devs.iter().map(|d| d.interface.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "docker0"]);
        assert_eq!(
            devs[1],
            NetDevCounters {
                interface: "eth0".into(),
                receive_bytes: 149238632,
                receive_packets: 5729,
                receive_errs: 1,
                receive_drop: 2,
                transmit_bytes: 337732,
                transmit_packets: 3454,
                transmit_errs: 3,
                transmit_drop: 4,
            }
        );
    }

    #[test]
    fn truncated_lines_are_skipped() {
        let devs =
            parse_net_dev("  eth0: 1 2 3\n  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n:\n");
        assert!(devs.is_empty());
    }
}
