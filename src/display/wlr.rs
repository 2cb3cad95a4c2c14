//! wlroots' output power management (`zwlr_output_power_manager_v1`): sway, labwc, and
//! other wlroots compositors turn an output off and on for a client that asks.
//!
//! A Wayland connection of its own, on the display thread, rather than GDK's: every
//! request here waits for the compositor's answer (a roundtrip), which the GTK thread
//! must never do, and GDK's display belongs to the GTK thread (its event queue is
//! dispatched there; a second queue on it would need GDK's internals). The output's
//! transform is read from `wl_output`'s geometry events on the same connection.

use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};
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
    /// A power request the compositor refused, since the last check.
    failed: bool,
}

struct Output {
    /// The global's name, to forget it when the output goes away.
    name: u32,
    output: wl_output::WlOutput,
    power: Option<ZwlrOutputPowerV1>,
    transform: Option<wl_output::Transform>,
    on: Option<bool>,
}

pub struct Wlr {
    queue: EventQueue<State>,
    state: State,
    /// Output management, for rotation; `None` where the compositor lacks it.
    outputs: Option<super::wlr_output::OutputManager>,
}

fn io(e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("Wayland: {e}"))
}

impl Wlr {
    /// Connects to `$WAYLAND_DISPLAY` and binds the power manager and the outputs.
    pub fn connect() -> Result<Self, DisplayError> {
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
        let outputs = match super::wlr_output::OutputManager::connect() {
            Ok(m) => Some(m),
            Err(e) => {
                log::info!("display: wlr output management: {e}; rotation is the compositor's configuration");
                None
            }
        };
        Ok(Self { queue, state, outputs })
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
        for o in &self.state.outputs {
            if let Some(p) = &o.power {
                p.set_mode(mode);
            }
        }
        self.queue.roundtrip(&mut self.state).map_err(io)?;
        if self.state.failed {
            return Err(DisplayError::Io("the compositor refused the power mode".into()));
        }
        // The compositor answers a mode it applied with a mode event; one that could not
        // apply it (headless sway 1.7 cannot turn its output off) stays silent.
        let unchanged = self.state.outputs.iter().filter(|o| o.on != Some(on)).count();
        if unchanged > 0 {
            return Err(DisplayError::Io(format!(
                "the compositor did not confirm the power mode for {unchanged} of {} outputs",
                self.state.outputs.len()
            )));
        }
        Ok(())
    }

    fn set_orientation(&mut self, o: Orientation) -> Result<String, DisplayError> {
        match self.outputs.as_mut() {
            Some(m) => m.set(o),
            None => Err(DisplayError::Unsupported("this compositor (no wlr output management)")),
        }
    }

    fn orientation(&mut self) -> Option<Orientation> {
        self.queue.roundtrip(&mut self.state).ok()?;
        let transform = self.state.outputs.first()?.transform?;
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
                state.outputs.retain(|o| o.name != name);
                return;
            }
            _ => return,
        };
        match interface.as_str() {
            "wl_output" => {
                let output = registry.bind::<wl_output::WlOutput, _, _>(name, version.min(2), qh, ());
                state.outputs.push(Output { name, output, power: None, transform: None, on: None });
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
        if let wl_output::Event::Geometry { transform: WEnum::Value(t), .. } = event {
            if let Some(o) = state.outputs.iter_mut().find(|o| &o.output == output) {
                o.transform = Some(t);
            }
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
