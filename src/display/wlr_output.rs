//! wlroots' output management (`zwlr_output_manager_v1`): the output's transform,
//! set at start (`display.rotation`, `flipped`) and at run time, and where the kiosk's
//! output is, on the display thread's Wayland connection (`wlr.rs`'s, with an event
//! queue of its own).
//!
//! Touch follows by itself on wlroots: the compositor maps a touch screen to its output
//! and applies the output's transform to touch points, so nothing is set per device.
//! The kiosk's output is `display.output` by name while the compositor has it enabled,
//! else the first enabled head (or the first head); a configuration names every head
//! (the others as they are), as the protocol asks.

use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{event_created_child, Connection, Dispatch, EventQueue, QueueHandle};
use wayland_protocols_wlr::output_management::v1::client::{
    zwlr_output_configuration_head_v1::ZwlrOutputConfigurationHeadV1,
    zwlr_output_configuration_v1::{self, ZwlrOutputConfigurationV1},
    zwlr_output_head_v1::{self, ZwlrOutputHeadV1},
    zwlr_output_manager_v1::{self, ZwlrOutputManagerV1},
    zwlr_output_mode_v1::ZwlrOutputModeV1,
};

use super::{DisplayError, Orientation};

#[derive(Default)]
struct State {
    manager: Option<ZwlrOutputManagerV1>,
    heads: Vec<Head>,
    serial: Option<u32>,
    /// The answer to the last configuration: `Some(true)` applied.
    applied: Option<Result<(), &'static str>>,
}

struct Head {
    head: ZwlrOutputHeadV1,
    name: String,
    enabled: bool,
}

pub struct OutputManager {
    queue: EventQueue<State>,
    state: State,
    /// `display.output`.
    wanted: Option<String>,
}

fn io(e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("Wayland output management: {e}"))
}

/// The `wl_output` transform for a clockwise rotation (wl_output counts the other way).
pub fn transform(o: Orientation) -> Option<wl_output::Transform> {
    use wl_output::Transform as T;
    Some(match (o.rotation, o.flipped) {
        (0, false) => T::Normal,
        (90, false) => T::_270,
        (180, false) => T::_180,
        (270, false) => T::_90,
        (0, true) => T::Flipped,
        (90, true) => T::Flipped270,
        (180, true) => T::Flipped180,
        (270, true) => T::Flipped90,
        _ => return None,
    })
}

impl OutputManager {
    pub fn connect(connection: &Connection, wanted: Option<String>) -> Result<Self, DisplayError> {
        let mut queue = connection.new_event_queue();
        let qh = queue.handle();
        connection.display().get_registry(&qh, ());
        let mut state = State::default();
        queue.roundtrip(&mut state).map_err(io)?;
        if state.manager.is_none() {
            return Err(DisplayError::Unavailable("the compositor has no wlr output management".into()));
        }
        // The heads and their properties, then `done` with the serial.
        queue.roundtrip(&mut state).map_err(io)?;
        Ok(Self { queue, state, wanted })
    }

    /// The kiosk's head: the wanted one while the compositor has it (enabled or not:
    /// headless sway 1.7 calls every output disabled while it shows it), else the first
    /// enabled, else the first.
    fn target(&self) -> Option<usize> {
        let heads = &self.state.heads;
        self.wanted
            .as_deref()
            .and_then(|w| heads.iter().position(|h| h.name == w))
            .or_else(|| heads.iter().position(|h| h.enabled))
            .or((!heads.is_empty()).then_some(0))
    }

    /// Sets the kiosk's output to `o`; answers once the compositor applied it.
    pub fn set(&mut self, o: Orientation) -> Result<String, DisplayError> {
        let t = transform(o).ok_or_else(|| io(format!("{}° is not a quarter turn", o.rotation)))?;
        self.queue.roundtrip(&mut self.state).map_err(io)?;
        let (Some(manager), Some(serial)) = (self.state.manager.clone(), self.state.serial) else {
            return Err(io("the compositor has not described its outputs"));
        };
        let Some(target) = self.target() else { return Err(io("the compositor reports no output")) };
        let qh = self.queue.handle();
        let config = manager.create_configuration(serial, &qh, ());
        for (i, h) in self.state.heads.iter().enumerate() {
            if h.enabled || i == target {
                let head = config.enable_head(&h.head, &qh, ());
                if i == target {
                    head.set_transform(t);
                }
            } else {
                config.disable_head(&h.head);
            }
        }
        config.apply();
        self.state.applied = None;
        for _ in 0..50 {
            self.queue.roundtrip(&mut self.state).map_err(io)?;
            if self.state.applied.is_some() {
                break;
            }
        }
        config.destroy();
        let name = self.state.heads.get(target).map(|h| h.name.clone()).unwrap_or_default();
        match self.state.applied.take() {
            Some(Ok(())) => Ok(name),
            Some(Err(why)) => Err(io(format!("output {name}: the compositor {why} the configuration"))),
            None => Err(io("the compositor did not answer the configuration")),
        }
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
        if let wl_registry::Event::Global { name, interface, version } = event {
            if interface == "zwlr_output_manager_v1" {
                state.manager = Some(registry.bind::<ZwlrOutputManagerV1, _, _>(name, version.min(2), qh, ()));
            }
        }
    }
}

impl Dispatch<ZwlrOutputManagerV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrOutputManagerV1,
        event: zwlr_output_manager_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_output_manager_v1::Event::Head { head } => {
                state.heads.push(Head { head, name: String::new(), enabled: false });
            }
            zwlr_output_manager_v1::Event::Done { serial } => state.serial = Some(serial),
            zwlr_output_manager_v1::Event::Finished => state.manager = None,
            _ => {}
        }
    }

    event_created_child!(State, ZwlrOutputManagerV1, [
        zwlr_output_manager_v1::EVT_HEAD_OPCODE => (ZwlrOutputHeadV1, ()),
    ]);
}

impl Dispatch<ZwlrOutputHeadV1, ()> for State {
    fn event(
        state: &mut Self,
        proxy: &ZwlrOutputHeadV1,
        event: zwlr_output_head_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(h) = state.heads.iter_mut().find(|h| &h.head == proxy) else { return };
        match event {
            zwlr_output_head_v1::Event::Name { name } => h.name = name,
            zwlr_output_head_v1::Event::Enabled { enabled } => h.enabled = enabled != 0,
            zwlr_output_head_v1::Event::Finished => state.heads.retain(|h| &h.head != proxy),
            _ => {}
        }
    }

    event_created_child!(State, ZwlrOutputHeadV1, [
        zwlr_output_head_v1::EVT_MODE_OPCODE => (ZwlrOutputModeV1, ()),
    ]);
}

impl Dispatch<ZwlrOutputModeV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwlrOutputModeV1,
        _: <ZwlrOutputModeV1 as wayland_client::Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrOutputConfigurationV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrOutputConfigurationV1,
        event: zwlr_output_configuration_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.applied = match event {
            zwlr_output_configuration_v1::Event::Succeeded => Some(Ok(())),
            zwlr_output_configuration_v1::Event::Failed => Some(Err("refused")),
            zwlr_output_configuration_v1::Event::Cancelled => Some(Err("cancelled (the outputs changed meanwhile)")),
            _ => return,
        };
    }
}

impl Dispatch<ZwlrOutputConfigurationHeadV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwlrOutputConfigurationHeadV1,
        _: <ZwlrOutputConfigurationHeadV1 as wayland_client::Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clockwise_quarter_turns_are_wl_output_transforms_the_other_way() {
        let t = |rotation, flipped| transform(Orientation { rotation, flipped });
        assert_eq!(t(90, false), Some(wl_output::Transform::_270));
        assert_eq!(t(270, false), Some(wl_output::Transform::_90));
        assert_eq!(t(180, true), Some(wl_output::Transform::Flipped180));
        assert_eq!(t(45, false), None);
    }
}
