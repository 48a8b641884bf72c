//! Stage one: serde structs that mirror the file (`deny_unknown_fields`),
//! keeping the span of every value for messages.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub(super) type RawMap = Spanned<BTreeMap<String, Spanned<RValue>>>;

/// A TOML value that keeps the span of every nested value (`toml::Value`
/// drops them), so messages point at the exact nested step.
#[derive(Clone, Debug)]
pub(crate) enum RValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date,
    Array(Vec<Spanned<RValue>>),
    Table(BTreeMap<String, Spanned<RValue>>),
}

impl<'de> Deserialize<'de> for RValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_str<E>(self, v: &str) -> Result<RValue, E> {
                Ok(RValue::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RValue, E> {
                Ok(RValue::Str(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RValue, E> {
                Ok(RValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RValue, E> {
                i64::try_from(v)
                    .map(RValue::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RValue, E> {
                Ok(RValue::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<RValue, E> {
                Ok(RValue::Bool(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<RValue>>()? {
                    out.push(v);
                }
                Ok(RValue::Array(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RValue, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if k.starts_with("$__toml_private") {
                        let _ = map.next_value::<serde::de::IgnoredAny>()?;
                        return Ok(RValue::Date);
                    }
                    let v = map.next_value::<Spanned<RValue>>()?;
                    out.insert(k, v);
                }
                Ok(RValue::Table(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Option<Spanned<String>>,
    pub(super) title: Option<Spanned<String>>,
    pub(super) source: Option<Spanned<String>>,
    pub(super) description: Option<Spanned<String>>,
    pub(super) seed: Option<Spanned<i64>>,
    pub(super) model: Option<Spanned<String>>,
    pub(super) python: Option<Spanned<String>>,
    pub(super) eager_tasks: Option<Spanned<bool>>,
    pub(super) step_overhead: Option<Spanned<String>>,
    pub(super) main: Option<Spanned<String>>,
    pub(super) limits: Option<Spanned<RawLimits>>,
    #[serde(default)]
    pub(super) coroutines: BTreeMap<String, Spanned<RawCoroutine>>,
    #[serde(default)]
    pub(super) contexts: BTreeMap<String, Spanned<RawContext>>,
    #[serde(default)]
    pub(super) primitives: BTreeMap<String, Spanned<RawPrimitive>>,
    #[serde(default)]
    pub(super) services: BTreeMap<String, Spanned<RawService>>,
    #[serde(default)]
    pub(super) pools: BTreeMap<String, Spanned<RawPool>>,
    pub(super) network: Option<Spanned<RawNetwork>>,
    pub(super) cpus: Option<Spanned<i64>>,
    pub(super) gil: Option<Spanned<bool>>,
    pub(super) switch_interval: Option<Spanned<String>>,
    pub(super) slow_callback_duration: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) variants: Vec<Spanned<RawVariant>>,
    #[serde(default)]
    pub(super) expect: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) latency: Spanned<String>,
    pub(super) capacity: Option<Spanned<i64>>,
    pub(super) queue_limit: Option<Spanned<i64>>,
    pub(super) error_rate: Option<Spanned<f64>>,
    pub(super) error: Option<Spanned<String>>,
    pub(super) slowdown: Option<Spanned<f64>>,
    pub(super) rate_limit: Option<Spanned<RawRateLimit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    pub(super) per_second: Spanned<f64>,
    pub(super) burst: Option<Spanned<i64>>,
    pub(super) on_excess: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub(super) latency: Option<Spanned<String>>,
    pub(super) bandwidth: Option<Spanned<i64>>,
    pub(super) loss: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) links: Vec<Spanned<RawLink>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub(super) between: Spanned<Vec<String>>,
    pub(super) latency: Option<Spanned<String>>,
    pub(super) bandwidth: Option<Spanned<i64>>,
    pub(super) loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) kind: Spanned<String>,
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) startup: Option<Spanned<String>>,
    pub(super) transfer: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_time: Option<Spanned<String>>,
    pub(super) max_steps: Option<Spanned<i64>>,
    pub(super) max_tasks: Option<Spanned<i64>>,
    pub(super) max_call_depth: Option<Spanned<i64>>,
    pub(super) max_output_lines: Option<Spanned<i64>>,
    pub(super) max_output_bytes: Option<Spanned<i64>>,
    pub(super) max_value_len: Option<Spanned<i64>>,
    pub(super) max_trace_events: Option<Spanned<i64>>,
}

impl RawLimits {
    /// The counting limits given, by key.
    pub(super) fn counts(&self) -> [(&'static str, &Option<Spanned<i64>>); 7] {
        [
            ("max_steps", &self.max_steps),
            ("max_tasks", &self.max_tasks),
            ("max_trace_events", &self.max_trace_events),
            ("max_call_depth", &self.max_call_depth),
            ("max_output_lines", &self.max_output_lines),
            ("max_output_bytes", &self.max_output_bytes),
            ("max_value_len", &self.max_value_len),
        ]
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCoroutine {
    #[serde(default)]
    pub(super) params: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) steps: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContext {
    #[serde(default)]
    pub(super) params: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) enter: Vec<RawMap>,
    #[serde(default)]
    pub(super) exit: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrimitive {
    pub(super) kind: Spanned<String>,
    pub(super) value: Option<Spanned<i64>>,
    pub(super) maxsize: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: Spanned<String>,
    pub(super) main: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) args: Vec<Spanned<RValue>>,
    pub(super) description: Option<Spanned<String>>,
    pub(super) seed: Option<Spanned<i64>>,
    pub(super) model: Option<Spanned<String>>,
    pub(super) python: Option<Spanned<String>>,
    pub(super) eager_tasks: Option<Spanned<bool>>,
    pub(super) step_overhead: Option<Spanned<String>>,
}
