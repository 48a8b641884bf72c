//! Writing network steps back to step tables.

use super::ex;
use crate::scenario::model::NetStep;
use toml::Value;

fn hosts(h: &[String]) -> Value {
    Value::Array(h.iter().cloned().map(Value::String).collect())
}

/// The keys of a NetStep's table.
pub(super) fn step(k: &NetStep, mut set: impl FnMut(&str, Value)) {
    match k {
        NetStep::StartServer {
            handler,
            host,
            port,
        } => {
            set("start_server", Value::String(handler.clone()));
            set("host", Value::String(host.clone()));
            set("port", Value::Integer(i64::from(*port)));
        }
        NetStep::OpenConnection {
            host,
            port,
            from,
            into,
        } => {
            set("open_connection", Value::String(format!("{host}:{port}")));
            set("from", ex(from));
            if let Some(v) = into {
                set("into", Value::String(v.clone()));
            }
        }
        NetStep::Send { conn, value } => {
            set("send", ex(conn));
            set("value", ex(value));
        }
        NetStep::ReceiveLine { conn, into } => {
            set("receive_line", ex(conn));
            if let Some(v) = into {
                set("into", Value::String(v.clone()));
            }
        }
        NetStep::Close(c) => set("close", ex(c)),
        NetStep::Partition { a, b, hold } => {
            set("partition", hosts(a));
            set("from", hosts(b));
            if *hold {
                set("hold", Value::Boolean(true));
            }
        }
        NetStep::Heal => set("heal", Value::Boolean(true)),
        NetStep::Crash(h) => set("crash", Value::String(h.clone())),
        NetStep::Restart(h) => set("restart", Value::String(h.clone())),
    }
}
