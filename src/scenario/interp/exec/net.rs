//! The network: servers, connections and faults, through the public API
//! (`loopsim::net`).

use crate::error::Error;
use crate::scenario::interp::type_error;
use crate::scenario::interp::vm::{Then, Vm};
use crate::scenario::model::NetStep;
use crate::scenario::value::{ConnCell, Value};
use crate::task::Builder;
use futures::FutureExt;
use futures::io::{AsyncBufReadExt, AsyncWriteExt};
use std::io;
use std::rc::Rc;

/// A socket error as the Python exception asyncio raises.
fn os_error(e: &io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::ConnectionRefused => "ConnectionRefusedError",
        io::ErrorKind::ConnectionReset => "ConnectionResetError",
        io::ErrorKind::ConnectionAborted => "ConnectionAbortedError",
        io::ErrorKind::BrokenPipe => "BrokenPipeError",
        io::ErrorKind::AddrInUse => "OSError",
        _ => "OSError",
    };
    Error::raised(kind, e.to_string())
}

impl Vm {
    fn conn(&self, e: &crate::scenario::expr::Expr) -> Result<Rc<ConnCell>, Error> {
        match self.eval(e)? {
            Value::Conn(c) => Ok(c),
            other => Err(type_error(format!(
                "expected a connection, got {}",
                other.type_name()
            ))),
        }
    }

    /// Executes a network step.
    pub(super) fn exec_net(&mut self, step: &NetStep) -> Result<(), Error> {
        let net = self.prog.net.clone();
        match step {
            NetStep::StartServer {
                handler,
                host,
                port,
            } => {
                let listener = net.bind(host, *port).map_err(|e| os_error(&e))?;
                let prog = self.prog.clone();
                let co = self.prog.scenario.coroutines[handler].clone();
                let (host, port) = (host.clone(), *port);
                // The server's accept loop: a task that asyncio's server
                // object stands for; each connection gets a task of its own.
                Builder::new()
                    .name(format!("server {host}:{port}"))
                    .label(format!("start_server({}, '{host}', {port})", co.name))
                    .spawn(async move {
                        while let Ok((stream, peer)) = listener.accept().await {
                            let name = format!("{peer} -> {host}:{port} #{}", stream.id());
                            let conn = Value::Conn(Rc::new(ConnCell::new(name, stream)));
                            let label = format!("{}(<Connection from {peer}>)", co.name);
                            let vm = Vm::for_call(prog.clone(), &co, vec![conn]);
                            drop(Builder::new().label(label).spawn_fallible(vm));
                            if crate::limit_hit().is_some() {
                                break;
                            }
                        }
                    });
            }
            NetStep::OpenConnection {
                host,
                port,
                from,
                into,
            } => {
                let from = match self.eval(from)? {
                    Value::Str(s) => s.to_string(),
                    other => {
                        return Err(type_error(format!(
                            "`from` is a host name (a str), got {}",
                            other.type_name()
                        )));
                    }
                };
                let (host, port) = (host.clone(), *port);
                let then = Then::Assign(into.clone());
                self.start_val(
                    async move {
                        let stream = net
                            .connect(&from, &host, port)
                            .await
                            .map_err(|e| os_error(&e))?;
                        let name = format!("{from} -> {host}:{port} #{}", stream.id());
                        Ok(Value::Conn(Rc::new(ConnCell::new(name, stream))))
                    },
                    then,
                );
            }
            NetStep::Send { conn, value } => {
                let c = self.conn(conn)?;
                let text = self.eval(value)?.to_str();
                let w = c.writer.borrow_mut().take();
                let Some(mut w) = w else {
                    return Err(Error::raised(
                        "RuntimeError",
                        format!("another task is draining {}", c.name),
                    ));
                };
                // `write` then `await drain()`: it waits only when the link
                // is behind by more than the high-water mark.
                self.start_val(
                    async move {
                        let r = w.write_all(text.as_bytes()).await;
                        *c.writer.borrow_mut() = Some(w);
                        r.map_err(|e| os_error(&e))?;
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
            NetStep::ReceiveLine { conn, into } => {
                let c = self.conn(conn)?;
                let Some(mut reader) = c.reader.borrow_mut().take() else {
                    return Err(Error::raised(
                        "RuntimeError",
                        format!(
                            "readline() called while another coroutine is already waiting for incoming data on {}",
                            c.name
                        ),
                    ));
                };
                let then = Then::Assign(into.clone());
                self.start_val(
                    async move {
                        let mut line = String::new();
                        let r = reader.read_line(&mut line).await;
                        *c.reader.borrow_mut() = Some(reader);
                        match r {
                            Ok(0) => Ok(Value::None),
                            Ok(_) => {
                                if line.ends_with('\n') {
                                    line.pop();
                                }
                                Ok(Value::Str(line.into()))
                            }
                            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(Error::raised(
                                "UnicodeDecodeError",
                                "a line that is not UTF-8",
                            )),
                            Err(e) => Err(os_error(&e)),
                        }
                    },
                    then,
                );
            }
            NetStep::Close(conn) => {
                let c = self.conn(conn)?;
                let mut w = c.writer.borrow_mut();
                if let Some(w) = w.as_mut()
                    && let Some(Err(e)) = w.close().now_or_never()
                {
                    return Err(os_error(&e));
                }
            }
            NetStep::Partition { a, b, hold } => {
                let (a, b): (Vec<&str>, Vec<&str>) = (
                    a.iter().map(String::as_str).collect(),
                    b.iter().map(String::as_str).collect(),
                );
                if *hold {
                    net.partition_holding(&a, &b);
                } else {
                    net.partition(&a, &b);
                }
            }
            NetStep::Heal => net.heal(),
            NetStep::Crash(h) => net.crash(h),
            NetStep::Restart(h) => net.restart(h),
        }
        Ok(())
    }
}
