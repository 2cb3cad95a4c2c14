//! HDMI-CEC through the kernel's CEC framework (`/dev/cecN`): a TV on the kiosk's HDMI
//! port is put in standby and woken, as a playback device would.
//!
//! Off is `<Standby>` to the TV (logical address 0), not broadcast: a broadcast standby
//! would turn off every device on the bus, a sound bar or another player too. On is
//! `<Image View On>` to the TV, then `<Active Source>` broadcast with our physical
//! address, so that the TV switches to the kiosk's input. The kernel claims a logical
//! address for us (playback 1, 2 or 3, else "unregistered"); where something else has
//! configured the adapter already (a compositor, a CEC daemon) its addresses are used.
//!
//! The device is `display.cec_device`, or the first `/dev/cecN` whose physical address
//! is not 0.0.0.0 (that address is the TV's own). Every ioctl here blocks until the bus
//! answers (a transmit waits for the acknowledgement), which is why this runs on the
//! display thread.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{Backend, DisplayError};
use crate::config::display::BackendKind;

// Linux's <linux/cec.h>: the ioctl structures and numbers.
#[repr(C)]
#[derive(Clone, Copy)]
struct Caps {
    driver: [u8; 32],
    name: [u8; 32],
    available_log_addrs: u32,
    capabilities: u32,
    version: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct LogAddrs {
    log_addr: [u8; 4],
    log_addr_mask: u16,
    cec_version: u8,
    num_log_addrs: u8,
    vendor_id: u32,
    flags: u32,
    osd_name: [u8; 15],
    primary_device_type: [u8; 4],
    log_addr_type: [u8; 4],
    all_device_types: [u8; 4],
    features: [[u8; 12]; 4],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Msg {
    tx_ts: u64,
    rx_ts: u64,
    len: u32,
    timeout: u32,
    sequence: u32,
    flags: u32,
    msg: [u8; 16],
    reply: u8,
    rx_status: u8,
    tx_status: u8,
    tx_arb_lost_cnt: u8,
    tx_nack_cnt: u8,
    tx_low_drive_cnt: u8,
    tx_error_cnt: u8,
}

const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'a' as u64) << 8) | nr
}
const READ: u64 = 2;
const WRITE: u64 = 1;
const ADAP_G_CAPS: u64 = ioc(READ | WRITE, 0, std::mem::size_of::<Caps>());
const ADAP_G_PHYS_ADDR: u64 = ioc(READ, 1, 2);
const ADAP_G_LOG_ADDRS: u64 = ioc(READ, 3, std::mem::size_of::<LogAddrs>());
const ADAP_S_LOG_ADDRS: u64 = ioc(READ | WRITE, 4, std::mem::size_of::<LogAddrs>());
const TRANSMIT: u64 = ioc(READ | WRITE, 5, std::mem::size_of::<Msg>());

const CAP_LOG_ADDRS: u32 = 1 << 1;
const CAP_TRANSMIT: u32 = 1 << 2;
const TX_STATUS_OK: u8 = 1 << 0;
const TX_STATUS_NACK: u8 = 1 << 2;
const RX_STATUS_OK: u8 = 1 << 0;
const RX_STATUS_FEATURE_ABORT: u8 = 1 << 2;
const LOG_ADDR_INVALID: u8 = 0xff;
const LOG_ADDR_TYPE_PLAYBACK: u8 = 3;
const LOG_ADDRS_FL_ALLOW_UNREG_FALLBACK: u32 = 1;
const VENDOR_ID_NONE: u32 = 0xffff_ffff;
const PRIM_DEVTYPE_PLAYBACK: u8 = 4;
const ALL_DEVTYPE_PLAYBACK: u8 = 0x10;
const CEC_VERSION_2_0: u8 = 6;

/// The TV's logical address, and "everyone".
const TV: u8 = 0;
const BROADCAST: u8 = 0xf;
/// Logical address 15 as an initiator: a device that could not claim one.
const UNREGISTERED: u8 = 0xf;

const STANDBY: u8 = 0x36;
const IMAGE_VIEW_ON: u8 = 0x04;
const ACTIVE_SOURCE: u8 = 0x82;
const GIVE_DEVICE_POWER_STATUS: u8 = 0x8f;
const REPORT_POWER_STATUS: u8 = 0x90;

/// What the TV says of its power, `<Report Power Status>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TvPower {
    On,
    Standby,
    GoingOn,
    GoingStandby,
}

impl TvPower {
    fn from_operand(op: u8) -> Option<Self> {
        Some(match op {
            0 => Self::On,
            1 => Self::Standby,
            2 => Self::GoingOn,
            3 => Self::GoingStandby,
            _ => return None,
        })
    }
}

/// `a.b.c.d`, as CEC tools print a physical address.
pub fn format_phys_addr(pa: u16) -> String {
    format!("{}.{}.{}.{}", pa >> 12, (pa >> 8) & 0xf, (pa >> 4) & 0xf, pa & 0xf)
}

/// The bytes of a directed or broadcast message: header block, opcode, operands.
fn frame(from: u8, to: u8, opcode: u8, operands: &[u8]) -> Vec<u8> {
    let mut bytes = vec![(from << 4) | (to & 0xf), opcode];
    bytes.extend_from_slice(operands);
    bytes
}

/// Why a transmit failed, from the kernel's status bits.
fn tx_error(tx_status: u8, to: u8) -> Option<String> {
    if tx_status & TX_STATUS_OK != 0 {
        return None;
    }
    Some(if tx_status & TX_STATUS_NACK != 0 && to != BROADCAST {
        "the TV did not acknowledge (not connected, off at the mains, or CEC disabled in its menu)".to_string()
    } else {
        format!("transmit failed (status 0x{tx_status:02x})")
    })
}

pub struct Cec {
    file: File,
    path: PathBuf,
    /// Our logical address (`UNREGISTERED` if none could be claimed).
    la: u8,
    pa: u16,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> DisplayError {
    DisplayError::Io(format!("{}: {what}: {e}", path.display()))
}

/// # Safety
/// `arg` must be the structure `request` names, as the kernel lays it out.
unsafe fn ioctl<T>(file: &File, request: u64, arg: &mut T) -> std::io::Result<()> {
    // SAFETY: the caller passes the structure the request expects; the kernel reads and
    // writes only its size (encoded in `request`).
    let r = unsafe { libc::ioctl(file.as_raw_fd(), request as _, arg as *mut T) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Cec {
    /// Opens `device`, or else the first `/dev/cecN` that is not the TV itself, and
    /// makes sure we have a logical address.
    pub fn open(device: Option<&str>) -> Result<Self, DisplayError> {
        match device {
            Some(path) => Self::open_path(Path::new(path)),
            None => {
                let mut tried = Vec::new();
                for n in 0..16 {
                    let path = PathBuf::from(format!("/dev/cec{n}"));
                    if !path.exists() {
                        continue;
                    }
                    match Self::open_path(&path) {
                        Ok(cec) if cec.pa == 0 => {
                            tried.push(format!("{}: physical address 0.0.0.0 (a TV)", path.display()))
                        }
                        Ok(cec) => return Ok(cec),
                        Err(e) => tried.push(e.to_string()),
                    }
                }
                Err(DisplayError::Unavailable(if tried.is_empty() {
                    "no /dev/cecN (no CEC adapter, or its driver is not loaded)".into()
                } else {
                    tried.join("; ")
                }))
            }
        }
    }

    fn open_path(path: &Path) -> Result<Self, DisplayError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DisplayError::Unavailable(format!("{}: {e}", path.display())))?;
        // SAFETY: zeroed plain-old-data structures, passed to the ioctls that take them.
        let mut caps: Caps = unsafe { std::mem::zeroed() };
        unsafe { ioctl(&file, ADAP_G_CAPS, &mut caps) }
            .map_err(|e| DisplayError::Unavailable(format!("{}: not a CEC adapter ({e})", path.display())))?;
        if caps.capabilities & CAP_TRANSMIT == 0 {
            return Err(DisplayError::Unavailable(format!("{}: the adapter cannot transmit", path.display())));
        }
        let mut pa: u16 = 0;
        unsafe { ioctl(&file, ADAP_G_PHYS_ADDR, &mut pa) }.map_err(|e| io(path, "physical address", e))?;
        let mut cec = Self { file, path: path.to_owned(), la: UNREGISTERED, pa };
        cec.la = cec.claim(caps.capabilities)?;
        Ok(cec)
    }

    /// Our logical address: the adapter's first one if it is configured, else claims a
    /// playback device's (blocks while the kernel polls the bus).
    fn claim(&mut self, capabilities: u32) -> Result<u8, DisplayError> {
        // SAFETY: as in open_path.
        let mut addrs: LogAddrs = unsafe { std::mem::zeroed() };
        unsafe { ioctl(&self.file, ADAP_G_LOG_ADDRS, &mut addrs) }
            .map_err(|e| io(&self.path, "logical addresses", e))?;
        if addrs.num_log_addrs > 0 && addrs.log_addr[0] != LOG_ADDR_INVALID {
            return Ok(addrs.log_addr[0]);
        }
        if capabilities & CAP_LOG_ADDRS == 0 {
            // Someone else configures this adapter and has not yet: send unregistered.
            return Ok(UNREGISTERED);
        }
        let mut want: LogAddrs = unsafe { std::mem::zeroed() };
        want.cec_version = CEC_VERSION_2_0;
        want.num_log_addrs = 1;
        want.vendor_id = VENDOR_ID_NONE;
        want.flags = LOG_ADDRS_FL_ALLOW_UNREG_FALLBACK;
        let name = b"Vitrine";
        want.osd_name[..name.len()].copy_from_slice(name);
        want.primary_device_type[0] = PRIM_DEVTYPE_PLAYBACK;
        want.log_addr_type[0] = LOG_ADDR_TYPE_PLAYBACK;
        want.all_device_types[0] = ALL_DEVTYPE_PLAYBACK;
        unsafe { ioctl(&self.file, ADAP_S_LOG_ADDRS, &mut want) }
            .map_err(|e| io(&self.path, "claiming a logical address", e))?;
        // Without a valid physical address (no hot-plug yet) the claim waits for one.
        Ok(if want.num_log_addrs > 0 && want.log_addr[0] != LOG_ADDR_INVALID { want.log_addr[0] } else { UNREGISTERED })
    }

    pub fn describe(&self) -> String {
        format!("{} (physical address {}, logical address {})", self.path.display(), format_phys_addr(self.pa), self.la)
    }

    /// Sends one message; with `reply`, waits up to a second for that opcode back and
    /// answers its operands.
    fn transmit(&self, to: u8, opcode: u8, operands: &[u8], reply: Option<u8>) -> Result<Vec<u8>, DisplayError> {
        let bytes = frame(self.la, to, opcode, operands);
        // SAFETY: as in open_path.
        let mut msg: Msg = unsafe { std::mem::zeroed() };
        msg.len = bytes.len() as u32;
        msg.msg[..bytes.len()].copy_from_slice(&bytes);
        if let Some(r) = reply {
            msg.reply = r;
            msg.timeout = 1000;
        }
        unsafe { ioctl(&self.file, TRANSMIT, &mut msg) }
            .map_err(|e| io(&self.path, &format!("transmit 0x{opcode:02x}"), e))?;
        if let Some(why) = tx_error(msg.tx_status, to) {
            return Err(DisplayError::Io(format!("CEC 0x{opcode:02x}: {why}")));
        }
        if reply.is_none() {
            return Ok(Vec::new());
        }
        if msg.rx_status & RX_STATUS_FEATURE_ABORT != 0 {
            return Err(DisplayError::Io(format!("CEC 0x{opcode:02x}: the TV refused it (feature abort)")));
        }
        if msg.rx_status & RX_STATUS_OK == 0 {
            return Err(DisplayError::Io(format!("CEC 0x{opcode:02x}: no answer from the TV")));
        }
        let len = (msg.len as usize).min(msg.msg.len());
        Ok(msg.msg[2.min(len)..len].to_vec())
    }

    /// Asks the TV for its power status.
    pub fn tv_power(&self) -> Result<TvPower, DisplayError> {
        let operands = self.transmit(TV, GIVE_DEVICE_POWER_STATUS, &[], Some(REPORT_POWER_STATUS))?;
        operands
            .first()
            .and_then(|op| TvPower::from_operand(*op))
            .ok_or_else(|| DisplayError::Io("CEC: the TV's power status is malformed".into()))
    }
}

impl Backend for Cec {
    fn kind(&self) -> BackendKind {
        BackendKind::Cec
    }

    fn set_power(&mut self, on: bool) -> Result<(), DisplayError> {
        if !on {
            return self.transmit(TV, STANDBY, &[], None).map(drop);
        }
        self.transmit(TV, IMAGE_VIEW_ON, &[], None)?;
        // Without a physical address the TV cannot be told which input is ours.
        if self.pa != 0xffff {
            self.transmit(BROADCAST, ACTIVE_SOURCE, &self.pa.to_be_bytes(), None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_kernels_sizes_and_ioctl_numbers() {
        // The sizes the kernel's <linux/cec.h> gives on every Linux architecture.
        assert_eq!(std::mem::size_of::<Caps>(), 76);
        assert_eq!(std::mem::size_of::<LogAddrs>(), 92);
        assert_eq!(std::mem::size_of::<Msg>(), 56);
        // As the C macros compute them (_IOWR('a', 5, struct cec_msg) and so on).
        assert_eq!(TRANSMIT, 0xc038_6105);
        assert_eq!(ADAP_S_LOG_ADDRS, 0xc05c_6104);
        assert_eq!(ADAP_G_PHYS_ADDR, 0x8002_6101);
    }

    #[test]
    fn messages_are_framed_from_us_to_the_tv_or_everyone() {
        assert_eq!(frame(4, TV, STANDBY, &[]), [0x40, 0x36]);
        assert_eq!(frame(4, BROADCAST, ACTIVE_SOURCE, &0x1000u16.to_be_bytes()), [0x4f, 0x82, 0x10, 0x00]);
        assert_eq!(frame(UNREGISTERED, TV, IMAGE_VIEW_ON, &[]), [0xf0, 0x04]);
        assert_eq!(format_phys_addr(0x1200), "1.2.0.0");
    }

    #[test]
    fn a_nack_from_the_tv_says_what_to_check() {
        assert_eq!(tx_error(TX_STATUS_OK, TV), None);
        assert!(tx_error(TX_STATUS_NACK | (1 << 5), TV).is_some_and(|e| e.contains("did not acknowledge")));
        assert!(tx_error(1 << 4, TV).is_some_and(|e| e.contains("0x10")));
        assert_eq!(TvPower::from_operand(1), Some(TvPower::Standby));
        assert_eq!(TvPower::from_operand(9), None);
    }

    #[test]
    fn a_path_that_is_not_an_adapter_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("cec0");
        std::fs::write(&file, b"").expect("write");
        let path = file.to_str().expect("utf-8");
        assert!(matches!(Cec::open(Some(path)), Err(DisplayError::Unavailable(e)) if e.contains("not a CEC adapter")));
        let absent = dir.path().join("cec9");
        assert!(matches!(Cec::open(absent.to_str()), Err(DisplayError::Unavailable(_))));
    }
}
