//! The argument fields a command's type declares, read from its `Deserialize` impl.
//!
//! The router records them at registration so that the README's command table can be
//! held against what the code takes (`tests/readme.rs`): a renamed field cannot leave
//! the table behind. The probe is a deserializer that answers nothing and only notes
//! the field list serde's derive hands to `deserialize_struct`.

use serde::de::{self, Deserialize, Visitor};

/// What a command's arguments look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgShape {
    /// An object with exactly these fields (unknown fields are refused).
    Fields(Vec<&'static str>),
    /// Any value: the command reads the raw arguments itself, or takes any JSON.
    Any,
}

/// The shape `A` deserializes from.
pub fn of<'de, A: Deserialize<'de>>() -> ArgShape {
    let mut fields = None;
    let _ = A::deserialize(Probe(&mut fields));
    match fields {
        Some(f) => ArgShape::Fields(f.to_vec()),
        None => ArgShape::Any,
    }
}

struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("probed"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        a: u8,
        #[serde(rename = "as")]
        kind: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct NoArgs {}

    #[test]
    fn reads_renamed_fields_and_sees_through_nothing_else() {
        assert_eq!(of::<Two>(), ArgShape::Fields(vec!["a", "as"]));
        assert_eq!(of::<NoArgs>(), ArgShape::Fields(vec![]));
        assert_eq!(of::<serde_json::Value>(), ArgShape::Any);
        assert_eq!(of::<Vec<u8>>(), ArgShape::Any);
    }
}
