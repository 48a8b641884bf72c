//! Writing simulated I/O steps back to step tables.

use super::{dur, ex};
use crate::io::{Machine, OnExcess, ServiceConfig};
use crate::scenario::model::{IoStep, Pool, Scenario};
use toml::{Table, Value};

/// `cpus`, `gil`, `switch_interval`, `[services]` and `[pools]`, where they
/// differ from the defaults.
pub(super) fn declarations(s: &Scenario, put: &mut impl FnMut(&str, Value)) {
    let (m, d) = (&s.settings.machine, Machine::default());
    if m.cpus != d.cpus {
        put("cpus", Value::Integer(m.cpus as i64));
    }
    if m.gil != d.gil {
        put("gil", Value::Boolean(m.gil));
    }
    if m.switch_interval != d.switch_interval {
        put("switch_interval", Value::String(dur(m.switch_interval)));
    }
    let default_slow = crate::scenario::model::Settings::default().slow_callback_duration;
    if s.settings.slow_callback_duration != default_slow {
        put(
            "slow_callback_duration",
            Value::String(dur(s.settings.slow_callback_duration)),
        );
    }
    let mut services = Table::new();
    for (name, c) in &s.services {
        services.insert(name.clone(), Value::Table(service(c)));
    }
    if !services.is_empty() {
        put("services", Value::Table(services));
    }
    let net = &s.network;
    if *net != crate::scenario::model::Network::default() {
        let link = |t: &mut Table, cfg: &crate::net::LinkConfig| {
            t.insert("latency".into(), Value::String(cfg.latency.to_string()));
            if let Some(b) = cfg.bandwidth {
                t.insert(
                    "bandwidth".into(),
                    Value::Integer(b.min(i64::MAX as u64) as i64),
                );
            }
            if cfg.loss > 0.0 {
                t.insert("loss".into(), Value::Float(cfg.loss));
            }
        };
        let mut t = Table::new();
        link(&mut t, &net.default);
        let links: Vec<Value> = net
            .links
            .iter()
            .map(|(a, b, cfg)| {
                let mut l = Table::new();
                l.insert(
                    "between".into(),
                    Value::Array(vec![Value::String(a.clone()), Value::String(b.clone())]),
                );
                link(&mut l, cfg);
                Value::Table(l)
            })
            .collect();
        if !links.is_empty() {
            t.insert("links".into(), Value::Array(links));
        }
        put("network", Value::Table(t));
    }
    let mut pools = Table::new();
    for (name, p) in &s.pools {
        let mut t = Table::new();
        let workers = match *p {
            Pool::Threads { workers } => {
                t.insert("kind".into(), Value::String("thread".into()));
                workers
            }
            Pool::Processes {
                workers,
                startup,
                transfer,
            } => {
                t.insert("kind".into(), Value::String("process".into()));
                if !startup.is_zero() {
                    t.insert("startup".into(), Value::String(dur(startup)));
                }
                if !transfer.is_zero() {
                    t.insert("transfer".into(), Value::String(dur(transfer)));
                }
                workers
            }
        };
        if workers > 0 {
            t.insert("workers".into(), Value::Integer(workers as i64));
        }
        pools.insert(name.clone(), Value::Table(t));
    }
    if !pools.is_empty() {
        put("pools", Value::Table(pools));
    }
}

fn service(c: &ServiceConfig) -> Table {
    let d = ServiceConfig::new(c.latency);
    let mut t = Table::new();
    t.insert("latency".into(), Value::String(c.latency.to_string()));
    if c.capacity != d.capacity {
        t.insert("capacity".into(), Value::Integer(c.capacity as i64));
    }
    if let Some(q) = c.queue_limit {
        t.insert("queue_limit".into(), Value::Integer(q as i64));
    }
    if c.error_rate != d.error_rate {
        t.insert("error_rate".into(), Value::Float(c.error_rate));
    }
    if c.error_kind != d.error_kind {
        t.insert("error".into(), Value::String(c.error_kind.clone()));
    }
    if c.slowdown != d.slowdown {
        t.insert("slowdown".into(), Value::Float(c.slowdown));
    }
    if let Some(rl) = c.rate_limit {
        let mut r = Table::new();
        r.insert("per_second".into(), Value::Float(rl.per_second));
        r.insert("burst".into(), Value::Integer(i64::from(rl.burst)));
        let on = match rl.on_excess {
            OnExcess::Reject => "reject",
            OnExcess::Delay => "delay",
        };
        r.insert("on_excess".into(), Value::String(on.into()));
        t.insert("rate_limit".into(), Value::Table(r));
    }
    t
}

/// The keys of an IoStep's table.
pub(super) fn step(k: &IoStep, mut set: impl FnMut(&str, Value)) {
    let work = |cpu: bool| Value::String(if cpu { "cpu" } else { "io" }.to_string());
    match k {
        IoStep::Call { service } => set("call", Value::String(service.clone())),
        IoStep::ToThread { duration, cpu } => {
            set("to_thread", ex(duration));
            if *cpu {
                set("work", work(true));
            }
        }
        IoStep::RunInExecutor {
            pool,
            duration,
            cpu,
        } => {
            set("run_in_executor", Value::String(pool.clone()));
            set("duration", ex(duration));
            if *cpu {
                set("work", work(true));
            }
        }
    }
}
