//! The built-in commands. Each is listed in `config::permissions::COMMANDS` and guarded
//! by its own permission; the router checks that before any of these run.

#[cfg(feature = "diagnostics")]
mod diagnostics;
pub mod os;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ipc::events::check_event_name;
use crate::ipc::protocol::{ErrorCode, IpcError};
use crate::ipc::router::{deliver, Ctx, Delivery, Router, SurfaceInfo, LISTENING_PRINCIPALS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyboardArgs {
    #[serde(default)]
    pad: Option<crate::keyboard::Pad>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelArgs {
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoomArgs {
    label: String,
    factor: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeArgs {
    #[serde(default)]
    level: Option<u32>,
    #[serde(default)]
    muted: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitArgs {
    event: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    to: Option<Targets>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Targets {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventArgs {
    event: String,
}

#[derive(Serialize)]
struct AppInfo {
    name: String,
    version: &'static str,
    surfaces: Vec<String>,
}

#[derive(Serialize)]
struct Emitted {
    delivered: usize,
}

pub fn register_builtins(router: &mut Router) {
    router.register("app.info", |ctx, NoArgs {}| {
        Ok(AppInfo {
            name: ctx.manifest.name.clone(),
            version: env!("CARGO_PKG_VERSION"),
            surfaces: ctx.manifest.surfaces().map(|s| s.label.clone()).collect(),
        })
    });
    router.register("window.list", |ctx, NoArgs {}| Ok::<Vec<SurfaceInfo>, _>(ctx.host.surfaces()));
    router.register("window.show", |ctx, LabelArgs { label }| set_visible(ctx, &label, true));
    router.register("window.hide", |ctx, LabelArgs { label }| set_visible(ctx, &label, false));
    router.register("window.zoom", |ctx, ZoomArgs { label, factor }| {
        let zoom = crate::config::lockdown::Zoom::new(factor).map_err(|m| IpcError::new(ErrorCode::BadArgs, m))?;
        if ctx.manifest.surface(&label).is_none() {
            return Err(IpcError::new(ErrorCode::NotFound, format!("no surface labelled '{label}'")));
        }
        ctx.host.set_zoom(&label, zoom.factor())
    });
    // For the calling surface only: a page cannot open the keyboard over another.
    router.register("keyboard.show", |ctx, KeyboardArgs { pad }| {
        ctx.host.keyboard(ctx.caller.label, crate::keyboard::Request::Show(pad))
    });
    router.register("keyboard.hide", |ctx, NoArgs {}| {
        ctx.host.keyboard(ctx.caller.label, crate::keyboard::Request::Hide)
    });
    router.register("media.volume", |ctx, VolumeArgs { level, muted }| {
        let level = match level.map(crate::volume::Change::level) {
            Some(Ok(change)) => change.level,
            Some(Err(m)) => return Err(IpcError::new(ErrorCode::BadArgs, m)),
            None => None,
        };
        ctx.host.volume(crate::volume::Change { level, muted })
    });
    router.register("event.emit", emit);
    router.register("event.listen", |ctx, EventArgs { event }| {
        check_scoped(ctx, "event.listen", &event)?;
        ctx.events.subscribe(ctx.caller.label, &event)
    });
    router.register("event.unlisten", |ctx, EventArgs { event }| {
        check_event_name(&event)?;
        ctx.events.unsubscribe(ctx.caller.label, &event);
        Ok(())
    });
    #[cfg(feature = "diagnostics")]
    diagnostics::register(router);
}

fn set_visible(ctx: &mut Ctx<'_>, label: &str, visible: bool) -> Result<(), IpcError> {
    match ctx.manifest.surface(label) {
        None => Err(IpcError::new(ErrorCode::NotFound, format!("no surface labelled '{label}'"))),
        Some(s) if s.label == ctx.manifest.main.label => Err(IpcError::new(
            ErrorCode::BadArgs,
            format!("'{label}' is the main surface; only overlays can be shown and hidden"),
        )),
        Some(_) => ctx.host.set_visible(label, visible),
    }
}

fn emit(ctx: &mut Ctx<'_>, args: EmitArgs) -> Result<Emitted, IpcError> {
    check_scoped(ctx, "event.emit", &args.event)?;
    let to = match args.to {
        None => None,
        Some(Targets::One(l)) => Some(vec![l]),
        Some(Targets::Many(v)) => Some(v),
    };
    let known = |l: &&String| ctx.manifest.surface(l).is_some() || LISTENING_PRINCIPALS.contains(&l.as_str());
    if let Some(unknown) = to.iter().flatten().find(|l| !known(l)) {
        return Err(IpcError::new(ErrorCode::NotFound, format!("no surface labelled '{unknown}'")));
    }
    let d = Delivery {
        source: ctx.caller.label,
        event: &args.event,
        payload: &args.payload,
        to: to.as_deref(),
        only_if: None,
    };
    let delivered = deliver(ctx.host, ctx.authority, ctx.events, d);
    Ok(Emitted { delivered })
}

/// The scope half of a scoped command's permission check.
fn check_scoped(ctx: &Ctx<'_>, command: &str, event: &str) -> Result<(), IpcError> {
    check_event_name(event)?;
    ctx.authority
        .check(ctx.caller.label, ctx.caller.url, command, Some(event))
        .map_err(|d| IpcError::new(ErrorCode::NotAllowed, d.0))
}
