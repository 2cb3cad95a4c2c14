//! The kiosk's output on X11: its rotation through RandR (1.2+), and the touch screens'
//! "Coordinate Transformation Matrix" (XInput) so that touch follows it, on the display
//! thread's own X connection (as `x11.rs`, and for the same reasons).
//!
//! The output is `display.output` by name, else RandR's primary, else the first one
//! lit. Turning it a quarter swaps the screen's width and height, which RandR only
//! allows with the CRTC off: off, resize, on with the new rotation, under a server grab
//! so that no client sees the half-way state. Touch screens are the devices X calls
//! `TOUCHSCREEN` (evdev's and libinput's type) or that have a direct-touch class; each
//! gets the matrix that maps the panel onto the output's part of the screen. A touch
//! screen plugged in later keeps the identity until the next rotation.

use x11rb::connection::Connection as _;
use x11rb::protocol::randr::{self, ConnectionExt as _, Rotation};
use x11rb::protocol::xinput::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::{touch, DisplayError, Orientation};

fn io(e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("X11 RandR: {e}"))
}

/// RandR's rotation for a clockwise one (RandR counts counter-clockwise).
pub fn randr_rotation(o: Orientation) -> Option<u16> {
    let turn = match o.rotation {
        0 => u16::from(Rotation::ROTATE0),
        90 => u16::from(Rotation::ROTATE270),
        180 => u16::from(Rotation::ROTATE180),
        270 => u16::from(Rotation::ROTATE90),
        _ => return None,
    };
    Some(if o.flipped { turn | u16::from(Rotation::REFLECT_X) } else { turn })
}

fn orientation_of(rotation: u16) -> Orientation {
    let flipped = rotation & u16::from(Rotation::REFLECT_X) != 0;
    let degrees = if rotation & u16::from(Rotation::ROTATE90) != 0 {
        270
    } else if rotation & u16::from(Rotation::ROTATE180) != 0 {
        180
    } else if rotation & u16::from(Rotation::ROTATE270) != 0 {
        90
    } else {
        0
    };
    Orientation { rotation: degrees, flipped }
}

fn names(rotations: u16) -> String {
    let all = [(1, "normal"), (2, "left"), (4, "inverted"), (8, "right"), (16, "reflect x"), (32, "reflect y")];
    let list: Vec<&str> = all.iter().filter(|(bit, _)| rotations & bit != 0).map(|(_, n)| *n).collect();
    list.join(", ")
}

/// The kiosk's output and the CRTC that shows it.
struct Target {
    name: String,
    crtc: randr::Crtc,
    mm: (u32, u32),
}

pub struct X11Output<'c> {
    conn: &'c RustConnection,
    root: xproto::Window,
    wanted: Option<&'c str>,
}

impl<'c> X11Output<'c> {
    /// Checks that the server has RandR 1.2 or later.
    pub fn new(conn: &'c RustConnection, screen: usize, wanted: Option<&'c str>) -> Result<Self, DisplayError> {
        let root = conn.setup().roots.get(screen).ok_or_else(|| io("no such screen"))?.root;
        let v = conn.randr_query_version(1, 3).map_err(io)?.reply().map_err(io)?;
        if (v.major_version, v.minor_version) < (1, 2) {
            return Err(DisplayError::Unavailable(format!(
                "the X server's RandR is {}.{} (outputs need 1.2)",
                v.major_version, v.minor_version
            )));
        }
        Ok(Self { conn, root, wanted })
    }

    fn target(&self, res: &randr::GetScreenResourcesCurrentReply) -> Result<Target, DisplayError> {
        let primary = self.conn.randr_get_output_primary(self.root).map_err(io)?.reply().map_err(io)?.output;
        let mut lit = None;
        let mut seen = Vec::new();
        for &output in &res.outputs {
            let info =
                self.conn.randr_get_output_info(output, res.config_timestamp).map_err(io)?.reply().map_err(io)?;
            let name = String::from_utf8_lossy(&info.name).to_string();
            let t = Target { name: name.clone(), crtc: info.crtc, mm: (info.mm_width, info.mm_height) };
            match self.wanted {
                Some(w) if w == name => {
                    if info.crtc == 0 {
                        return Err(io(format!("output {name} is not lit (no CRTC shows it)")));
                    }
                    return Ok(t);
                }
                Some(_) => seen.push(name),
                None if output == primary && info.crtc != 0 => return Ok(t),
                None if info.crtc != 0 && lit.is_none() => lit = Some(t),
                None => {}
            }
        }
        match self.wanted {
            Some(w) => Err(io(format!("no output named {w} (the server has {})", seen.join(", ")))),
            None => lit.ok_or_else(|| io("no output is lit")),
        }
    }

    /// The kiosk's output's name and position on the screen.
    pub fn place(&self) -> Result<(String, i32, i32), DisplayError> {
        let res = self.conn.randr_get_screen_resources_current(self.root).map_err(io)?.reply().map_err(io)?;
        let t = self.target(&res)?;
        let crtc = self.conn.randr_get_crtc_info(t.crtc, res.config_timestamp).map_err(io)?.reply().map_err(io)?;
        Ok((t.name, i32::from(crtc.x), i32::from(crtc.y)))
    }

    /// The kiosk's output's orientation now.
    pub fn orientation(&self) -> Result<Orientation, DisplayError> {
        let res = self.conn.randr_get_screen_resources_current(self.root).map_err(io)?.reply().map_err(io)?;
        let t = self.target(&res)?;
        let crtc = self.conn.randr_get_crtc_info(t.crtc, res.config_timestamp).map_err(io)?.reply().map_err(io)?;
        Ok(orientation_of(u16::from(crtc.rotation)))
    }

    /// Turns the kiosk's output to `o` and maps the touch screens onto it; answers the
    /// output's name.
    pub fn set(&self, o: Orientation) -> Result<String, DisplayError> {
        let wanted = randr_rotation(o).ok_or_else(|| io(format!("{}° is not a quarter turn", o.rotation)))?;
        let res = self.conn.randr_get_screen_resources_current(self.root).map_err(io)?.reply().map_err(io)?;
        let t = self.target(&res)?;
        let crtc = self.conn.randr_get_crtc_info(t.crtc, res.config_timestamp).map_err(io)?.reply().map_err(io)?;
        let can = u16::from(crtc.rotations);
        if can & wanted != wanted {
            return Err(DisplayError::Io(format!(
                "X11 RandR: output {} cannot turn {}°{} (the driver offers: {})",
                t.name,
                o.rotation,
                if o.flipped { " flipped" } else { "" },
                names(can)
            )));
        }
        let mode = res
            .modes
            .iter()
            .find(|m| m.id == crtc.mode)
            .ok_or_else(|| io(format!("output {}: its mode is not in the screen's resources", t.name)))?;
        let quarter = o.rotation % 180 == 90;
        let (w, h) = if quarter { (mode.height, mode.width) } else { (mode.width, mode.height) };
        let (mm_w, mm_h) = if quarter { (t.mm.1, t.mm.0) } else { t.mm };
        // The screen becomes exactly this output (a kiosk shows one); with several lit
        // outputs it must still hold them all.
        let others = self.extent_without(&res, t.crtc)?;
        let (sw, sh) = (u32::from(w).max(others.0), u32::from(h).max(others.1));
        self.conn.grab_server().map_err(io)?;
        let result = (|| {
            let off = self
                .conn
                .randr_set_crtc_config(t.crtc, crtc.timestamp, res.config_timestamp, 0, 0, 0, Rotation::ROTATE0, &[])
                .map_err(io)?
                .reply()
                .map_err(io)?;
            if off.status != randr::SetConfig::SUCCESS {
                return Err(io(format!("turning output {} off to resize: {:?}", t.name, off.status)));
            }
            self.conn
                .randr_set_screen_size(self.root, sw as u16, sh as u16, mm_w.max(1), mm_h.max(1))
                .map_err(io)?
                .check()
                .map_err(io)?;
            let on = self
                .conn
                .randr_set_crtc_config(
                    t.crtc,
                    off.timestamp,
                    res.config_timestamp,
                    crtc.x,
                    crtc.y,
                    crtc.mode,
                    Rotation::from(wanted),
                    &crtc.outputs,
                )
                .map_err(io)?
                .reply()
                .map_err(io)?;
            if on.status != randr::SetConfig::SUCCESS {
                return Err(io(format!("output {}: the server refused the rotation ({:?})", t.name, on.status)));
            }
            Ok(())
        })();
        self.conn.ungrab_server().map_err(io)?;
        result?;
        let rect = (i32::from(crtc.x), i32::from(crtc.y), u32::from(w), u32::from(h));
        let mapped = self.map_touch(o, rect, (sw, sh));
        match mapped {
            Ok(0) => log::info!("display: no touch screen on the X server to map"),
            Ok(n) => log::info!("display: {n} touch screen(s) follow output {}", t.name),
            Err(e) => log::warn!("display: touch does not follow the rotation: {e}"),
        }
        self.conn.flush().map_err(io)?;
        Ok(t.name)
    }

    /// The screen size the other lit CRTCs need.
    fn extent_without(
        &self,
        res: &randr::GetScreenResourcesCurrentReply,
        skip: randr::Crtc,
    ) -> Result<(u32, u32), DisplayError> {
        let mut extent = (0u32, 0u32);
        for &c in res.crtcs.iter().filter(|c| **c != skip) {
            let info = self.conn.randr_get_crtc_info(c, res.config_timestamp).map_err(io)?.reply().map_err(io)?;
            if info.mode != 0 {
                extent.0 = extent.0.max((i32::from(info.x) + i32::from(info.width)).max(0) as u32);
                extent.1 = extent.1.max((i32::from(info.y) + i32::from(info.height)).max(0) as u32);
            }
        }
        Ok(extent)
    }

    /// Sets every touch screen's matrix; answers how many.
    fn map_touch(&self, o: Orientation, rect: (i32, i32, u32, u32), screen: (u32, u32)) -> Result<usize, DisplayError> {
        let m = touch::to_output(o, rect, screen).ok_or_else(|| io("no matrix for this orientation"))?;
        let xio = |e: &dyn std::fmt::Display| DisplayError::Io(format!("X11 XInput: {e}"));
        self.conn.xinput_xi_query_version(2, 2).map_err(|e| xio(&e))?.reply().map_err(|e| xio(&e))?;
        let atom = |name: &str| -> Result<u32, DisplayError> {
            Ok(self.conn.intern_atom(false, name.as_bytes()).map_err(|e| xio(&e))?.reply().map_err(|e| xio(&e))?.atom)
        };
        let matrix = atom("Coordinate Transformation Matrix")?;
        let float = atom("FLOAT")?;
        let touchscreen = atom("TOUCHSCREEN")?;
        let mut ids: Vec<u16> = Vec::new();
        let xi1 = self.conn.xinput_list_input_devices().map_err(|e| xio(&e))?.reply().map_err(|e| xio(&e))?;
        ids.extend(xi1.devices.iter().filter(|d| d.device_type == touchscreen).map(|d| u16::from(d.device_id)));
        let xi2 = self
            .conn
            .xinput_xi_query_device(u16::from(xinput::Device::ALL))
            .map_err(|e| xio(&e))?
            .reply()
            .map_err(|e| xio(&e))?;
        for d in &xi2.infos {
            let direct = d
                .classes
                .iter()
                .any(|c| matches!(&c.data, xinput::DeviceClassData::Touch(t) if t.mode == xinput::TouchMode::DIRECT));
            if direct && d.type_ == xinput::DeviceType::SLAVE_POINTER && !ids.contains(&d.deviceid) {
                ids.push(d.deviceid);
            }
        }
        let values: Vec<u32> = m.iter().map(|v| (*v as f32).to_bits()).collect();
        for id in &ids {
            self.conn
                .xinput_xi_change_property(
                    *id,
                    xproto::PropMode::REPLACE,
                    matrix,
                    float,
                    9,
                    &xinput::XIChangePropertyAux::Data32(values.clone()),
                )
                .map_err(|e| xio(&e))?
                .check()
                .map_err(|e| xio(&format!("device {id}: {e}")))?;
        }
        Ok(ids.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clockwise_turns_are_randrs_the_other_way_and_back() {
        for (rotation, flipped) in [(0, false), (90, false), (180, false), (270, true), (90, true)] {
            let o = Orientation { rotation, flipped };
            assert_eq!(orientation_of(randr_rotation(o).expect("quarter")), o);
        }
        // xrandr's "right" is a clockwise quarter turn.
        assert_eq!(randr_rotation(Orientation { rotation: 90, flipped: false }), Some(8));
        assert_eq!(randr_rotation(Orientation { rotation: 45, flipped: false }), None);
        assert_eq!(names(1 | 2 | 16), "normal, left, reflect x");
    }
}
