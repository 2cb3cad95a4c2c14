//! Large frames are decoded, and large replies encoded, on the worker pool instead of
//! the GTK thread: serde_json on a 16 MiB frame, or serializing and base64-encoding a
//! large answer, stands the main loop still for tens of milliseconds per message,
//! and a page can send them back to back.
//!
//! Order is kept per surface: while one of its frames is being decoded, the surface's
//! later frames wait in its lane and are handled after it, in the order they came, so
//! a page's calls and emits keep their order (replies complete in any order, as
//! always). When the surface starts a new page its lane's generation changes, and work
//! finished for the old page is dropped, as a late deferred answer is.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::ipc::call::{CallResult, HttpReplyTo, Payload};
use crate::ipc::protocol::{Inbound, IpcError, Rejection};

/// Frames and replies at least this large leave the main thread.
pub const MIN_BYTES: usize = 1 << 20;

/// Work done off the main thread, on its way back to the router.
pub struct Offloaded {
    pub(crate) label: String,
    pub(crate) generation: u64,
    pub(crate) done: Done,
}

pub(crate) enum Done {
    /// A frame from the script-message handler; `bytes`: a binary call's arguments,
    /// decoded from base64 on the worker too.
    Message { url: String, frame: Result<Inbound, Rejection>, bytes: Option<Result<Vec<u8>, IpcError>> },
    /// The JSON arguments of a `fetch` call.
    Http { url: String, cmd: String, id: Option<u64>, args: Result<Value, IpcError>, reply_to: HttpReplyTo },
    /// A reply script, to evaluate in the page.
    Reply { script: String },
}

/// A frame that arrived while an earlier one of its surface was being decoded.
pub(crate) enum Queued {
    /// Large: decoded when its turn comes.
    Message {
        url: String,
        raw: String,
    },
    /// Small: decoded on arrival.
    Frame {
        url: String,
        frame: Result<Inbound, Rejection>,
    },
    Http {
        url: String,
        cmd: String,
        binary: bool,
        id: Option<u64>,
        body: Vec<u8>,
        reply_to: HttpReplyTo,
    },
}

#[derive(Default)]
pub(crate) struct Lane {
    pub generation: u64,
    /// A frame of this surface is being decoded; later ones wait.
    pub busy: bool,
    pub queue: VecDeque<Queued>,
}

/// Every surface's lane.
#[derive(Default)]
pub(crate) struct Lanes(BTreeMap<String, Lane>);

impl Lanes {
    pub fn get(&mut self, label: &str) -> &mut Lane {
        self.0.entry(label.to_string()).or_default()
    }

    pub fn generation(&self, label: &str) -> u64 {
        self.0.get(label).map_or(0, |l| l.generation)
    }

    pub fn is_busy(&self, label: &str) -> bool {
        self.0.get(label).is_some_and(|l| l.busy)
    }

    /// The surface starts a new page: what waits is the old page's; returns it.
    pub fn reset(&mut self, label: &str) -> VecDeque<Queued> {
        let lane = self.get(label);
        lane.generation += 1;
        lane.busy = false;
        std::mem::take(&mut lane.queue)
    }
}

/// Whether an answer is large enough to encode off the main thread.
pub fn is_large(result: &CallResult, min: usize) -> bool {
    match result {
        Ok(Payload::Bytes(b)) => b.len() * 4 / 3 >= min,
        Ok(Payload::Json(v)) => at_least(v, min),
        Err(_) => false,
    }
}

/// Whether `value` serializes to at least `min` bytes, roughly (escapes are not
/// counted), without serializing it: the walk stops as soon as it knows, so it costs at
/// most about `min` small steps.
pub fn at_least(value: &Value, min: usize) -> bool {
    /// Takes `n` bytes from the budget; true once it is spent.
    fn spend(budget: &mut usize, n: usize) -> bool {
        *budget = budget.saturating_sub(n);
        *budget == 0
    }
    fn walk(v: &Value, budget: &mut usize) -> bool {
        match v {
            Value::Null | Value::Bool(_) => spend(budget, 5),
            Value::Number(n) => {
                spend(budget, n.as_i64().map_or(12, |i| i.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 2))
            }
            Value::String(s) => spend(budget, s.len() + 2),
            // Brackets, and a comma after each item.
            Value::Array(items) => spend(budget, 2) || items.iter().any(|i| spend(budget, 1) || walk(i, budget)),
            Value::Object(map) => {
                spend(budget, 2) || map.iter().any(|(k, v)| spend(budget, k.len() + 4) || walk(v, budget))
            }
        }
    }
    let mut budget = min;
    min == 0 || walk(value, &mut budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sizes_are_judged_without_serializing() {
        assert!(at_least(&json!("x".repeat(100)), 100));
        assert!(!at_least(&json!("x".repeat(100)), 200));
        let many: Vec<u32> = (0..100_000).collect();
        assert!(at_least(&json!({ "n": many }), 500_000));
        assert!(is_large(&Ok(Payload::Bytes(vec![0; 3 << 20])), MIN_BYTES));
        assert!(!is_large(&Ok(Payload::Json(json!({"a": 1}))), MIN_BYTES));
        assert!(!is_large(&Err(IpcError::new(crate::ipc::ErrorCode::Internal, "x".repeat(4 << 20))), MIN_BYTES));
    }

    #[test]
    fn a_reset_starts_a_new_generation_and_hands_back_what_waited() {
        let mut lanes = Lanes::default();
        let lane = lanes.get("main");
        lane.busy = true;
        lane.queue.push_back(Queued::Message { url: String::new(), raw: "{}".into() });
        assert!(lanes.is_busy("main"));
        assert_eq!(lanes.reset("main").len(), 1);
        assert_eq!((lanes.generation("main"), lanes.is_busy("main")), (1, false));
        assert_eq!(lanes.generation("side"), 0);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 200, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The estimate never calls a value large that is less than half as large as
        /// it says, nor misses one more than twice as large.
        #[test]
        fn the_estimate_is_within_a_factor_of_two(v in json_value(), min in 1usize..4000) {
            let len = serde_json::to_string(&v).unwrap().len();
            if at_least(&v, min) {
                prop_assert!(len * 2 >= min, "{} bytes called at least {}", len, min);
            }
            if len >= min * 2 {
                prop_assert!(at_least(&v, min), "{} bytes not called at least {}", len, min);
            }
        }
    }
}
