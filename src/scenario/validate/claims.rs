//! Claims: each `[[expect]]` table is one claim kind with its modifiers.

use super::fields::{string, strings, type_of};
use super::raw::{RValue, RawMap};
use super::{Ctx, did_you_mean};
use crate::scenario::expr;
use crate::scenario::model::{Bound, Claim, ClaimKind, Count, Ending, Property, TaskEnd};
use crate::time::Duration;
use toml::Spanned;

/// Claim keys: the main key of each claim kind, then modifiers.
pub(super) const CLAIM_KEYS: &[&str] = &[
    "elapsed",
    "elapsed_at_most",
    "elapsed_at_least",
    "elapsed_between",
    "output",
    "order",
    "printed",
    "task",
    "max_concurrent",
    "outcome",
    "faster",
    "holds",
    "latency",
    "errors",
    "warns",
    "no_warnings",
    "messages",
    "message_latency",
    "reconnects_within",
];

pub(super) const CLAIM_MODIFIERS: &[&str] = &[
    "variant",
    "seeds",
    "note",
    "at",
    "at_most",
    "at_least",
    "ends",
    "error",
    "is",
    "than",
    "ratio_at_least",
    "k",
    "name",
    "percentile",
    "between",
    "kind",
];

pub(super) fn claim(
    cx: &mut Ctx<'_>,
    raw: &RawMap,
    variants: &[String],
    resources: &[String],
) -> Option<Claim> {
    let at = raw.span().start;
    let map = raw.get_ref();
    let line = cx.line(at);
    for (k, v) in map {
        if !CLAIM_KEYS.contains(&k.as_str()) && !CLAIM_MODIFIERS.contains(&k.as_str()) {
            let hint = did_you_mean(k, CLAIM_KEYS.iter().chain(CLAIM_MODIFIERS).copied());
            cx.err(v.span().start, format!("unknown claim key `{k}`"), hint);
            return None;
        }
    }
    let mut mains: Vec<&String> = map
        .keys()
        .filter(|k| CLAIM_KEYS.contains(&k.as_str()))
        .collect();
    // `faster` compares latency percentiles with `latency = "api"`.
    if map.contains_key("faster") {
        mains.retain(|k| *k != "latency");
    }
    let main = match mains.as_slice() {
        [m] => m.as_str(),
        [] => {
            cx.err(
                at,
                format!("a claim needs one of: {}", CLAIM_KEYS.join(", ")),
                None,
            );
            return None;
        }
        many => {
            let list: Vec<String> = many.iter().map(|m| format!("`{m}`")).collect();
            cx.err(
                at,
                format!(
                    "one claim per `[[expect]]`, this one has {}",
                    list.join(" and ")
                ),
                None,
            );
            return None;
        }
    };
    let get = |k: &str| map.get(k);
    let dur = duration;
    let bound = |cx: &mut Ctx<'_>| -> Option<Option<Bound>> {
        Some(match (get("at"), get("at_most"), get("at_least")) {
            (None, None, None) => None,
            (Some(a), None, None) => Some(Bound::Exact(dur(cx, a)?)),
            (None, Some(a), None) => Some(Bound::AtMost(dur(cx, a)?)),
            (None, None, Some(a)) => Some(Bound::AtLeast(dur(cx, a)?)),
            _ => {
                cx.err(at, "give one of `at`, `at_most`, `at_least`", None);
                return None;
            }
        })
    };
    let lines = |cx: &mut Ctx<'_>, v: &Spanned<RValue>| strings(cx, v, "lines of text", false);
    let v = &map[main];
    let kind = match main {
        "elapsed" => ClaimKind::Elapsed(Bound::Exact(dur(cx, v)?)),
        "elapsed_at_most" => ClaimKind::Elapsed(Bound::AtMost(dur(cx, v)?)),
        "elapsed_at_least" => ClaimKind::Elapsed(Bound::AtLeast(dur(cx, v)?)),
        "elapsed_between" => {
            let RValue::Array(items) = v.get_ref() else {
                cx.err(v.span().start, "expected [\"low\", \"high\"]", None);
                return None;
            };
            let ds: Vec<Duration> = items
                .iter()
                .filter_map(|i| match i.get_ref() {
                    RValue::Str(s) => expr::parse_duration(s).ok(),
                    _ => None,
                })
                .collect();
            match ds.as_slice() {
                [lo, hi] if lo <= hi => ClaimKind::Elapsed(Bound::Between(*lo, *hi)),
                _ => {
                    cx.err(
                        v.span().start,
                        "expected [\"low\", \"high\"] durations with low <= high",
                        None,
                    );
                    return None;
                }
            }
        }
        "output" => ClaimKind::Output(lines(cx, v)?),
        "order" => {
            let l = lines(cx, v)?;
            if l.len() < 2 {
                cx.err(v.span().start, "`order` needs at least two lines", None);
                return None;
            }
            ClaimKind::Order(l)
        }
        "printed" => {
            let line = string(cx, v, "a printed line")?;
            let Some(at) = bound(cx)? else {
                cx.err(
                    v.span().start,
                    "`printed` needs `at`, `at_most` or `at_least`",
                    None,
                );
                return None;
            };
            ClaimKind::PrintedAt { line, at }
        }
        "task" => {
            let task = string(cx, v, "a task name")?;
            let how = match get("ends") {
                None => None,
                Some(e) => match string(cx, e, "returned, raised or cancelled")?.as_str() {
                    "returned" => Some(TaskEnd::Returned),
                    "cancelled" => Some(TaskEnd::Cancelled),
                    "raised" => {
                        let Some(k) = get("error") else {
                            cx.err(
                                e.span().start,
                                "`ends = \"raised\"` needs `error = \"Kind\"`",
                                None,
                            );
                            return None;
                        };
                        Some(TaskEnd::Raised(
                            crate::scenario::exceptions::canonical(&string(
                                cx,
                                k,
                                "an exception class",
                            )?)
                            .to_string(),
                        ))
                    }
                    other => {
                        let hint = did_you_mean(other, ["returned", "raised", "cancelled"]);
                        cx.err(
                            e.span().start,
                            format!("unknown ending `{other}`: returned, raised or cancelled"),
                            hint,
                        );
                        return None;
                    }
                },
            };
            let at = bound(cx)?;
            if how.is_none() && at.is_none() {
                cx.err(
                    v.span().start,
                    "a `task` claim needs `ends` and/or `at`",
                    None,
                );
                return None;
            }
            ClaimKind::TaskEnds { task, at, how }
        }
        "max_concurrent" => {
            let section = string(cx, v, "a section or primitive name")?;
            let count = count(cx, v, &get, None, "max_concurrent")?;
            ClaimKind::MaxConcurrent { section, count }
        }
        "outcome" => {
            let o = string(cx, v, "an outcome")?;
            ClaimKind::RunEnds(match o.as_str() {
                "completed" => Ending::Completed,
                "failed" => Ending::Failed(match get("error") {
                    Some(e) => Some(
                        crate::scenario::exceptions::canonical(&string(
                            cx,
                            e,
                            "an exception class",
                        )?)
                        .to_string(),
                    ),
                    None => None,
                }),
                "deadlock" => Ending::Deadlock,
                "limit_exceeded" => Ending::LimitExceeded,
                other => {
                    let known = ["completed", "failed", "deadlock", "limit_exceeded"];
                    cx.err(
                        v.span().start,
                        format!("unknown outcome `{other}`: {}", known.join(", ")),
                        did_you_mean(other, known),
                    );
                    return None;
                }
            })
        }
        "faster" => {
            let faster = string(cx, v, "a variant name")?;
            let Some(than) = get("than") else {
                cx.err(v.span().start, "`faster` needs `than = \"variant\"`", None);
                return None;
            };
            let slower = string(cx, than, "a variant name")?;
            for (name, sp) in [(&faster, v), (&slower, than)] {
                if !variants.contains(name) {
                    cx.err(
                        sp.span().start,
                        format!("unknown variant `{name}`"),
                        did_you_mean(name, variants.iter().map(String::as_str)),
                    );
                    return None;
                }
            }
            let ratio = match get("ratio_at_least") {
                None => None,
                Some(r) => match r.get_ref() {
                    RValue::Float(f) if *f > 0.0 => Some(*f),
                    RValue::Int(i) if *i > 0 => Some(*i as f64),
                    other => {
                        cx.err(
                            r.span().start,
                            format!("expected a positive number, found {}", type_of(other)),
                            None,
                        );
                        return None;
                    }
                },
            };
            let latency = match get("latency") {
                Some(l) => {
                    let r = known_resource(cx, l, resources)?;
                    Some((r, percentile(cx, l, get("percentile"))?))
                }
                None => None,
            };
            ClaimKind::Faster {
                faster,
                slower,
                ratio_at_least: ratio,
                latency,
            }
        }
        "holds" => ClaimKind::Holds(property(cx, v, &get)?),
        "latency" => {
            let resource = known_resource(cx, v, resources)?;
            let p = percentile(cx, v, get("percentile"))?;
            let bound = duration_bound(cx, v, &get, "latency")?;
            ClaimKind::Latency {
                resource,
                percentile: p,
                bound,
            }
        }
        "messages" => {
            use crate::checks::MessageFate;
            let fate = match string(cx, v, "sent, delivered or lost")?.as_str() {
                "sent" => MessageFate::Sent,
                "delivered" => MessageFate::Delivered,
                "lost" => MessageFate::Lost,
                other => {
                    cx.err(
                        v.span().start,
                        format!("`messages = {other:?}`: count \"sent\", \"delivered\" or \"lost\" messages"),
                        did_you_mean(other, ["sent", "delivered", "lost"]),
                    );
                    return None;
                }
            };
            let count = count(cx, v, &get, None, "messages")?;
            ClaimKind::Messages { fate, count }
        }
        "reconnects_within" => ClaimKind::ReconnectsWithin(dur(cx, v)?),
        "message_latency" => {
            let p = percentile(cx, v, Some(v))?;
            let bound = duration_bound(cx, v, &get, "message_latency")?;
            ClaimKind::MessageLatency {
                percentile: p,
                bound,
            }
        }
        "warns" => {
            let kind = string(cx, v, "a warning's kind")?;
            if !crate::trace::Warning::NAMES.contains(&kind.as_str()) {
                cx.err(
                    v.span().start,
                    format!(
                        "unknown warning `{kind}`: {}",
                        crate::trace::Warning::NAMES.join(", ")
                    ),
                    did_you_mean(&kind, crate::trace::Warning::NAMES),
                );
                return None;
            }
            let count = count(cx, v, &get, Some(Count::AtLeast(1)), "warns")?;
            ClaimKind::Warns {
                kind: Some(kind),
                count,
            }
        }
        "no_warnings" => match v.get_ref() {
            RValue::Bool(true) => ClaimKind::Warns {
                kind: None,
                count: Count::Exact(0),
            },
            _ => {
                cx.err(
                    v.span().start,
                    "`no_warnings` is `true` (for warnings that must occur: `warns = \"slow_step\"`)",
                    None,
                );
                return None;
            }
        },
        "errors" => {
            let resource = known_resource(cx, v, resources)?;
            let count = count(cx, v, &get, None, "errors")?;
            let kind = match get("kind") {
                Some(k) => Some(
                    crate::scenario::exceptions::canonical(&string(cx, k, "an exception class")?)
                        .to_string(),
                ),
                None => None,
            };
            ClaimKind::Errors {
                resource,
                kind,
                count,
            }
        }
        _ => unreachable!("claim keys and match agree"),
    };
    let variant = match get("variant") {
        None => None,
        Some(v) => {
            let name = string(cx, v, "a variant name")?;
            if !variants.contains(&name) {
                let hint = did_you_mean(&name, variants.iter().map(String::as_str));
                cx.err(v.span().start, format!("unknown variant `{name}`"), hint);
                return None;
            }
            Some(name)
        }
    };
    let seeds = match get("seeds") {
        None => None,
        Some(s) => {
            let text = string(cx, s, "a seed range like \"0..100\"")?;
            let parsed = text.split_once("..").and_then(|(a, b)| {
                Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
            });
            match parsed {
                Some((a, b)) if a < b && b - a <= 100_000 => Some((a, b)),
                _ => {
                    cx.err(s.span().start, format!("bad seed range `{text}`: write \"start..end\" with start < end (at most 100000 seeds)"), None);
                    return None;
                }
            }
        }
    };
    // Modifiers that do not belong to this claim kind.
    let allowed: &[&str] = match main {
        "printed" => &["at", "at_most", "at_least"],
        "task" => &["at", "at_most", "at_least", "ends", "error"],
        "max_concurrent" => &["is", "at_most", "at_least"],
        "outcome" => &["error"],
        "faster" => &["than", "ratio_at_least", "latency", "percentile"],
        "latency" => &["percentile", "is", "at_most", "at_least", "between"],
        "errors" => &["kind", "is", "at_most", "at_least"],
        "warns" => &["is", "at_most", "at_least"],
        "messages" => &["is", "at_most", "at_least"],
        "message_latency" => &["is", "at_most", "at_least", "between"],
        "holds" => &["k", "name"],
        _ => &[],
    };
    for (k, v) in map {
        let k = k.as_str();
        if k != main && !["variant", "seeds", "note"].contains(&k) && !allowed.contains(&k) {
            cx.err(
                v.span().start,
                format!("`{k}` does not go with `{main}`"),
                None,
            );
            return None;
        }
    }
    if matches!(kind, ClaimKind::Faster { .. }) && variant.is_some() {
        cx.err(
            at,
            "a `faster` claim compares variants: drop `variant`",
            None,
        );
        return None;
    }
    Some(Claim {
        line,
        kind,
        variant,
        seeds,
        note: match get("note") {
            Some(n) => Some(string(cx, n, "a note")?),
            None => None,
        },
    })
}

/// A count bound from `is`, `at_most` or `at_least` (one of them; or
/// `default` when none is given and a default exists).
fn count<'a>(
    cx: &mut Ctx<'_>,
    v: &Spanned<RValue>,
    get: &dyn Fn(&str) -> Option<&'a Spanned<RValue>>,
    default: Option<Count>,
    claim: &str,
) -> Option<Count> {
    let n = |cx: &mut Ctx<'_>, v: &Spanned<RValue>| match v.get_ref() {
        RValue::Int(i) if *i >= 0 => Some(*i as u64),
        other => {
            cx.err(
                v.span().start,
                format!("expected a count (0 or more), found {}", type_of(other)),
                None,
            );
            None
        }
    };
    match (get("is"), get("at_most"), get("at_least"), default) {
        (None, None, None, Some(d)) => Some(d),
        (Some(x), None, None, _) => Some(Count::Exact(n(cx, x)?)),
        (None, Some(x), None, _) => Some(Count::AtMost(n(cx, x)?)),
        (None, None, Some(x), _) => Some(Count::AtLeast(n(cx, x)?)),
        _ => {
            cx.err(
                v.span().start,
                format!("`{claim}` needs one of `is`, `at_most`, `at_least`"),
                None,
            );
            None
        }
    }
}

/// A claim's duration (`"3s"`), with its error at its place.
fn duration(cx: &mut Ctx<'_>, v: &Spanned<RValue>) -> Option<Duration> {
    let s = string(cx, v, "a duration like \"3s\"")?;
    match expr::parse_duration(&s) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err(v.span().start, format!("bad duration: {e}"), None);
            None
        }
    }
}

/// A duration bound from `is`, `at_most`, `at_least` or `between`
/// (exactly one).
fn duration_bound<'a>(
    cx: &mut Ctx<'_>,
    v: &Spanned<RValue>,
    get: &dyn Fn(&str) -> Option<&'a Spanned<RValue>>,
    claim: &str,
) -> Option<Bound> {
    let dur = duration;
    Some(
        match (get("is"), get("at_most"), get("at_least"), get("between")) {
            (Some(x), None, None, None) => Bound::Exact(dur(cx, x)?),
            (None, Some(x), None, None) => Bound::AtMost(dur(cx, x)?),
            (None, None, Some(x), None) => Bound::AtLeast(dur(cx, x)?),
            (None, None, None, Some(x)) => {
                let pair = match x.get_ref() {
                    RValue::Array(items) if items.len() == 2 => {
                        (dur(cx, &items[0])?, dur(cx, &items[1])?)
                    }
                    _ => {
                        cx.err(x.span().start, "expected [\"low\", \"high\"]", None);
                        return None;
                    }
                };
                if pair.0 > pair.1 {
                    cx.err(x.span().start, "`between` needs low <= high", None);
                    return None;
                }
                Bound::Between(pair.0, pair.1)
            }
            _ => {
                cx.err(
                    v.span().start,
                    format!(
                        "`{claim}` needs one of `is`, `at_most`, `at_least`, `between` (durations)"
                    ),
                    None,
                );
                return None;
            }
        },
    )
}

/// A service or pool the scenario declares (or `threads`, the default
/// thread pool of `to_thread`).
fn known_resource(cx: &mut Ctx<'_>, v: &Spanned<RValue>, resources: &[String]) -> Option<String> {
    let name = string(cx, v, "a service or pool name")?;
    if !resources.contains(&name) {
        let hint = did_you_mean(&name, resources.iter().map(String::as_str)).or_else(|| {
            Some("name a service of `[services]`, a pool of `[pools]`, or `threads` (the pool of `to_thread`)".to_string())
        });
        cx.err(
            v.span().start,
            format!("unknown service or pool `{name}`"),
            hint,
        );
        return None;
    }
    Some(name)
}

/// `percentile = 99`: a number in (0, 100].
fn percentile(cx: &mut Ctx<'_>, at: &Spanned<RValue>, v: Option<&Spanned<RValue>>) -> Option<f64> {
    let Some(v) = v else {
        cx.err(
            at.span().start,
            "a latency claim needs `percentile = 50` (or 99, …)",
            None,
        );
        return None;
    };
    let p = match v.get_ref() {
        RValue::Int(i) => *i as f64,
        RValue::Float(f) => *f,
        _ => f64::NAN,
    };
    if p > 0.0 && p <= 100.0 {
        Some(p)
    } else {
        cx.err(
            v.span().start,
            "`percentile` is a number above 0 and at most 100",
            None,
        );
        None
    }
}

/// `holds = "bounded_wait"`, `k = 1`: a schedule property, with the
/// modifier it needs (and no other).
fn property<'a>(
    cx: &mut Ctx<'_>,
    v: &Spanned<RValue>,
    get: &dyn Fn(&str) -> Option<&'a Spanned<RValue>>,
) -> Option<Property> {
    let name = string(cx, v, "a property name")?;
    let Some((_, needs)) = Property::NAMES.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = Property::NAMES.iter().map(|(n, _)| *n).collect();
        cx.err(
            v.span().start,
            format!("unknown property `{name}`: {}", known.join(", ")),
            did_you_mean(&name, known.iter().copied()),
        );
        return None;
    };
    for m in ["k", "name"] {
        if get(m).is_some() && *needs != Some(m) {
            cx.err(
                get(m).map_or(v.span().start, |x| x.span().start),
                format!("`{m}` does not apply to `holds = \"{name}\"`"),
                None,
            );
            return None;
        }
    }
    let k = |cx: &mut Ctx<'_>| -> Option<u64> {
        let Some(x) = get("k") else {
            cx.err(
                v.span().start,
                format!(
                    "`holds = \"{name}\"` needs `k`, a number of loop iterations (e.g. `k = 1`)"
                ),
                None,
            );
            return None;
        };
        match x.get_ref() {
            RValue::Int(i) if *i >= 0 => Some(*i as u64),
            other => {
                cx.err(
                    x.span().start,
                    format!(
                        "`k` is a count of iterations (0 or more), found {}",
                        type_of(other)
                    ),
                    None,
                );
                None
            }
        }
    };
    Some(match name.as_str() {
        "deadline_order" => Property::DeadlineOrder,
        "equal_deadline_fifo" => Property::EqualDeadlineFifo,
        "ready_fifo" => Property::ReadyFifo,
        "bounded_wait" => Property::BoundedWait(k(cx)?),
        "timeout_delivered" => Property::TimeoutDelivered(k(cx)?),
        "first_come_first_served" => {
            let Some(n) = get("name") else {
                cx.err(
                    v.span().start,
                    "`holds = \"first_come_first_served\"` needs `name`, the lock's or semaphore's",
                    None,
                );
                return None;
            };
            Property::FirstComeFirstServed(string(cx, n, "a primitive's name")?)
        }
        "nothing_pending" => Property::NothingPending,
        "well_formed" => Property::WellFormed,
        "no_delivery_across_partition" => Property::NoDeliveryAcrossPartition,
        _ => unreachable!("names and match agree"),
    })
}
