//! JSON helpers shared by the IPC and the store.

use serde_json::Value;

/// The level of the first array or object nested deeper than `max` levels, if any (a
/// top-level array or object is level 1). Walks without recursion, so a hostile value
/// cannot overflow the stack of whichever thread checks it.
pub fn depth_beyond(value: &Value, max: usize) -> Option<usize> {
    let mut stack = vec![(value, 0usize)];
    while let Some((value, parent)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let level = parent + 1;
        if level > max {
            return Some(level);
        }
        stack.extend(children.map(|child| (child, level)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_containers_only() {
        assert_eq!(depth_beyond(&json!("a long string is level 0"), 0), None);
        assert_eq!(depth_beyond(&json!([]), 0), Some(1));
        assert_eq!(depth_beyond(&json!([[1], {"a": [2]}]), 3), None);
        assert_eq!(depth_beyond(&json!([[1], {"a": [[2]]}]), 3), Some(4));
        assert_eq!(depth_beyond(&json!({"a": {"b": "[[[[not counted]]]]"}}), 2), None);
    }
}
