//! The simulated world's declarations: `[services.<name>]`, `[pools.<name>]`
//! and the machine (`cpus`, `gil`, `switch_interval`).

use super::Ctx;
use super::fields::duration_field;
use super::raw::{RawLink, RawNetwork, RawPool, RawScenario, RawService};
use super::text::is_ident;
use crate::io::{Latency, Machine, OnExcess, RateLimit, ServiceConfig};
use crate::scenario::expr::{self, Expr};
use crate::scenario::model::Pool;
use crate::time::Duration;
use std::collections::BTreeMap;
use toml::Spanned;

/// The most services or pools a scenario may declare.
pub const MAX_RESOURCES: usize = 100;
/// The most workers a pool may have, and the most cores.
pub const MAX_WORKERS: i64 = 10_000;
/// The longest service time a latency may name.
const MAX_LATENCY: Duration = Duration::from_secs(365 * 24 * 3600);

const LATENCY_HINT: &str = "a duration like \"200ms\", or uniform(a, b), normal(mean, std), exponential(mean), lognormal(median, sigma) with durations (and sigma a number)";

/// `cpus`, `gil` and `switch_interval`.
pub(super) fn machine(cx: &mut Ctx<'_>, raw: &RawScenario) -> Machine {
    let mut m = Machine::default();
    if let Some(c) = &raw.cpus {
        match *c.get_ref() {
            n @ 1..=MAX_WORKERS => m.cpus = n as usize,
            n => cx.err(
                c.span().start,
                format!("`cpus` must be between 1 and {MAX_WORKERS}, not {n}"),
                None,
            ),
        }
    }
    if let Some(g) = &raw.gil {
        m.gil = *g.get_ref();
    }
    if let Some(s) = &raw.switch_interval
        && let Some(d) = duration_field(cx, s)
    {
        if d.is_zero() || d > Duration::from_secs(1) {
            cx.err(
                s.span().start,
                "`switch_interval` must be more than 0 and at most 1s (CPython's is 5ms)",
                None,
            );
        } else {
            m.switch_interval = d;
        }
    }
    m
}

/// `[services.<name>]`.
pub(super) fn services(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawService>>,
) -> BTreeMap<String, ServiceConfig> {
    let mut out = BTreeMap::new();
    for (i, (name, s)) in raw.iter().enumerate() {
        if i == MAX_RESOURCES {
            cx.err(
                s.span().start,
                format!("a scenario declares at most {MAX_RESOURCES} services"),
                None,
            );
            break;
        }
        if !is_ident(name) {
            cx.err(
                s.span().start,
                format!("service `{name}`: use letters, digits and `_` in its name"),
                None,
            );
            continue;
        }
        if let Some(cfg) = service(cx, name, s.get_ref()) {
            out.insert(name.clone(), cfg);
        }
    }
    out
}

fn service(cx: &mut Ctx<'_>, name: &str, r: &RawService) -> Option<ServiceConfig> {
    let latency = latency(cx, &format!("service `{name}`"), &r.latency)?;
    let mut cfg = ServiceConfig::new(latency);
    if let Some(c) = &r.capacity {
        match *c.get_ref() {
            n @ 1..=MAX_WORKERS => cfg = cfg.capacity(n as usize),
            n => cx.err(
                c.span().start,
                format!(
                    "service `{name}`: `capacity` must be between 1 and {MAX_WORKERS}, not {n}"
                ),
                None,
            ),
        }
    }
    if let Some(q) = &r.queue_limit {
        match usize::try_from(*q.get_ref()) {
            Ok(n) => cfg = cfg.queue_limit(n),
            Err(_) => cx.err(
                q.span().start,
                format!("service `{name}`: `queue_limit` must be 0 or more"),
                None,
            ),
        }
    }
    let kind = match &r.error {
        Some(e) if is_ident(e.get_ref()) => e.get_ref().clone(),
        Some(e) => {
            cx.err(
                e.span().start,
                format!(
                    "service `{name}`: `error` is an exception class name like \"ServiceError\""
                ),
                None,
            );
            "ServiceError".to_string()
        }
        None => "ServiceError".to_string(),
    };
    if let Some(e) = &r.error_rate {
        let p = *e.get_ref();
        if (0.0..=1.0).contains(&p) {
            cfg = cfg.error_rate(p, &kind);
        } else {
            cx.err(
                e.span().start,
                format!("service `{name}`: `error_rate` is a chance between 0 and 1, not {p}"),
                None,
            );
        }
    } else if r.error.is_some() {
        cfg.error_kind = kind;
    }
    if let Some(s) = &r.slowdown {
        let f = *s.get_ref();
        if f.is_finite() && (0.0..=100.0).contains(&f) {
            cfg = cfg.slowdown(f);
        } else {
            cx.err(
                s.span().start,
                format!("service `{name}`: `slowdown` is a fraction from 0 to 100 (0.1: +10% per other request in service), not {f}"),
                None,
            );
        }
    }
    if let Some(rl) = &r.rate_limit {
        let at = rl.span().start;
        let rl = rl.get_ref();
        let per_second = *rl.per_second.get_ref();
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1e9) {
            cx.err(
                rl.per_second.span().start,
                format!("service `{name}`: `per_second` must be more than 0 (and at most 1e9)"),
                None,
            );
        }
        let burst = match &rl.burst {
            Some(b) => match u32::try_from(*b.get_ref()) {
                Ok(n) if n >= 1 => n,
                _ => {
                    cx.err(
                        b.span().start,
                        format!("service `{name}`: `burst` must be 1 or more"),
                        None,
                    );
                    1
                }
            },
            None => (per_second.ceil() as u32).max(1),
        };
        let on_excess = match rl
            .on_excess
            .as_ref()
            .map(|o| (o.get_ref().as_str(), o.span().start))
        {
            None | Some(("reject", _)) => OnExcess::Reject,
            Some(("delay", _)) => OnExcess::Delay,
            Some((other, at)) => {
                cx.err(
                    at,
                    format!("service `{name}`: `on_excess` is \"reject\" (429) or \"delay\", not {other:?}"),
                    None,
                );
                OnExcess::Reject
            }
        };
        let _ = at;
        cfg = cfg.rate_limit(RateLimit {
            per_second,
            burst,
            on_excess,
        });
    }
    Some(cfg)
}

/// A `latency`: a fixed duration or a distribution of literals (`what`
/// names its owner in messages: ``service `api` ``).
fn latency(cx: &mut Ctx<'_>, what: &str, v: &Spanned<String>) -> Option<Latency> {
    let at = v.span().start;
    let bad = |cx: &mut Ctx<'_>, why: String| {
        cx.err(at, format!("{what}: {why}"), Some(LATENCY_HINT.to_string()));
        None
    };
    let e = match expr::parse(v.get_ref()) {
        Ok(e) => e,
        Err(e) => return bad(cx, format!("bad `latency`: {}", e.message)),
    };
    let dur = |e: &Expr| match e {
        Expr::Duration(d) if *d <= MAX_LATENCY => Some(*d),
        _ => None,
    };
    let l = match &e {
        Expr::Duration(_) => dur(&e).map(Latency::Fixed),
        Expr::Call(f, args) => match (f.as_str(), args.as_slice()) {
            ("uniform", [a, b]) => match (dur(a), dur(b)) {
                (Some(a), Some(b)) if a <= b => Some(Latency::Uniform(a, b)),
                (Some(_), Some(_)) => return bad(cx, "uniform(a, b) needs a <= b".into()),
                _ => None,
            },
            ("normal", [m, s]) => dur(m)
                .zip(dur(s))
                .map(|(mean, std)| Latency::Normal { mean, std }),
            ("exponential", [m]) => dur(m).map(|mean| Latency::Exponential { mean }),
            ("lognormal", [m, s]) => {
                let sigma = match s {
                    Expr::Float(f) => Some(*f),
                    Expr::Int(i) => Some(*i as f64),
                    _ => None,
                };
                match (dur(m), sigma) {
                    (Some(median), Some(sigma)) if (0.0..=10.0).contains(&sigma) => {
                        Some(Latency::LogNormal { median, sigma })
                    }
                    (Some(_), Some(_)) => {
                        return bad(cx, "lognormal's sigma is a number from 0 to 10".into());
                    }
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    };
    match l {
        Some(l) => Some(l),
        None => bad(
            cx,
            format!("`latency = {:?}` is not a service time", v.get_ref()),
        ),
    }
}

/// `[pools.<name>]`.
pub(super) fn pools(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawPool>>,
) -> BTreeMap<String, Pool> {
    let mut out = BTreeMap::new();
    for (i, (name, p)) in raw.iter().enumerate() {
        if i == MAX_RESOURCES {
            cx.err(
                p.span().start,
                format!("a scenario declares at most {MAX_RESOURCES} pools"),
                None,
            );
            break;
        }
        if !is_ident(name) {
            cx.err(
                p.span().start,
                format!("pool `{name}`: use letters, digits and `_` in its name"),
                None,
            );
            continue;
        }
        if let Some(pool) = pool(cx, name, p.get_ref()) {
            out.insert(name.clone(), pool);
        }
    }
    out
}

fn pool(cx: &mut Ctx<'_>, name: &str, r: &RawPool) -> Option<Pool> {
    let workers = match &r.workers {
        Some(w) => match *w.get_ref() {
            n @ 1..=MAX_WORKERS => n as usize,
            n => {
                cx.err(
                    w.span().start,
                    format!(
                        "pool `{name}`: `workers` must be between 1 and {MAX_WORKERS}, not {n}"
                    ),
                    None,
                );
                return None;
            }
        },
        None => 0,
    };
    let kind = r.kind.get_ref().as_str();
    let dur = |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>| {
        v.as_ref()
            .and_then(|v| duration_field(cx, v))
            .unwrap_or(Duration::ZERO)
    };
    match kind {
        "thread" => {
            for (key, v) in [("startup", &r.startup), ("transfer", &r.transfer)] {
                if let Some(v) = v {
                    cx.err(
                        v.span().start,
                        format!(
                            "pool `{name}`: a thread pool has no `{key}` (a process pool does)"
                        ),
                        None,
                    );
                }
            }
            Some(Pool::Threads { workers })
        }
        "process" => Some(Pool::Processes {
            workers,
            startup: dur(cx, &r.startup),
            transfer: dur(cx, &r.transfer),
        }),
        other => {
            cx.err(
                r.kind.span().start,
                format!("pool `{name}`: unknown kind {other:?}"),
                Some("`kind = \"thread\"` (ThreadPoolExecutor) or `kind = \"process\"` (ProcessPoolExecutor)".into()),
            );
            None
        }
    }
}

/// `[network]`: the default link and `[[network.links]]`.
pub(super) fn network(
    cx: &mut Ctx<'_>,
    raw: &Option<Spanned<RawNetwork>>,
) -> crate::scenario::model::Network {
    let mut net = crate::scenario::model::Network::default();
    let Some(raw) = raw else { return net };
    let r = raw.get_ref();
    net.default = link(cx, "the default link", &r.latency, &r.bandwidth, &r.loss);
    if r.links.len() > MAX_RESOURCES * 10 {
        cx.err(
            raw.span().start,
            format!("at most {} links", MAX_RESOURCES * 10),
            None,
        );
        return net;
    }
    for l in &r.links {
        let RawLink {
            between,
            latency,
            bandwidth,
            loss,
        } = l.get_ref();
        match between.get_ref().as_slice() {
            [a, b] if !a.is_empty() && !b.is_empty() && a != b => {
                let what = format!("the link between {a} and {b}");
                let cfg = link(cx, &what, latency, bandwidth, loss);
                net.links.push((a.clone(), b.clone(), cfg));
            }
            _ => cx.err(
                between.span().start,
                "`between` names two different hosts: `between = [\"c1\", \"server\"]`",
                None,
            ),
        }
    }
    net
}

fn link(
    cx: &mut Ctx<'_>,
    what: &str,
    lat: &Option<Spanned<String>>,
    bandwidth: &Option<Spanned<i64>>,
    loss: &Option<Spanned<f64>>,
) -> crate::net::LinkConfig {
    let mut cfg = crate::net::LinkConfig::default();
    if let Some(l) = lat
        && let Some(l) = latency(cx, what, l)
    {
        cfg.latency = l;
    }
    if let Some(b) = bandwidth {
        match u64::try_from(*b.get_ref()) {
            Ok(n) if n > 0 => cfg = cfg.bandwidth(n),
            _ => cx.err(
                b.span().start,
                format!("{what}: `bandwidth` is bytes per second, more than 0"),
                None,
            ),
        }
    }
    if let Some(l) = loss {
        let p = *l.get_ref();
        if (0.0..=0.99).contains(&p) {
            cfg = cfg.loss(p);
        } else {
            cx.err(
                l.span().start,
                format!("{what}: `loss` is a chance from 0 to 0.99, not {p}"),
                None,
            );
        }
    }
    cfg
}
