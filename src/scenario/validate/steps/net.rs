//! The network: servers, connections, lines, faults.

use super::StepTable;
use crate::scenario::model::{NetStep, StepKind};
use crate::scenario::validate::fields::{bool_field, string, strings, value_expr, var_def};
use crate::scenario::validate::names::{Names, Scope};
use crate::scenario::validate::raw::RValue;
use crate::scenario::validate::{Ctx, did_you_mean};

/// `host:port`, a port from 0 to 65535.
fn address(cx: &mut Ctx<'_>, v: &toml::Spanned<RValue>) -> Option<(String, u16)> {
    let text = string(cx, v, "an address like \"server:8888\"")?;
    let parsed = text
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .filter(|(h, _)| !h.is_empty());
    if parsed.is_none() {
        cx.err(
            v.span().start,
            format!("`{text}` is not an address: write \"host:port\", a port from 0 to 65535"),
            None,
        );
    }
    parsed
}

fn host(cx: &mut Ctx<'_>, v: &toml::Spanned<RValue>) -> Option<String> {
    let h = string(cx, v, "a host name")?;
    if h.is_empty() {
        cx.err(v.span().start, "a host name cannot be empty", None);
        return None;
    }
    Some(h)
}

/// Reads a step table whose verb is of this family into a [`NetStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "start_server" => {
            let handler = string(cx, v, "a coroutine name")?;
            match names.params.get(&handler) {
                Some(1) if names.coroutines.contains(&handler) => {}
                Some(n) if names.coroutines.contains(&handler) => {
                    cx.err(
                        v.span().start,
                        format!("`{handler}` takes {n} parameters: a server's handler takes one, the connection"),
                        None,
                    );
                    return None;
                }
                _ => {
                    cx.err(
                        v.span().start,
                        format!("unknown coroutine `{handler}`"),
                        did_you_mean(&handler, names.coroutines.iter().map(String::as_str)),
                    );
                    return None;
                }
            }
            let (Some(h), Some(p)) = (get("host"), get("port")) else {
                cx.err(
                    at,
                    "`start_server` needs `host = \"server\"` and `port = 8888`",
                    None,
                );
                return None;
            };
            let host = host(cx, h)?;
            let port = match p.get_ref() {
                RValue::Int(i) if (0..=65535).contains(i) => *i as u16,
                _ => {
                    cx.err(p.span().start, "`port` is a number from 0 to 65535", None);
                    return None;
                }
            };
            NetStep::StartServer {
                handler,
                host,
                port,
            }
        }
        "open_connection" => {
            let (host, port) = address(cx, v)?;
            let Some(f) = get("from") else {
                cx.err(
                    at,
                    "`open_connection` needs `from`: the connecting host (\"client\", or an expression like \"f'c{i}'\")",
                    None,
                );
                return None;
            };
            NetStep::OpenConnection {
                host,
                port,
                from: value_expr(cx, names, scope, f)?,
                into: var_def(cx, scope, get("into")),
            }
        }
        "send" => {
            let Some(value) = get("value") else {
                cx.err(at, "`send` needs `value`: what is written", None);
                return None;
            };
            NetStep::Send {
                conn: value_expr(cx, names, scope, v)?,
                value: value_expr(cx, names, scope, value)?,
            }
        }
        "receive_line" => NetStep::ReceiveLine {
            conn: value_expr(cx, names, scope, v)?,
            into: var_def(cx, scope, get("into")),
        },
        "close" => NetStep::Close(value_expr(cx, names, scope, v)?),
        "partition" => {
            let Some(other) = get("from") else {
                cx.err(
                    at,
                    "`partition` needs `from`: `{ partition = [\"c3\"], from = [\"server\"] }`",
                    None,
                );
                return None;
            };
            NetStep::Partition {
                a: strings(cx, v, "host names", true)?,
                b: strings(cx, other, "host names", true)?,
                hold: bool_field(cx, get("hold")),
            }
        }
        "heal" => {
            if !matches!(v.get_ref(), RValue::Bool(true)) {
                cx.err(v.span().start, "write `heal = true`", None);
                return None;
            }
            NetStep::Heal
        }
        "crash" => NetStep::Crash(host(cx, v)?),
        "restart" => NetStep::Restart(host(cx, v)?),
        _ => unreachable!("the verb table puts `{verb}` in the network family"),
    };
    Some(StepKind::Net(step))
}

/// A callback cannot await; of the network's steps only the faults and
/// `send`/`close` (which do not wait) are plain.
pub(super) fn is_plain(s: &NetStep) -> bool {
    matches!(
        s,
        NetStep::Send { .. }
            | NetStep::Close(_)
            | NetStep::Partition { .. }
            | NetStep::Heal
            | NetStep::Crash(_)
            | NetStep::Restart(_)
    )
}
