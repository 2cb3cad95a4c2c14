//! wlroots' output power management (`zwlr_output_power_manager_v1`): sway, labwc, and
//! other wlroots compositors turn an output off and on for a client that asks.
//!
//! One Wayland connection of its own (shared with [`super::wlr_output`], each with its
//! own event queue), on the display thread, rather than GDK's: every
//! request here waits for the compositor's answer (a roundtrip), which the GTK thread
//! must never do, and GDK's display belongs to the GTK thread (its event queue is
//! dispatched there; a second queue on it would need GDK's internals). The output's
//! transform is read from `wl_output`'s geometry events on the same connection.

use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};
use wayland_protocols::xdg::xdg_output::zv1::client::{
    zxdg_output_manager_v1::ZxdgOutputManagerV1,
    zxdg_output_v1::{self, ZxdgOutputV1},
};
use wayland_protocols_wlr::output_power_management::v1::client::{
    zwlr_output_power_manager_v1::ZwlrOutputPowerManagerV1,
    zwlr_output_power_v1::{self, ZwlrOutputPowerV1},
};

use super::{Backend, DisplayError, Orientation};
use crate::config::display::BackendKind;

#[derive(Default)]
struct State {
    outputs: Vec<Output>,
    manager: Option<ZwlrOutputPowerManagerV1>,
    xdg: Option<ZxdgOutputManagerV1>,
    /// A power request the compositor refused, since the last check.
    failed: bool,
}

struct Output {
    /// The global's name, to forget it when the output goes away.
    global: u32,
    /// The output's name (`HDMI-A-1`; wl_output 4), once told.
    name: Option<String>,
    output: wl_output::WlOutput,
    /// Where GDK (and so the window) sees it: xdg-output's logical position.
    xdg: Option<ZxdgOutputV1>,
    position: Option<(i32, i32)>,
    power: Option<ZwlrOutputPowerV1>,
    transform: Option<wl_output::Transform>,
    on: Option<bool>,
}

pub struct Wlr {
    queue: EventQueue<State>,
    state: State,
    /// `display.output`: only it is powered, where the compositor names outputs.
    wanted: Option<String>,
    /// Output management, for rotation; `None` where the compositor lacks it.
    outputs: Option<super::wlr_output::OutputManager>,
}

fn io(e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("Wayland: {e}"))
}

impl Wlr {
    /// Connects to `$WAYLAND_DISPLAY` and binds the power manager and the outputs.
    pub fn connect(wanted: Option<String>) -> Result<Self, DisplayError> {
        if std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Err(DisplayError::Unavailable("no Wayland display (WAYLAND_DISPLAY is not set)".into()));
        }
        let connection =
            Connection::connect_to_env().map_err(|e| DisplayError::Unavailable(format!("Wayland: {e}")))?;
        let mut queue = connection.new_event_queue();
        let qh = queue.handle();
        connection.display().get_registry(&qh, ());
        let mut state = State::default();
        queue.roundtrip(&mut state).map_err(io)?;
        let Some(manager) = state.manager.clone() else {
            return Err(DisplayError::Unavailable(
                "the compositor has no wlr output power management (not wlroots, or too old)".into(),
            ));
        };
        if state.outputs.is_empty() {
            return Err(DisplayError::Unavailable("the compositor reports no output".into()));
        }
        for o in &mut state.outputs {
            o.power = Some(manager.get_output_power(&o.output, &qh, ()));
        }
        // The outputs' geometry and the power modes arrive now.
        queue.roundtrip(&mut state).map_err(io)?;
        let outputs = match super::wlr_output::OutputManager::connect(&connection, wanted.clone()) {
            Ok(m) => Some(m),
            Err(e) => {
                log::info!("display: wlr output management: {e}; rotation is the compositor's configuration");
                None
            }
        };
        Ok(Self { queue, state, wanted, outputs })
    }

    /// The outputs a power change goes to: the wanted one where it is there by name,
    /// else every output (a kiosk shows one; a second is a mirror or a spare).
    fn powered(&self) -> Vec<usize> {
        let named =
            self.wanted.as_deref().and_then(|w| self.state.outputs.iter().position(|o| o.name.as_deref() == Some(w)));
        match named {
            Some(i) => vec![i],
            None => (0..self.state.outputs.len()).collect(),
        }
    }

    /// The kiosk's output among the bound ones: the wanted one while it is there, else
    /// the first.
    fn kiosk_output(&self) -> Option<&Output> {
        let named =
            self.wanted.as_deref().and_then(|w| self.state.outputs.iter().find(|o| o.name.as_deref() == Some(w)));
        named.or_else(|| self.state.outputs.first())
    }
}

impl Backend for Wlr {
    fn kind(&self) -> BackendKind {
        BackendKind::Wlr
    }

    fn set_power(&mut self, on: bool) -> Result<(), DisplayError> {
        let mode = if on { zwlr_output_power_v1::Mode::On } else { zwlr_output_power_v1::Mode::Off };
        self.state.failed = false;
        // Outputs that appeared since (re-enabled, plugged in) get their power object now.
        self.queue.roundtrip(&mut self.state).map_err(io)?;
        let qh = self.queue.handle();
        if let Some(manager) = self.state.manager.clone() {
            for o in self.state.outputs.iter_mut().filter(|o| o.power.is_none()) {
                o.power = Some(manager.get_output_power(&o.output, &qh, ()));
            }
        }
        let powered = self.powered();
        for &i in &powered {
            if let Some(p) = &self.state.outputs[i].power {
                p.set_mode(mode);
            }
        }
        self.queue.roundtrip(&mut self.state).map_err(io)?;
        if self.state.failed {
            return Err(DisplayError::Io("the compositor refused the power mode".into()));
        }
        // The compositor answers a mode it applied with a mode event; one that could not
        // apply it (headless sway 1.7 cannot turn its output off) stays silent.
        let unchanged =
            powered.iter().filter(|i| self.state.outputs.get(**i).is_some_and(|o| o.on != Some(on))).count();
        if unchanged > 0 {
            return Err(DisplayError::Io(format!(
                "the compositor did not confirm the power mode for {unchanged} of {} outputs",
                powered.len()
            )));
        }
        Ok(())
    }

    fn output(&mut self) -> Option<(String, i32, i32)> {
        self.queue.roundtrip(&mut self.state).ok()?;
        // GDK places monitors by xdg-output; output management's positions are not
        // there for outputs it calls disabled (all of them, on headless sway 1.7).
        let o = self.kiosk_output()?;
        let (x, y) = o.position?;
        Some((o.name.clone()?, x, y))
    }

    fn set_orientation(&mut self, o: Orientation) -> Result<String, DisplayError> {
        match self.outputs.as_mut() {
            Some(m) => m.set(o),
            None => Err(DisplayError::Unsupported("this compositor (no wlr output management)")),
        }
    }

    fn orientation(&mut self) -> Option<Orientation> {
        self.queue.roundtrip(&mut self.state).ok()?;
        let transform = self.kiosk_output()?.transform?;
        use wl_output::Transform as T;
        // wl_output counts counter-clockwise; Vitrine (and sway's `transform 90`, which
        // sends `_270`) clockwise.
        let (rotation, flipped) = match transform {
            T::Normal => (0, false),
            T::_90 => (270, false),
            T::_180 => (180, false),
            T::_270 => (90, false),
            T::Flipped => (0, true),
            T::Flipped90 => (270, true),
            T::Flipped180 => (180, true),
            T::Flipped270 => (90, true),
            _ => return None,
        };
        Some(Orientation { rotation, flipped })
    }
}

impl Dispatch<wl_registry::WlRegistry, ()> for State {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let (name, interface, version) = match event {
            wl_registry::Event::Global { name, interface, version } => (name, interface, version),
            // An output unplugged or disabled (a TV turned off): a new one comes with it back.
            wl_registry::Event::GlobalRemove { name } => {
                state.outputs.retain(|o| o.global != name);
                return;
            }
            _ => return,
        };
        match interface.as_str() {
            "wl_output" => {
                // Version 4 names the output (`HDMI-A-1`), for `display.output`.
                let output = registry.bind::<wl_output::WlOutput, _, _>(name, version.min(4), qh, ());
                let xdg = state.xdg.as_ref().map(|m| m.get_xdg_output(&output, qh, ()));
                state.outputs.push(Output {
                    global: name,
                    name: None,
                    output,
                    xdg,
                    position: None,
                    power: None,
                    transform: None,
                    on: None,
                });
            }
            "zxdg_output_manager_v1" => {
                let m = registry.bind::<ZxdgOutputManagerV1, _, _>(name, version.min(3), qh, ());
                // Outputs announced before it get theirs now.
                for o in state.outputs.iter_mut().filter(|o| o.xdg.is_none()) {
                    o.xdg = Some(m.get_xdg_output(&o.output, qh, ()));
                }
                state.xdg = Some(m);
            }
            "zwlr_output_power_manager_v1" => {
                state.manager = Some(registry.bind::<ZwlrOutputPowerManagerV1, _, _>(name, 1, qh, ()));
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_output::WlOutput, ()> for State {
    fn event(
        state: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(o) = state.outputs.iter_mut().find(|o| &o.output == output) else { return };
        match event {
            wl_output::Event::Geometry { transform: WEnum::Value(t), .. } => o.transform = Some(t),
            wl_output::Event::Name { name } => o.name = Some(name),
            _ => {}
        }
    }
}

impl Dispatch<ZxdgOutputManagerV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZxdgOutputManagerV1,
        _: <ZxdgOutputManagerV1 as wayland_client::Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZxdgOutputV1, ()> for State {
    fn event(
        state: &mut Self,
        xdg: &ZxdgOutputV1,
        event: zxdg_output_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(o) = state.outputs.iter_mut().find(|o| o.xdg.as_ref() == Some(xdg)) else { return };
        match event {
            zxdg_output_v1::Event::LogicalPosition { x, y } => o.position = Some((x, y)),
            // Older compositors name outputs here only (wl_output 4 came later).
            zxdg_output_v1::Event::Name { name } if o.name.is_none() => o.name = Some(name),
            _ => {}
        }
    }
}

impl Dispatch<ZwlrOutputPowerManagerV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwlrOutputPowerManagerV1,
        _: <ZwlrOutputPowerManagerV1 as wayland_client::Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrOutputPowerV1, ()> for State {
    fn event(
        state: &mut Self,
        power: &ZwlrOutputPowerV1,
        event: zwlr_output_power_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let o = state.outputs.iter_mut().find(|o| o.power.as_ref() == Some(power));
        match event {
            zwlr_output_power_v1::Event::Mode { mode } => {
                if let Some(o) = o {
                    o.on = Some(matches!(mode, WEnum::Value(zwlr_output_power_v1::Mode::On)));
                }
            }
            zwlr_output_power_v1::Event::Failed => state.failed = true,
            _ => {}
        }
    }
}
