//! Per-run state of the layers built on the engine — simulated services,
//! thread and process pools, the network — kept here so that the engine
//! never learns their types (madsim's plugins): each layer defines a type
//! that implements [`Extension`] and finds its state with
//! [`Core::ext`], created on first use. The state lives and dies with the
//! run; at teardown it is taken out of the core and dropped in registration
//! order with the simulation still installed, so that wakers and futures it
//! holds can reach the loop.

use super::Core;
use std::any::{Any, TypeId};

/// A layer's per-run state.
pub(crate) trait Extension: Any {
    /// The state as `Any`, for lookup by type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> Extension for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The extensions of one run, in registration order.
#[derive(Default)]
pub(crate) struct Extensions {
    entries: Vec<(TypeId, Box<dyn Extension>)>,
}

impl Extensions {
    fn get_or_insert<T: Any + Default>(&mut self) -> &mut T {
        let id = TypeId::of::<T>();
        let i = match self.entries.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                self.entries.push((id, Box::new(T::default())));
                self.entries.len() - 1
            }
        };
        // Through the box to the state: `Box<dyn Extension>` is itself `Any`.
        let state: &mut dyn Extension = &mut *self.entries[i].1;
        state
            .as_any_mut()
            .downcast_mut::<T>()
            .expect("an extension is stored under its own type")
    }

    /// Takes every extension out, in registration order (for teardown).
    pub fn take_all(&mut self) -> Vec<Box<dyn Extension>> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }
}

impl Core {
    /// The run's state of type `T`, created (`T::default()`) on first use.
    pub fn ext<T: Any + Default>(&mut self) -> &mut T {
        self.ext.get_or_insert::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(u32);
    #[derive(Default)]
    struct Names(Vec<&'static str>);

    #[test]
    fn each_type_gets_its_own_state_created_on_first_use() {
        let mut e = Extensions::default();
        e.get_or_insert::<Counter>().0 += 2;
        e.get_or_insert::<Names>().0.push("a");
        e.get_or_insert::<Counter>().0 += 1;
        assert_eq!(e.get_or_insert::<Counter>().0, 3);
        assert_eq!(e.get_or_insert::<Names>().0, vec!["a"]);
        assert_eq!(e.take_all().len(), 2, "two types registered");
    }
}
