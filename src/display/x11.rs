//! DPMS on the X server (the `DPMS` extension), and the output's rotation with touch
//! following it ([`X11Output`]: RandR, XInput), on a connection of the display
//! thread's own (x11rb, pure Rust): the GTK thread's Xlib connection is GTK's, and
//! every request here waits for the server's answer.
//!
//! Xvfb has no DPMS extension, so here the probe is what can be tested: it says so and
//! the next backend is tried. Turning a real monitor off needs a real X server.

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::dpms::{self, ConnectionExt as _, DPMSMode};
use x11rb::rust_connection::RustConnection;

use super::x11_output::X11Output;
use super::{Backend, DisplayError, Orientation};
use crate::config::display::BackendKind;

pub struct X11 {
    conn: RustConnection,
    screen: usize,
    /// `display.output`: the output to rotate (RandR's name).
    output: Option<String>,
}

fn io(e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("X11: {e}"))
}

impl X11 {
    /// Connects to `$DISPLAY` and checks that the server can power the monitor.
    pub fn connect(output: Option<String>) -> Result<Self, DisplayError> {
        if std::env::var_os("DISPLAY").is_none() {
            return Err(DisplayError::Unavailable("no X display (DISPLAY is not set)".into()));
        }
        if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            // Xwayland's DPMS powers nothing: the compositor owns the output.
            return Err(DisplayError::Unavailable("X11 runs under a Wayland compositor (Xwayland)".into()));
        }
        let (conn, screen) = x11rb::connect(None).map_err(|e| DisplayError::Unavailable(format!("X11: {e}")))?;
        let present = conn.extension_information(dpms::X11_EXTENSION_NAME).map_err(io)?.is_some();
        if !present {
            return Err(DisplayError::Unavailable("the X server has no DPMS extension".into()));
        }
        let capable = conn.dpms_capable().map_err(io)?.reply().map_err(io)?.capable;
        if !capable {
            return Err(DisplayError::Unavailable("the X server's monitor is not DPMS capable".into()));
        }
        Ok(Self { conn, screen, output })
    }
}

impl Backend for X11 {
    fn kind(&self) -> BackendKind {
        BackendKind::X11
    }

    fn set_power(&mut self, on: bool) -> Result<(), DisplayError> {
        // Forcing a level needs DPMS enabled; the server's own timeouts stay as they are.
        self.conn.dpms_enable().map_err(io)?.check().map_err(io)?;
        let level = if on { DPMSMode::ON } else { DPMSMode::OFF };
        self.conn.dpms_force_level(level).map_err(io)?.check().map_err(io)?;
        let info = self.conn.dpms_info().map_err(io)?.reply().map_err(io)?;
        if info.power_level != level {
            return Err(io(format!("the server reports power level {:?}", info.power_level)));
        }
        self.conn.flush().map_err(io)
    }

    fn orientation(&mut self) -> Option<Orientation> {
        X11Output::new(&self.conn, self.screen, self.output.as_deref()).and_then(|x| x.orientation()).ok()
    }

    fn output(&mut self) -> Option<(String, i32, i32)> {
        X11Output::new(&self.conn, self.screen, self.output.as_deref()).and_then(|x| x.place()).ok()
    }

    fn set_orientation(&mut self, o: Orientation) -> Result<String, DisplayError> {
        X11Output::new(&self.conn, self.screen, self.output.as_deref())?.set(o)
    }
}
