//! What a Wayland compositor shows: each output's name and transform, as plain
//! `wl_output` says them. Every compositor has that, output management or not: under
//! cage, which turns its output only at start (see [`super::cage`]), it is how the core
//! tells that `display.rotation` holds.

use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};

use super::DisplayError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The output's name (`wl_output` 4), empty from older compositors.
    pub name: String,
    pub transform: wl_output::Transform,
}

#[derive(Default)]
struct State {
    outputs: Vec<(wl_output::WlOutput, Shown)>,
}

/// The compositor's outputs, on a short connection of its own.
pub fn outputs() -> Result<Vec<Shown>, DisplayError> {
    let io = |e: &dyn std::fmt::Display| DisplayError::Unavailable(format!("Wayland: {e}"));
    let connection = Connection::connect_to_env().map_err(|e| io(&e))?;
    let mut queue = connection.new_event_queue();
    connection.display().get_registry(&queue.handle(), ());
    let mut state = State::default();
    // The globals, then each output's events up to its `done`.
    for _ in 0..2 {
        queue.roundtrip(&mut state).map_err(|e| io(&e))?;
    }
    Ok(state.outputs.into_iter().map(|(_, s)| s).collect())
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
            if interface == "wl_output" {
                let output = registry.bind::<wl_output::WlOutput, _, _>(name, version.min(4), qh, ());
                state.outputs.push((output, Shown { name: String::new(), transform: wl_output::Transform::Normal }));
            }
        }
    }
}

impl Dispatch<wl_output::WlOutput, ()> for State {
    fn event(
        state: &mut Self,
        proxy: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some((_, shown)) = state.outputs.iter_mut().find(|(o, _)| o == proxy) else { return };
        match event {
            wl_output::Event::Name { name } => shown.name = name,
            wl_output::Event::Geometry { transform: WEnum::Value(t), .. } => shown.transform = t,
            _ => {}
        }
    }
}
